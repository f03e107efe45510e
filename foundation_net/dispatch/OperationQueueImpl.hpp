// OperationQueue's shared state, also drained by RunLoop for the main queue.
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>

#include <foundation_net/OperationQueue.hpp>

namespace foundation {

// Held by the queue object and by every pool job draining it, so closures still queued when the
// OperationQueue goes away run to completion.
struct OperationQueue::Impl {
  Impl(bool isMain, std::string label);

  // The main queue's state, which RunLoop::main() drains.
  static Impl& mainQueue();

  // Runs the first pending closure with the mutex released; the caller holds `lock` on mutex
  // and has checked that a closure may start.
  void runNext(std::unique_lock<std::mutex>& lock);

  const bool isMain;
  const std::string label;  // names the queue in diagnostics

  std::mutex mutex;
  // Notified when the queue empties, and for the main queue when a closure arrives, the queue
  // is resumed, or the run loop is told to stop.
  std::condition_variable stateChanged;
  OperationQueue* owner = nullptr;  // cleared when the OperationQueue object is destroyed
  std::deque<std::function<void()>> pending;
  int running = 0;   // closures executing now
  int drainers = 0;  // pool jobs working through `pending` (never used for the main queue)
  int width;         // maxConcurrentOperationCount
  bool suspended = false;

  // Main queue only: nesting depth of RunLoop::run/runUntil, and a stop() not yet acted on.
  int runLoopDepth = 0;
  bool stopRequested = false;
};

}  // namespace foundation

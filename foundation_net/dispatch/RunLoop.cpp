#include <foundation_net/RunLoop.hpp>

#include <optional>

#include "dispatch/OperationQueueImpl.hpp"

namespace foundation {

namespace {

// Runs the main queue's closures on this thread until stop() or, when given, until the limit
// passes; true when stop() ended it. Each pass runs only the closures queued when it began, so
// closures that keep queueing more cannot hold the loop past its limit.
bool runMainQueue(std::optional<Date> limit) {
  auto& queue = OperationQueue::Impl::mainQueue();
  std::unique_lock lock(queue.mutex);
  ++queue.runLoopDepth;
  bool stopped = false;
  for (;;) {
    bool ranAny = false;
    for (std::size_t batch = queue.pending.size();
         batch > 0 && !queue.stopRequested && !queue.suspended && !queue.pending.empty(); --batch) {
      queue.runNext(lock);
      ranAny = true;
    }
    if (queue.stopRequested) {
      queue.stopRequested = false;
      stopped = true;
      break;
    }
    if (limit && Date::clock::now() >= *limit) break;
    if (ranAny) continue;
    if (limit) {
      queue.stateChanged.wait_until(lock, *limit);
    } else {
      queue.stateChanged.wait(lock);
    }
  }
  --queue.runLoopDepth;
  return stopped;
}

}  // namespace

RunLoop& RunLoop::main() {
  static RunLoop loop;
  return loop;
}

void RunLoop::run() { runMainQueue(std::nullopt); }

bool RunLoop::runUntil(Date limit) { return runMainQueue(limit); }

void RunLoop::stop() {
  auto& queue = OperationQueue::Impl::mainQueue();
  const std::lock_guard lock(queue.mutex);
  if (queue.runLoopDepth == 0) return;  // as CFRunLoopStop: no running loop, nothing to stop
  queue.stopRequested = true;
  queue.stateChanged.notify_all();
}

}  // namespace foundation

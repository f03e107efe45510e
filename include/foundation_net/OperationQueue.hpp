// OperationQueue: runs closures, at most maxConcurrentOperationCount at a time, in FIFO order.
// A queue of width 1 (the default for a session's delegate queue) runs one closure after the
// other, never two at once. Worker threads come from a process-wide pool that grows when
// every worker is busy, so a closure that blocks never starves another queue.
#pragma once
#include <functional>
#include <memory>

namespace foundation {

class OperationQueue : public std::enable_shared_from_this<OperationQueue> {
 public:
  static constexpr int defaultMaxConcurrentOperationCount = -1;  // as wide as the pool allows

  OperationQueue();
  ~OperationQueue();
  OperationQueue(const OperationQueue&) = delete;
  OperationQueue& operator=(const OperationQueue&) = delete;

  // The queue drained by RunLoop::main(): closures run on the thread that runs the main run loop.
  static std::shared_ptr<OperationQueue> main();
  // The queue whose closure is running on this thread, if any.
  static std::shared_ptr<OperationQueue> current();

  void addOperation(std::function<void()> operation);
  int maxConcurrentOperationCount() const;
  void setMaxConcurrentOperationCount(int count);
  bool isSuspended() const;
  void setSuspended(bool suspended);
  int operationCount() const;  // queued plus running
  // Blocks until nothing is queued or running. On the main queue this must be called from a
  // thread other than the one running the main run loop.
  void waitUntilAllOperationsAreFinished();

  struct Impl;

 private:
  explicit OperationQueue(bool isMain);
  std::shared_ptr<Impl> impl_;
};

}  // namespace foundation

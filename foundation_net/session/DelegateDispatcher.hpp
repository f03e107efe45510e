// Runs a session's delegate calls one at a time, in the order they were enqueued, on the
// session's delegate queue — whatever that queue's width. Never runs anything inline.
// Messages enqueued on the loop thread are handed to the queue at the end of the loop
// iteration that produced them, as one batch — unless one asks to go now: a long body's full
// didReceiveData batch, whose loop iteration (curl reading while the socket has data) may last
// megabytes, during which the delegate queue would otherwise sit idle.
#pragma once
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include <foundation_net/OperationQueue.hpp>

namespace foundation::detail {

class DelegateDispatcher : public std::enable_shared_from_this<DelegateDispatcher> {
 public:
  explicit DelegateDispatcher(std::shared_ptr<OperationQueue> queue) : queue_(std::move(queue)) {}
  // On the loop thread the call waits for the end of the loop iteration (with the others the
  // iteration produces) unless `handOverNow`; from other threads it is handed over at once.
  void enqueue(std::function<void()> call, bool handOverNow = false);
  const std::shared_ptr<OperationQueue>& queue() const { return queue_; }

 private:
  // Adds one operation that drains the calls; the caller has set state_ to queued.
  void schedule();
  // Loop thread, at the end of the iteration: hands the calls over unless that happened already.
  void scheduleDeferred();
  void drain();
  std::shared_ptr<OperationQueue> queue_;
  std::mutex mutex_;
  std::deque<std::function<void()>> calls_;
  enum class State { idle, deferred, queued } state_ = State::idle;  // deferred: awaits the iteration's end
};

// FOUNDATION_NET_TRACE=1: prints each delegate call as its Swift selector and task to stderr.
bool tracing();
void trace(const char* selector, std::uint64_t taskIdentifier);
void trace(const char* selector);

}  // namespace foundation::detail

#include "session/DelegateDispatcher.hpp"

#include <fmt/format.h>

#include "engine/Loop.hpp"
#include "platform/Process.hpp"

namespace foundation::detail {

void DelegateDispatcher::enqueue(std::function<void()> call, bool handOverNow) {
  auto& loop = engine::Loop::shared();
  // Handed over once the loop has finished what woke it: the messages this loop iteration
  // produces (for every task of the session) cost one operation and one worker wake-up.
  const bool wait = !handOverNow && loop.isLoopThread();
  {
    std::lock_guard lock(mutex_);
    calls_.push_back(std::move(call));
    if (state_ == State::queued || (state_ == State::deferred && wait)) return;
    state_ = wait ? State::deferred : State::queued;
  }
  if (wait) {
    loop.post([self = shared_from_this()] { self->scheduleDeferred(); });
  } else {
    schedule();
  }
}

void DelegateDispatcher::scheduleDeferred() {
  {
    std::lock_guard lock(mutex_);
    if (state_ != State::deferred) return;  // a call that could not wait handed them over
    state_ = State::queued;
  }
  schedule();
}

void DelegateDispatcher::schedule() {
  queue_->addOperation([self = shared_from_this()] { self->drain(); });
}

void DelegateDispatcher::drain() {
  // A bounded batch per operation, so a busy session does not monopolise a shared queue
  // (such as the main queue) and other work interleaves.
  for (int i = 0; i < 64; ++i) {
    std::function<void()> call;
    {
      std::lock_guard lock(mutex_);
      if (calls_.empty()) {
        state_ = State::idle;
        return;
      }
      call = std::move(calls_.front());
      calls_.pop_front();
    }
    call();
  }
  schedule();
}

bool tracing() {
  static const bool enabled = [] {
    auto value = platform::environment("FOUNDATION_NET_TRACE");
    return value && !value->empty() && *value != "0";
  }();
  return enabled;
}

void trace(const char* selector, std::uint64_t taskIdentifier) {
  if (tracing()) fmt::print(stderr, "[foundation_net] {} task {}\n", selector, taskIdentifier);
}

void trace(const char* selector) {
  if (tracing()) fmt::print(stderr, "[foundation_net] {}\n", selector);
}

}  // namespace foundation::detail

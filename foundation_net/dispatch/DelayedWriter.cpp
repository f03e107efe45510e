#include "dispatch/DelayedWriter.hpp"

#include <utility>

namespace foundation::detail {

void DelayedWriter::request() {
  std::lock_guard lock(mutex_);
  if (stopping_ || requested_) return;
  requested_ = true;
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  wake_.notify_one();
}

void DelayedWriter::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

// The thread: waits for a request, lets the delay pass (cut short by stop), writes; ends once
// stopping with nothing asked for.
void DelayedWriter::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || requested_; });
    if (!stopping_) wake_.wait_for(lock, delay_, [&] { return stopping_; });
    const bool due = std::exchange(requested_, false);
    lock.unlock();
    if (due) write_();
    lock.lock();
    if (stopping_ && !requested_) return;
  }
}

}  // namespace foundation::detail

// Work in progress that process exit (std::exit, a return from main) waits for, a bounded time.
// Each kind of work is one never-destroyed ExitWait, made when the first such work begins; it
// registers an atexit handler then, so its wait runs before the destructors of what the app made
// earlier (which the work may still use).
#pragma once
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace foundation::detail {

class ExitWait {
 public:
  // At exit, waits up to `limit` until every begin() was matched by an end(), unless
  // `skipWait` (called on the exiting thread) says not to.
  explicit ExitWait(std::chrono::milliseconds limit, bool (*skipWait)() = nullptr);
  ExitWait(const ExitWait&) = delete;
  ExitWait& operator=(const ExitWait&) = delete;

  void begin();
  void end();

 private:
  friend void waitForLatestAtExit();
  void waitAtExit();
  const std::chrono::milliseconds limit_;
  bool (*const skipWait_)();
  std::mutex mutex_;
  std::condition_variable settled_;
  int pending_ = 0;
};

}  // namespace foundation::detail

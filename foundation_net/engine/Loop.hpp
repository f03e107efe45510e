// The network thread: one libuv loop per process that owns every libcurl call.
// Other threads hand it work with post(); nothing posted ever runs on the caller's thread.
#pragma once
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <uv.h>

namespace foundation::engine {

class Loop {
 public:
  // The process-wide loop; its thread starts on first use and lives until the process exits.
  static Loop& shared();

  // Runs `work` on the loop thread, after everything posted before it.
  void post(std::function<void()> work);
  bool isLoopThread() const { return std::this_thread::get_id() == threadId_; }
  uv_loop_t* uv() { return &loop_; }

 private:
  Loop();
  static void onAsync(uv_async_t* handle);
  static void onIdle(uv_idle_t* handle);
  // Runs everything posted, including work posted meanwhile, until the queue is empty.
  void runPending();
  void run();

  uv_loop_t loop_{};
  uv_async_t wakeup_{};   // posts from other threads
  uv_idle_t drainSoon_{};  // posts from the loop thread itself
  std::mutex mutex_;
  std::vector<std::function<void()>> pending_;
  std::thread::id threadId_;
};

// A one-shot timer on the loop thread. Every member must be called on the loop thread;
// destroying the Timer stops it (the uv handle is freed after libuv closes it).
class Timer {
 public:
  explicit Timer(Loop& loop);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // (Re)arms the timer to call `fire` once after `milliseconds`.
  void start(std::uint64_t milliseconds, std::function<void()> fire);
  void stop();
  bool isActive() const;

 private:
  struct Handle;
  Handle* handle_;
};

}  // namespace foundation::engine

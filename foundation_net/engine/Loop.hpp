// The network thread: one libuv loop per process that owns every libcurl call.
// Other threads hand it work with post(); nothing posted ever runs on the caller's thread.
#pragma once
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <uv.h>

namespace foundation::engine {

class Timer;

class Loop {
 public:
  // The process-wide loop; its thread starts on first use and lives until the process exits.
  static Loop& shared();

  // Runs `work` on the loop thread, after everything posted before it.
  void post(std::function<void()> work);
  bool isLoopThread() const { return std::this_thread::get_id() == threadId_; }
  uv_loop_t* uv() { return &loop_; }

 private:
  friend class Timer;
  Loop();
  // Process exit: the loop thread stops touching libuv before libuv's exit-time teardown.
  void parkAtExit();
  static void onAsync(uv_async_t* handle);
  static void onIdle(uv_idle_t* handle);
  static void onTimers(uv_timer_t* handle);
  // Runs everything posted, including work posted meanwhile, until the queue is empty.
  void runPending();
  void run();
  // The timer heap (loop thread only): every armed Timer, the earliest due first, and one
  // uv_timer set for the earliest.
  // Adds an armed timer to the heap.
  void schedule(Timer* timer);
  // Restores the heap order after an armed timer's due time changed.
  void reschedule(Timer* timer);
  // Takes an armed timer out of the heap.
  void unschedule(Timer* timer);
  // The heap's order: the earlier due time first, then the earlier start.
  bool firesBefore(const Timer* a, const Timer* b) const;
  // Move the entry at `index` towards the root / the leaves until the heap is in order.
  void siftUp(std::size_t index);
  void siftDown(std::size_t index);
  // Puts `timer` at `index` and tells it where it is.
  void place(std::size_t index, Timer* timer);
  // Sets the uv_timer for the earliest due time (or stops it), unless it is set for it already.
  void armHeapTimer();

  uv_loop_t loop_{};
  uv_async_t wakeup_{};   // posts from other threads
  uv_idle_t drainSoon_{};  // posts from the loop thread itself
  uv_timer_t heapTimer_{};  // due when timers_.front() is
  std::mutex mutex_;
  std::vector<std::function<void()>> pending_;
  std::thread::id threadId_;
  std::vector<Timer*> timers_;
  std::uint64_t timerSequence_ = 0;
  bool firingTimers_ = false;
  bool heapTimerArmed_ = false;
  std::uint64_t armedDue_ = 0;
};

// A one-shot timer on the loop thread. Every member must be called on the loop thread, and
// destroying an armed Timer stops it. Timers are entries of the loop's one timer heap, not
// libuv handles of their own: arming one allocates nothing and needs no handle to be closed.
// As with uv_timer_start, a timer is due `milliseconds` after the loop's cached time, and
// timers due at the same time fire in the order they were started.
class Timer {
 public:
  explicit Timer(Loop& loop) : loop_(&loop) {}
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // (Re)arms the timer to call `fire` once after `milliseconds`.
  void start(std::uint64_t milliseconds, std::function<void()> fire);
  void stop();
  bool isActive() const { return heapIndex_ != notScheduled; }

 private:
  friend class Loop;
  static constexpr std::size_t notScheduled = static_cast<std::size_t>(-1);
  Loop* loop_;
  std::uint64_t due_ = 0;       // in the loop's time (uv_now)
  std::uint64_t sequence_ = 0;  // start order, for timers due at the same time
  std::size_t heapIndex_ = notScheduled;
  std::function<void()> fire_;
};

}  // namespace foundation::engine

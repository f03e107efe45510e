#include "engine/Loop.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <condition_variable>
#include <future>

#include <curl/curl.h>

namespace foundation::engine {

Loop& Loop::shared() {
  // Leaked on purpose: the loop thread serves until the process exits, and tearing it down
  // during static destruction would race with threads still posting work.
  static Loop* loop = [] {
    auto* made = new Loop();
    std::atexit([] { shared().parkAtExit(); });
    return made;
  }();
  return *loop;
}

void Loop::parkAtExit() {
  // libuv's own exit-time destructor (uv_library_shutdown) closes the pipe its signal handling
  // locks with; a loop thread still running then (a child process ending, say) aborts in
  // uv_signal_stop. So the loop thread stops at the end of the work already posted and waits
  // there until the process is gone. Exit-time waits registered after the loop was made (for
  // work the loop does) run before this. Not when the loop thread itself is exiting.
  if (isLoopThread()) return;
  struct Parking {
    std::mutex mutex;
    std::condition_variable changed;
    bool parked = false;
  };
  static auto* const parking = new Parking();  // the parked thread never lets go of it
  post([] {
    std::unique_lock lock(parking->mutex);
    parking->parked = true;
    parking->changed.notify_all();
    parking->changed.wait(lock, [] { return false; });
  });
  std::unique_lock lock(parking->mutex);
  parking->changed.wait_for(lock, std::chrono::seconds(2), [] { return parking->parked; });
}

Loop::Loop() {
  // libcurl must be initialised once before any other thread uses it, and a peer closing a
  // socket must not kill the process (Debian's libcurl 7.88 still needs SIGPIPE ignored).
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::signal(SIGPIPE, SIG_IGN);
  if (uv_loop_init(&loop_) != 0 || uv_async_init(&loop_, &wakeup_, &Loop::onAsync) != 0 ||
      uv_idle_init(&loop_, &drainSoon_) != 0 || uv_timer_init(&loop_, &heapTimer_) != 0) {
    std::fputs("foundation_net: cannot initialise the libuv loop\n", stderr);
    std::abort();
  }
  wakeup_.data = this;
  drainSoon_.data = this;
  heapTimer_.data = this;
  std::promise<std::thread::id> started;
  auto id = started.get_future();
  std::thread([this, &started] {
    started.set_value(std::this_thread::get_id());
    run();
  }).detach();
  threadId_ = id.get();
}

void Loop::post(std::function<void()> work) {
  bool wasEmpty;
  {
    std::lock_guard lock(mutex_);
    wasEmpty = pending_.empty();
    pending_.push_back(std::move(work));
  }
  if (isLoopThread()) {
    // From the loop itself no wake-up is needed, only a loop iteration that does not block:
    // the idle handle runs the queue next time round, without an eventfd write and read.
    uv_idle_start(&drainSoon_, &Loop::onIdle);
    return;
  }
  // One wake-up per batch: uv_async_send coalesces, and skipping it when work is already
  // pending saves a syscall per post under load.
  if (wasEmpty) uv_async_send(&wakeup_);
}

void Loop::onAsync(uv_async_t* handle) { static_cast<Loop*>(handle->data)->runPending(); }

void Loop::onIdle(uv_idle_t* handle) { static_cast<Loop*>(handle->data)->runPending(); }

void Loop::runPending() {
  std::vector<std::function<void()>> batch;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (pending_.empty()) {
        uv_idle_stop(&drainSoon_);
        return;
      }
      batch.swap(pending_);
    }
    for (auto& work : batch) work();
    batch.clear();
  }
}

void Loop::run() { uv_run(&loop_, UV_RUN_DEFAULT); }

// ---- The timer heap -------------------------------------------------------------------

bool Loop::firesBefore(const Timer* a, const Timer* b) const {
  return a->due_ != b->due_ ? a->due_ < b->due_ : a->sequence_ < b->sequence_;
}

void Loop::place(std::size_t index, Timer* timer) {
  timers_[index] = timer;
  timer->heapIndex_ = index;
}

void Loop::siftUp(std::size_t index) {
  Timer* timer = timers_[index];
  while (index > 0) {
    std::size_t parent = (index - 1) / 2;
    if (!firesBefore(timer, timers_[parent])) break;
    place(index, timers_[parent]);
    index = parent;
  }
  place(index, timer);
}

void Loop::siftDown(std::size_t index) {
  Timer* timer = timers_[index];
  const std::size_t count = timers_.size();
  for (;;) {
    std::size_t child = 2 * index + 1;
    if (child >= count) break;
    if (child + 1 < count && firesBefore(timers_[child + 1], timers_[child])) ++child;
    if (!firesBefore(timers_[child], timer)) break;
    place(index, timers_[child]);
    index = child;
  }
  place(index, timer);
}

void Loop::schedule(Timer* timer) {
  timers_.push_back(timer);
  timer->heapIndex_ = timers_.size() - 1;
  siftUp(timer->heapIndex_);
  armHeapTimer();
}

void Loop::reschedule(Timer* timer) {
  siftUp(timer->heapIndex_);
  siftDown(timer->heapIndex_);
  armHeapTimer();
}

void Loop::unschedule(Timer* timer) {
  const std::size_t index = timer->heapIndex_;
  timer->heapIndex_ = Timer::notScheduled;
  Timer* last = timers_.back();
  timers_.pop_back();
  if (last != timer) {
    place(index, last);
    siftUp(index);
    siftDown(last->heapIndex_);
  }
  armHeapTimer();
}

void Loop::armHeapTimer() {
  if (firingTimers_) return;  // onTimers arms it once, when it is done
  if (timers_.empty()) {
    if (heapTimerArmed_) uv_timer_stop(&heapTimer_);
    heapTimerArmed_ = false;
    return;
  }
  const std::uint64_t due = timers_.front()->due_;
  if (heapTimerArmed_ && due == armedDue_) return;
  const std::uint64_t now = uv_now(&loop_);
  uv_timer_start(&heapTimer_, &Loop::onTimers, due > now ? due - now : 0, 0);
  heapTimerArmed_ = true;
  armedDue_ = due;
}

void Loop::onTimers(uv_timer_t* handle) {
  auto* loop = static_cast<Loop*>(handle->data);
  const std::uint64_t now = uv_now(&loop->loop_);
  loop->heapTimerArmed_ = false;  // it was a one-shot
  loop->firingTimers_ = true;
  // Like libuv's own timer run: every timer due by now fires, including ones that a callback
  // starts with a zero timeout.
  while (!loop->timers_.empty() && loop->timers_.front()->due_ <= now) {
    Timer* timer = loop->timers_.front();
    loop->unschedule(timer);
    // Moved out first: the callback may restart or destroy this timer.
    auto fire = std::move(timer->fire_);
    timer->fire_ = nullptr;
    if (fire) fire();
  }
  loop->firingTimers_ = false;
  loop->armHeapTimer();
}

Timer::~Timer() {
  if (isActive()) loop_->unschedule(this);
}

void Timer::start(std::uint64_t milliseconds, std::function<void()> fire) {
  fire_ = std::move(fire);
  due_ = uv_now(loop_->uv()) + milliseconds;
  sequence_ = loop_->timerSequence_++;
  if (isActive()) {
    loop_->reschedule(this);  // moved within the heap: cheaper than out and in again
  } else {
    loop_->schedule(this);
  }
}

void Timer::stop() {
  if (isActive()) loop_->unschedule(this);
  fire_ = nullptr;
}

}  // namespace foundation::engine

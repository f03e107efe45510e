#include "engine/Loop.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <future>

#include <curl/curl.h>

namespace foundation::engine {

Loop& Loop::shared() {
  // Leaked on purpose: the loop thread serves until the process exits, and tearing it down
  // during static destruction would race with threads still posting work.
  static Loop* loop = new Loop();
  return *loop;
}

Loop::Loop() {
  // libcurl must be initialised once before any other thread uses it, and a peer closing a
  // socket must not kill the process (Debian's libcurl 7.88 still needs SIGPIPE ignored).
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::signal(SIGPIPE, SIG_IGN);
  if (uv_loop_init(&loop_) != 0 || uv_async_init(&loop_, &wakeup_, &Loop::onAsync) != 0 ||
      uv_idle_init(&loop_, &drainSoon_) != 0) {
    std::fputs("foundation_net: cannot initialise the libuv loop\n", stderr);
    std::abort();
  }
  wakeup_.data = this;
  drainSoon_.data = this;
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

struct Timer::Handle {
  uv_timer_t timer;
  std::function<void()> fire;
};

Timer::Timer(Loop& loop) : handle_(new Handle) {
  uv_timer_init(loop.uv(), &handle_->timer);
  handle_->timer.data = handle_;
}

Timer::~Timer() {
  uv_timer_stop(&handle_->timer);
  handle_->fire = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_->timer),
           [](uv_handle_t* h) { delete static_cast<Handle*>(h->data); });
}

void Timer::start(std::uint64_t milliseconds, std::function<void()> fire) {
  handle_->fire = std::move(fire);
  uv_timer_start(&handle_->timer, [](uv_timer_t* t) {
    // Move the callback out first: it may restart or destroy this timer.
    auto fire = std::move(static_cast<Handle*>(t->data)->fire);
    if (fire) fire();
  }, milliseconds, 0);
}

void Timer::stop() {
  uv_timer_stop(&handle_->timer);
  handle_->fire = nullptr;
}

bool Timer::isActive() const { return uv_is_active(reinterpret_cast<const uv_handle_t*>(&handle_->timer)) != 0; }

}  // namespace foundation::engine

// Task<T>: a minimal C++20 coroutine type, the counterpart of Swift's `Task { ... }` for code
// that awaits restartable operations (`co_await downloader.download(request, "id")`).
//
// - It starts at once, on the calling thread, and runs until its first co_await that suspends;
//   it then goes on wherever that awaitable resumes it (Downloader and Uploader resume on their
//   session's delegate queue).
// - Dropping the Task does not cancel or destroy the coroutine: like Swift's Task it runs to
//   completion detached. The coroutine frame frees itself when it finishes.
// - Another coroutine may `co_await` it once, to get its value (or its exception); a thread that
//   is not needed to run it may block in get().
#pragma once
#include <condition_variable>
#include <coroutine>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

namespace foundation {

template <typename T = void>
class Task {
  using Stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

  // What the coroutine and its Task handle share; outlives whichever goes first.
  struct State {
    std::mutex mutex;
    std::condition_variable finished;
    bool done = false;
    std::optional<Stored> value;
    std::exception_ptr exception;
    std::coroutine_handle<> continuation;

    T take() {
      if (exception) std::rethrow_exception(exception);
      if constexpr (!std::is_void_v<T>) return std::move(*value);
    }
  };

  struct PromiseBase {
    std::shared_ptr<State> state = std::make_shared<State>();
  };
  struct ValuePromise : PromiseBase {
    template <typename U>
    void return_value(U&& value) { this->state->value.emplace(std::forward<U>(value)); }
  };
  struct VoidPromise : PromiseBase {
    void return_void() { this->state->value.emplace(); }
  };

 public:
  struct promise_type : std::conditional_t<std::is_void_v<T>, VoidPromise, ValuePromise> {
    Task get_return_object() { return Task(this->state); }
    std::suspend_never initial_suspend() noexcept { return {}; }
    void unhandled_exception() { this->state->exception = std::current_exception(); }

    // Frees the frame, then hands the thread to whoever awaits the Task.
    struct FinalAwaiter {
      bool await_ready() noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> self) noexcept {
        std::shared_ptr<State> state = self.promise().state;
        self.destroy();
        std::coroutine_handle<> next;
        {
          std::lock_guard lock(state->mutex);
          state->done = true;
          next = std::exchange(state->continuation, {});
        }
        state->finished.notify_all();
        return next ? next : std::noop_coroutine();
      }
      void await_resume() noexcept {}
    };
    FinalAwaiter final_suspend() noexcept { return {}; }
  };

  bool isDone() const {
    std::lock_guard lock(state_->mutex);
    return state_->done;
  }

  // Blocks until the coroutine finished; its value, or its exception rethrown. Never call it
  // on the thread (or serial queue) the coroutine needs in order to go on.
  T get() {
    std::unique_lock lock(state_->mutex);
    state_->finished.wait(lock, [&] { return state_->done; });
    lock.unlock();
    return state_->take();
  }

  // co_await task: resumes the awaiting coroutine where this one finishes.
  auto operator co_await() const {
    struct Awaiter {
      std::shared_ptr<State> state;
      bool await_ready() {
        std::lock_guard lock(state->mutex);
        return state->done;
      }
      bool await_suspend(std::coroutine_handle<> waiting) {
        std::lock_guard lock(state->mutex);
        if (state->done) return false;
        state->continuation = waiting;
        return true;
      }
      T await_resume() { return state->take(); }
    };
    return Awaiter{state_};
  }

 private:
  explicit Task(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace foundation

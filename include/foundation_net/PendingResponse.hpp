// PendingResponse: what Downloader::download and Uploader::upload return, to be co_await-ed in
// a coroutine (a foundation::Task, or any other C++20 coroutine type):
//
//   NetworkResponse response = co_await downloader.download(request, "report-2024");
//
// The operation starts when it is awaited, not before: an awaitable that is dropped unawaited
// starts nothing. The coroutine resumes on the session's delegate queue, one result at a time,
// and possibly only in a later process: an operation may complete while the app is not running,
// in which case the next launch that re-issues it gets the result.
#pragma once
#include <coroutine>
#include <functional>
#include <optional>
#include <utility>

#include <foundation_net/NetworkResponse.hpp>

namespace foundation {

class PendingResponse {
 public:
  using Deliver = std::function<void(NetworkResponse)>;
  // `start` begins the operation and calls the function it is given exactly once, with the
  // result, on a thread other than the one that called `start` (or later on the same one).
  explicit PendingResponse(std::function<void(Deliver)> start) : start_(std::move(start)) {}

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> waiting) {
    // Moved out first: the coroutine may resume, and this awaiter go, before `start` returns.
    auto start = std::move(start_);
    start([this, waiting](NetworkResponse response) {
      result_.emplace(std::move(response));
      waiting.resume();
    });
  }
  NetworkResponse await_resume() { return std::move(*result_); }

 private:
  std::function<void(Deliver)> start_;
  std::optional<NetworkResponse> result_;
};

}  // namespace foundation

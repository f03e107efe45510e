// NetworkResponse: the outcome of a restartable operation (Uploader, Downloader), sorted the
// way ChimeHQ's Background library sorts it: success, rejected, retry or failed.
//
//   200, 201, 202, 204                success   (downloads: with the file, now the caller's)
//   408, 429, 500, 502, 503, 504      retry     (with the Retry-After interval when sent)
//   every other status >= 200         rejected
//   < 200, no response, an Error      failed    (with the Error)
#pragma once
#include <memory>
#include <optional>
#include <string>

#include <foundation_net/Data.hpp>
#include <foundation_net/Date.hpp>
#include <foundation_net/Error.hpp>
#include <foundation_net/HTTPURLResponse.hpp>
#include <foundation_net/URL.hpp>
#include <foundation_net/URLResponse.hpp>

namespace foundation {

class NetworkResponse {
 public:
  enum class Kind { success, rejected, retry, failed };

  // Sorts what a task ended with. `file` is a finished download (moved out of the session's
  // hands already); `body` the server's answer to an upload. A success status without the file
  // a download needs is failed: pass `expectsFile` for downloads.
  static NetworkResponse from(std::shared_ptr<const URLResponse> response, std::optional<Error> error,
                              std::optional<URL> file = std::nullopt, std::optional<Data> body = std::nullopt,
                              bool expectsFile = false, Date now = std::chrono::system_clock::now());
  static NetworkResponse failure(Error error);
  // The kind a final HTTP status sorts into (no Error, the file present).
  static Kind kindForStatus(int statusCode);

  // Retry-After as an interval from `now`: delta-seconds, or an HTTP-date (IMF-fixdate,
  // RFC 850 or asctime) less `now`, never negative. nullopt when absent or malformed.
  static std::optional<TimeInterval> retryAfterInterval(const HTTPURLResponse& response,
                                                        Date now = std::chrono::system_clock::now());

  Kind kind() const { return kind_; }
  bool isSuccess() const { return kind_ == Kind::success; }
  // The HTTP response: set for success, rejected and retry; for failed when one arrived.
  std::shared_ptr<const HTTPURLResponse> response() const { return response_; }
  int statusCode() const { return response_ ? response_->statusCode() : 0; }
  // Downloads that succeeded: where the file is now. It belongs to the caller.
  const std::optional<URL>& file() const { return file_; }
  // Uploads: the body the server answered with, when it sent one.
  const std::optional<Data>& body() const { return body_; }
  // Retry: the Retry-After interval, measured when the result was handed over.
  std::optional<TimeInterval> retryAfter() const { return retryAfter_; }
  // Failed: why.
  const std::optional<Error>& error() const { return error_; }
  // "success (201)", "rejected (404)", "retry (503, after 7 s)", "failed (-1004 ...)".
  std::string description() const;

 private:
  NetworkResponse() = default;
  Kind kind_ = Kind::failed;
  std::shared_ptr<const HTTPURLResponse> response_;
  std::optional<URL> file_;
  std::optional<Data> body_;
  std::optional<TimeInterval> retryAfter_;
  std::optional<Error> error_;
};

}  // namespace foundation

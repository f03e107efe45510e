// Runs the daemon's transfer attempts through an in-process URLSession (one per background
// session), writing downloads into the staging folder so that a later attempt can continue
// with Range + If-Range. Delegate callbacks run on the session's delegate queue and report
// to the Daemon on the loop thread.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <foundation_net/URLSessionDataDelegate.hpp>

#include "daemon/Daemon.hpp"
#include "platform/File.hpp"

namespace foundation::daemon {

class TransferDelegate : public URLSessionDataDelegate {
 public:
  struct Attempt {
    std::uint64_t id = 0;
    TaskKind kind = TaskKind::download;
    std::string partialFile;     // downloads: where the bytes go
    std::int64_t offset = 0;     // downloads: bytes already there from earlier attempts
    std::string validator;       // downloads: ETag / Last-Modified those bytes came with
    std::string uploadResource;  // uploads: where an earlier attempt's resumable upload lives
    int uploadVersion = 0;       // uploads: the interop version it speaks
    std::chrono::milliseconds progressInterval{100};
  };

  explicit TransferDelegate(Daemon& daemon) : daemon_(daemon) {}

  // Starts an attempt; the request gets Range/If-Range when earlier bytes can be continued, and
  // an upload an earlier attempt made resumable continues on the server (HEAD + PATCH).
  std::shared_ptr<URLSessionTask> begin(URLSession& session, URLRequest request, Attempt attempt,
                                        const std::optional<std::string>& uploadFile);

  void didReceiveResponse(URLSession&, URLSessionDataTask& task, const URLResponse& response,
                          std::function<void(URLSession::ResponseDisposition)> completionHandler) override;
  void didReceiveData(URLSession&, URLSessionDataTask& task, const Data& data) override;
  void didSendBodyData(URLSession&, URLSessionTask& task, std::int64_t bytesSent, std::int64_t totalBytesSent,
                       std::int64_t totalBytesExpectedToSend) override;
  // Task-level challenges go to the Daemon, which asks the attached app or answers default handling.
  void didReceiveChallenge(URLSession&, URLSessionTask& task, const URLAuthenticationChallenge& challenge,
      std::function<void(URLSession::AuthChallengeDisposition, std::optional<URLCredential>)> completionHandler) override;
  // Kept for the attempt's outcome: the app's metrics are the daemon's transactions.
  void didFinishCollectingMetrics(URLSession&, URLSessionTask& task, const URLSessionTaskMetrics& metrics) override;
  void didCompleteWithError(URLSession&, URLSessionTask& task, const std::optional<Error>& error) override;
  // A 104 that makes an upload resumable is reported to the Daemon, which saves it.
  void didReceiveInformationalResponse(URLSession&, URLSessionTask& task, const HTTPURLResponse& response) override;

  // Loop thread, while the data task `transfer` waits for its response's disposition: the rest
  // of its body goes to `partialFile` (created anew) as a download's does. An error when the
  // file cannot be made (the task is then to be cancelled).
  std::optional<Error> becomeDownload(const URLSessionTask& transfer, const std::string& partialFile);

 private:
  struct Running {
    Attempt attempt;
    platform::File file;
    std::int64_t written = 0;          // this attempt's bytes
    std::int64_t expected = -1;        // total size, when known
    std::int64_t reported = 0;         // total already reported as progress
    std::string validator;
    std::optional<std::string> body;   // upload / data task responses
    std::optional<Error> failure;      // a local failure (disk full) that cancelled the task
    URLSessionTaskMetrics metrics;     // this attempt's, once collected
    bool alreadyWhole = false;         // a 416 to the range: the partial file is the whole resource
    std::chrono::steady_clock::time_point lastReport{};
  };
  Running* running(const URLSessionTask& task);
  void reportProgress(Running& r, bool force, bool upload, std::int64_t total, std::int64_t expected);

  Daemon& daemon_;
  std::mutex mutex_;
  std::map<std::uint64_t, Running> running_;  // by in-process task identifier
};

}  // namespace foundation::daemon

// URLSessionTaskDelegate: events common to every kind of task.
//
// Order of calls for one task (see docs/semantics.md for each task kind):
//   didCreateTask (synchronously, inside the factory)
//   [willBeginDelayedRequest]  [taskIsWaitingForConnectivity]
//   { willPerformHTTPRedirection | didReceiveChallenge | didReceiveInformationalResponse }*
//   didSendBodyData*  ... the data or download delegate's events ...
//   didFinishCollectingMetrics
//   didCompleteWithError            — always the last message, exactly once
#pragma once
#include <cstdint>
#include <functional>
#include <optional>

#include <foundation_net/HTTPURLResponse.hpp>
#include <foundation_net/URLSessionDelegate.hpp>
#include <foundation_net/URLSessionTask.hpp>
#include <foundation_net/URLSessionTaskMetrics.hpp>

namespace foundation {

class URLSessionTaskDelegate : public virtual URLSessionDelegate {
 public:
  // Runs synchronously inside the factory call, before the task is returned.
  virtual void didCreateTask(URLSession& session, URLSessionTask& task);
  // Background tasks with an earliestBeginDate, when they are due. Default: continueLoading.
  virtual void willBeginDelayedRequest(URLSession& session, URLSessionTask& task, const URLRequest& request,
      std::function<void(URLSession::DelayedRequestDisposition, std::optional<URLRequest>)> completionHandler);
  // At most once per task, only with waitsForConnectivity.
  virtual void taskIsWaitingForConnectivity(URLSession& session, URLSessionTask& task);
  // Answer with the request to follow (possibly changed) or nullopt to receive the redirect
  // response itself as the final response. Default: follow newRequest.
  virtual void willPerformHTTPRedirection(URLSession& session, URLSessionTask& task,
      const HTTPURLResponse& response, const URLRequest& newRequest,
      std::function<void(std::optional<URLRequest>)> completionHandler);
  // Per-task challenges (HTTP Basic and Digest). Default: performDefaultHandling.
  virtual void didReceiveChallenge(URLSession& session, URLSessionTask& task,
      const URLAuthenticationChallenge& challenge,
      std::function<void(URLSession::AuthChallengeDisposition, std::optional<URLCredential>)> completionHandler);
  virtual void didSendBodyData(URLSession& session, URLSessionTask& task, std::int64_t bytesSent,
      std::int64_t totalBytesSent, std::int64_t totalBytesExpectedToSend);
  virtual void didReceiveInformationalResponse(URLSession& session, URLSessionTask& task,
                                               const HTTPURLResponse& response);
  virtual void didFinishCollectingMetrics(URLSession& session, URLSessionTask& task,
                                          const URLSessionTaskMetrics& metrics);
  // The last message for a task. HTTP 4xx/5xx are responses, not errors.
  virtual void didCompleteWithError(URLSession& session, URLSessionTask& task,
                                    const std::optional<Error>& error);
};

}  // namespace foundation

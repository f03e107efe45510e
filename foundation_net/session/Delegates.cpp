// What each delegate method does when a delegate does not override it: Apple's behaviour for a
// delegate that does not implement the method. Every completion handler is called. A per-task
// delegate's default hands the call to the session's delegate, as Apple sends a task's events
// that its own delegate does not implement to the session delegate.
#include <foundation_net/URLSessionDataDelegate.hpp>
#include <foundation_net/URLSessionDelegate.hpp>
#include <foundation_net/URLSessionDownloadDelegate.hpp>
#include <foundation_net/URLSessionTaskDelegate.hpp>

namespace foundation {
namespace {

// Calls `call` with the session's delegate as a D when `self` is the task's own delegate and
// the session's delegate is another object implementing D; false when there is none.
template <class D, class Call>
bool handToSessionDelegate(const URLSessionTaskDelegate* self, URLSession& session, URLSessionTask& task, Call&& call) {
  if (task.delegate().get() != self) return false;
  auto delegate = std::dynamic_pointer_cast<D>(session.delegate());
  if (!delegate || static_cast<const URLSessionTaskDelegate*>(delegate.get()) == self) return false;
  call(*delegate);
  return true;
}

}  // namespace

URLSessionDelegate::~URLSessionDelegate() = default;
void URLSessionDelegate::didBecomeInvalidWithError(URLSession&, const std::optional<Error>&) {}
void URLSessionDelegate::didReceiveChallenge(URLSession&, const URLAuthenticationChallenge&,
    std::function<void(URLSession::AuthChallengeDisposition, std::optional<URLCredential>)> completionHandler) {
  completionHandler(URLSession::AuthChallengeDisposition::performDefaultHandling, std::nullopt);
}
void URLSessionDelegate::didFinishEventsForBackgroundURLSession(URLSession&) {}

void URLSessionTaskDelegate::didCreateTask(URLSession&, URLSessionTask&) {}

void URLSessionTaskDelegate::willBeginDelayedRequest(URLSession& session, URLSessionTask& task, const URLRequest& request,
    std::function<void(URLSession::DelayedRequestDisposition, std::optional<URLRequest>)> completionHandler) {
  if (handToSessionDelegate<URLSessionTaskDelegate>(this, session, task, [&](auto& d) {
        d.willBeginDelayedRequest(session, task, request, completionHandler);
      }))
    return;
  completionHandler(URLSession::DelayedRequestDisposition::continueLoading, std::nullopt);
}

void URLSessionTaskDelegate::taskIsWaitingForConnectivity(URLSession& session, URLSessionTask& task) {
  handToSessionDelegate<URLSessionTaskDelegate>(this, session, task,
                                                [&](auto& d) { d.taskIsWaitingForConnectivity(session, task); });
}

void URLSessionTaskDelegate::willPerformHTTPRedirection(URLSession& session, URLSessionTask& task,
    const HTTPURLResponse& response, const URLRequest& newRequest,
    std::function<void(std::optional<URLRequest>)> completionHandler) {
  if (handToSessionDelegate<URLSessionTaskDelegate>(this, session, task, [&](auto& d) {
        d.willPerformHTTPRedirection(session, task, response, newRequest, completionHandler);
      }))
    return;
  completionHandler(newRequest);
}

void URLSessionTaskDelegate::didReceiveChallenge(URLSession& session, URLSessionTask& task,
    const URLAuthenticationChallenge& challenge,
    std::function<void(URLSession::AuthChallengeDisposition, std::optional<URLCredential>)> completionHandler) {
  if (handToSessionDelegate<URLSessionTaskDelegate>(this, session, task, [&](auto& d) {
        d.didReceiveChallenge(session, task, challenge, completionHandler);
      }))
    return;
  // Not implemented at task level: Apple hands the challenge to the session-level method — the
  // session delegate's, which may be this object's own override (a virtual call, not the default).
  auto delegate = session.delegate();
  URLSessionDelegate* sessionLevel = delegate ? delegate.get() : static_cast<URLSessionDelegate*>(this);
  sessionLevel->didReceiveChallenge(session, challenge, std::move(completionHandler));
}

void URLSessionTaskDelegate::didSendBodyData(URLSession& session, URLSessionTask& task, std::int64_t bytesSent,
                                             std::int64_t totalBytesSent, std::int64_t totalBytesExpectedToSend) {
  handToSessionDelegate<URLSessionTaskDelegate>(this, session, task, [&](auto& d) {
    d.didSendBodyData(session, task, bytesSent, totalBytesSent, totalBytesExpectedToSend);
  });
}

void URLSessionTaskDelegate::didReceiveInformationalResponse(URLSession& session, URLSessionTask& task,
                                                             const HTTPURLResponse& response) {
  handToSessionDelegate<URLSessionTaskDelegate>(this, session, task,
                                                [&](auto& d) { d.didReceiveInformationalResponse(session, task, response); });
}

void URLSessionTaskDelegate::didFinishCollectingMetrics(URLSession& session, URLSessionTask& task,
                                                        const URLSessionTaskMetrics& metrics) {
  handToSessionDelegate<URLSessionTaskDelegate>(this, session, task,
                                                [&](auto& d) { d.didFinishCollectingMetrics(session, task, metrics); });
}

void URLSessionTaskDelegate::didCompleteWithError(URLSession& session, URLSessionTask& task,
                                                  const std::optional<Error>& error) {
  handToSessionDelegate<URLSessionTaskDelegate>(this, session, task,
                                                [&](auto& d) { d.didCompleteWithError(session, task, error); });
}

void URLSessionDataDelegate::didReceiveResponse(URLSession& session, URLSessionDataTask& task, const URLResponse& response,
    std::function<void(URLSession::ResponseDisposition)> completionHandler) {
  if (handToSessionDelegate<URLSessionDataDelegate>(this, session, task, [&](auto& d) {
        d.didReceiveResponse(session, task, response, completionHandler);
      }))
    return;
  completionHandler(URLSession::ResponseDisposition::allow);
}

void URLSessionDataDelegate::didBecomeDownloadTask(URLSession& session, URLSessionDataTask& dataTask,
                                                   URLSessionDownloadTask& downloadTask) {
  handToSessionDelegate<URLSessionDataDelegate>(this, session, dataTask,
                                                [&](auto& d) { d.didBecomeDownloadTask(session, dataTask, downloadTask); });
}

void URLSessionDataDelegate::didReceiveData(URLSession& session, URLSessionDataTask& task, const Data& data) {
  handToSessionDelegate<URLSessionDataDelegate>(this, session, task, [&](auto& d) { d.didReceiveData(session, task, data); });
}

void URLSessionDataDelegate::willCacheResponse(URLSession& session, URLSessionDataTask& task,
                                               const CachedURLResponse& proposedResponse,
                                               std::function<void(std::optional<CachedURLResponse>)> completionHandler) {
  if (handToSessionDelegate<URLSessionDataDelegate>(this, session, task, [&](auto& d) {
        d.willCacheResponse(session, task, proposedResponse, completionHandler);
      }))
    return;
  completionHandler(proposedResponse);
}

void URLSessionDownloadDelegate::didFinishDownloadingTo(URLSession& session, URLSessionDownloadTask& task,
                                                        const URL& location) {
  handToSessionDelegate<URLSessionDownloadDelegate>(this, session, task,
                                                    [&](auto& d) { d.didFinishDownloadingTo(session, task, location); });
}

void URLSessionDownloadDelegate::didWriteData(URLSession& session, URLSessionDownloadTask& task, std::int64_t bytesWritten,
                                              std::int64_t totalBytesWritten, std::int64_t totalBytesExpectedToWrite) {
  handToSessionDelegate<URLSessionDownloadDelegate>(this, session, task, [&](auto& d) {
    d.didWriteData(session, task, bytesWritten, totalBytesWritten, totalBytesExpectedToWrite);
  });
}

void URLSessionDownloadDelegate::didResumeAtOffset(URLSession& session, URLSessionDownloadTask& task,
                                                   std::int64_t fileOffset, std::int64_t expectedTotalBytes) {
  handToSessionDelegate<URLSessionDownloadDelegate>(this, session, task, [&](auto& d) {
    d.didResumeAtOffset(session, task, fileOffset, expectedTotalBytes);
  });
}

}  // namespace foundation

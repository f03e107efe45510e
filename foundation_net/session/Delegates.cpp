// What each delegate method does when a delegate does not override it: Apple's behaviour for a
// delegate that does not implement the method. Every completion handler is called.
#include <foundation_net/URLSessionDataDelegate.hpp>
#include <foundation_net/URLSessionDelegate.hpp>
#include <foundation_net/URLSessionDownloadDelegate.hpp>
#include <foundation_net/URLSessionTaskDelegate.hpp>

namespace foundation {

URLSessionDelegate::~URLSessionDelegate() = default;
void URLSessionDelegate::didBecomeInvalidWithError(URLSession&, const std::optional<Error>&) {}
void URLSessionDelegate::didReceiveChallenge(URLSession&, const URLAuthenticationChallenge&,
    std::function<void(URLSession::AuthChallengeDisposition, std::optional<URLCredential>)> completionHandler) {
  completionHandler(URLSession::AuthChallengeDisposition::performDefaultHandling, std::nullopt);
}
void URLSessionDelegate::didFinishEventsForBackgroundURLSession(URLSession&) {}

void URLSessionTaskDelegate::didCreateTask(URLSession&, URLSessionTask&) {}
void URLSessionTaskDelegate::willBeginDelayedRequest(URLSession&, URLSessionTask&, const URLRequest&,
    std::function<void(URLSession::DelayedRequestDisposition, std::optional<URLRequest>)> completionHandler) {
  completionHandler(URLSession::DelayedRequestDisposition::continueLoading, std::nullopt);
}
void URLSessionTaskDelegate::taskIsWaitingForConnectivity(URLSession&, URLSessionTask&) {}
void URLSessionTaskDelegate::willPerformHTTPRedirection(URLSession&, URLSessionTask&, const HTTPURLResponse&,
    const URLRequest& newRequest, std::function<void(std::optional<URLRequest>)> completionHandler) {
  completionHandler(newRequest);
}
void URLSessionTaskDelegate::didReceiveChallenge(URLSession& session, URLSessionTask&,
    const URLAuthenticationChallenge& challenge,
    std::function<void(URLSession::AuthChallengeDisposition, std::optional<URLCredential>)> completionHandler) {
  // Not overridden at task level: Apple hands the challenge to the session-level method.
  URLSessionDelegate::didReceiveChallenge(session, challenge, std::move(completionHandler));
}
void URLSessionTaskDelegate::didSendBodyData(URLSession&, URLSessionTask&, std::int64_t, std::int64_t, std::int64_t) {}
void URLSessionTaskDelegate::didReceiveInformationalResponse(URLSession&, URLSessionTask&, const HTTPURLResponse&) {}
void URLSessionTaskDelegate::didFinishCollectingMetrics(URLSession&, URLSessionTask&, const URLSessionTaskMetrics&) {}
void URLSessionTaskDelegate::didCompleteWithError(URLSession&, URLSessionTask&, const std::optional<Error>&) {}

void URLSessionDataDelegate::didReceiveResponse(URLSession&, URLSessionDataTask&, const URLResponse&,
    std::function<void(URLSession::ResponseDisposition)> completionHandler) {
  completionHandler(URLSession::ResponseDisposition::allow);
}
void URLSessionDataDelegate::didBecomeDownloadTask(URLSession&, URLSessionDataTask&, URLSessionDownloadTask&) {}
void URLSessionDataDelegate::didReceiveData(URLSession&, URLSessionDataTask&, const Data&) {}

void URLSessionDownloadDelegate::didFinishDownloadingTo(URLSession&, URLSessionDownloadTask&, const URL&) {}
void URLSessionDownloadDelegate::didWriteData(URLSession&, URLSessionDownloadTask&, std::int64_t, std::int64_t,
                                              std::int64_t) {}
void URLSessionDownloadDelegate::didResumeAtOffset(URLSession&, URLSessionDownloadTask&, std::int64_t, std::int64_t) {}

}  // namespace foundation

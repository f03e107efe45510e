// URLSessionDelegate: session-level events. Every method has a default that does what Apple
// does when a delegate does not implement it. Methods run on the session's delegate queue.
#pragma once
#include <functional>
#include <optional>

#include <foundation_net/Error.hpp>
#include <foundation_net/URLAuthenticationChallenge.hpp>
#include <foundation_net/URLCredential.hpp>
#include <foundation_net/URLSession.hpp>

namespace foundation {

class URLSessionDelegate {
 public:
  virtual ~URLSessionDelegate();
  // The last message a session sends; the session releases its delegate afterwards.
  virtual void didBecomeInvalidWithError(URLSession& session, const std::optional<Error>& error);
  // Connection-wide challenges (server trust, client certificates). Default: performDefaultHandling.
  virtual void didReceiveChallenge(URLSession& session, const URLAuthenticationChallenge& challenge,
      std::function<void(URLSession::AuthChallengeDisposition, std::optional<URLCredential>)> completionHandler);
  // urlSessionDidFinishEvents(forBackgroundURLSession:)
  virtual void didFinishEventsForBackgroundURLSession(URLSession& session);
};

}  // namespace foundation

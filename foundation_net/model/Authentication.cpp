#include <foundation_net/URLAuthenticationChallenge.hpp>
#include <foundation_net/URLCredential.hpp>
#include <foundation_net/URLProtectionSpace.hpp>

#include "model/Text.hpp"

namespace foundation {

URLCredential::URLCredential(std::string user, std::string password, Persistence persistence)
    : user_(std::move(user)), password_(std::move(password)), persistence_(persistence) {}

std::optional<std::string> URLCredential::user() const { return user_; }
std::optional<std::string> URLCredential::password() const { return password_; }
// Every credential of this type is a user-and-password one (an empty password is still one).
bool URLCredential::hasPassword() const { return true; }
URLCredential::Persistence URLCredential::persistence() const { return persistence_; }

URLProtectionSpace::URLProtectionSpace(std::string host, int port, std::string protocol,
                                       std::optional<std::string> realm, std::string authenticationMethod)
    : host_(std::move(host)),
      port_(port),
      protocol_(std::move(protocol)),
      realm_(std::move(realm)),
      authenticationMethod_(std::move(authenticationMethod)) {}

std::string URLProtectionSpace::host() const { return host_; }
int URLProtectionSpace::port() const { return port_; }
std::string URLProtectionSpace::protocol() const { return protocol_; }
std::optional<std::string> URLProtectionSpace::realm() const { return realm_; }
std::string URLProtectionSpace::authenticationMethod() const { return authenticationMethod_; }

bool URLProtectionSpace::receivesCredentialSecurely() const {
  return text::equalsIgnoringCase(protocol_, "https") ||
         authenticationMethod_ == NSURLAuthenticationMethodHTTPDigest;
}

bool operator==(const URLProtectionSpace& a, const URLProtectionSpace& b) {
  return text::equalsIgnoringCase(a.host_, b.host_) && a.port_ == b.port_ &&
         text::equalsIgnoringCase(a.protocol_, b.protocol_) && a.realm_ == b.realm_ &&
         a.authenticationMethod_ == b.authenticationMethod_;
}

URLAuthenticationChallenge::URLAuthenticationChallenge(URLProtectionSpace space,
                                                       std::optional<URLCredential> proposed,
                                                       int previousFailureCount,
                                                       std::shared_ptr<const URLResponse> failureResponse)
    : space_(std::move(space)),
      proposed_(std::move(proposed)),
      previousFailureCount_(previousFailureCount),
      failureResponse_(std::move(failureResponse)) {}

const URLProtectionSpace& URLAuthenticationChallenge::protectionSpace() const { return space_; }
std::optional<URLCredential> URLAuthenticationChallenge::proposedCredential() const { return proposed_; }
int URLAuthenticationChallenge::previousFailureCount() const { return previousFailureCount_; }
std::shared_ptr<const URLResponse> URLAuthenticationChallenge::failureResponse() const {
  return failureResponse_;
}

}  // namespace foundation

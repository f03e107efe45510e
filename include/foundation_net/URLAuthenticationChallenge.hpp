// URLAuthenticationChallenge: a server's demand for credentials, handed to the delegate.
#pragma once
#include <memory>
#include <optional>

#include <foundation_net/URLCredential.hpp>
#include <foundation_net/URLProtectionSpace.hpp>
#include <foundation_net/URLResponse.hpp>

namespace foundation {

class URLAuthenticationChallenge {
 public:
  URLAuthenticationChallenge(URLProtectionSpace space, std::optional<URLCredential> proposed,
                             int previousFailureCount, std::shared_ptr<const URLResponse> failureResponse);
  const URLProtectionSpace& protectionSpace() const;
  std::optional<URLCredential> proposedCredential() const;
  int previousFailureCount() const;
  std::shared_ptr<const URLResponse> failureResponse() const;

 private:
  URLProtectionSpace space_;
  std::optional<URLCredential> proposed_;
  int previousFailureCount_;
  std::shared_ptr<const URLResponse> failureResponse_;
};

}  // namespace foundation

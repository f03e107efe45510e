// URLProtectionSpace: the server, realm and scheme that a challenge is for.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace foundation {

inline constexpr std::string_view NSURLAuthenticationMethodDefault = "NSURLAuthenticationMethodDefault";
inline constexpr std::string_view NSURLAuthenticationMethodHTTPBasic = "NSURLAuthenticationMethodHTTPBasic";
inline constexpr std::string_view NSURLAuthenticationMethodHTTPDigest = "NSURLAuthenticationMethodHTTPDigest";
inline constexpr std::string_view NSURLAuthenticationMethodServerTrust = "NSURLAuthenticationMethodServerTrust";
inline constexpr std::string_view NSURLAuthenticationMethodClientCertificate = "NSURLAuthenticationMethodClientCertificate";

class URLProtectionSpace {
 public:
  URLProtectionSpace(std::string host, int port, std::string protocol,
                     std::optional<std::string> realm, std::string authenticationMethod);
  std::string host() const;
  int port() const;
  std::string protocol() const;  // "http", "https"
  std::optional<std::string> realm() const;
  std::string authenticationMethod() const;  // one of the NSURLAuthenticationMethod constants
  bool receivesCredentialSecurely() const;   // https, or Digest
  // Apple's isEqual: the same host (in any case), port, protocol, realm and method.
  friend bool operator==(const URLProtectionSpace& a, const URLProtectionSpace& b);

 private:
  std::string host_;
  int port_;
  std::string protocol_;
  std::optional<std::string> realm_;
  std::string authenticationMethod_;
};

}  // namespace foundation

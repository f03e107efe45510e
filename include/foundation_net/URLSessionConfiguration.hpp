// URLSessionConfiguration: the policies a session is created with (a value; the session copies it).
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <foundation_net/Date.hpp>
#include <foundation_net/HTTPCookie.hpp>
#include <foundation_net/URLProtocol.hpp>
#include <foundation_net/URLRequest.hpp>

namespace foundation {

class HTTPCookieStorage;
class URLCache;
class URLCredentialStorage;

struct URLSessionConfiguration {
  static URLSessionConfiguration defaultConfiguration();  // Swift .default
  static URLSessionConfiguration ephemeral();
  // Throws std::invalid_argument for an empty identifier.
  static URLSessionConfiguration background(std::string identifier);

  std::optional<std::string> identifier() const;  // set for background configurations only
  bool isEphemeral() const;

  TimeInterval timeoutIntervalForRequest = 60;       // idle timeout, reset whenever data moves
  TimeInterval timeoutIntervalForResource = 604800;  // whole-transfer limit
  int httpMaximumConnectionsPerHost = 6;
  std::map<std::string, std::string> httpAdditionalHeaders;  // the request's own values win
  bool isDiscretionary = false;
  bool sessionSendsLaunchEvents = true;
  bool waitsForConnectivity = false;
  bool allowsCellularAccess = true, allowsExpensiveNetworkAccess = true,
       allowsConstrainedNetworkAccess = true;
  // Cookies: tasks send the storage's matching cookies and store what responses set, when
  // httpShouldSetCookies and the request's httpShouldHandleCookies are true and there is a
  // storage (defaultConfiguration: HTTPCookieStorage::shared(); ephemeral: one of its own).
  bool httpShouldSetCookies = true;
  std::shared_ptr<HTTPCookieStorage> httpCookieStorage;
  HTTPCookie::AcceptPolicy httpCookieAcceptPolicy = HTTPCookie::AcceptPolicy::onlyFromMainDocumentDomain;
  // Credentials a challenge proposes and performDefaultHandling uses, and where a credential
  // the delegate gave with `forSession` (or longer) persistence is kept once it worked
  // (defaultConfiguration: URLCredentialStorage::shared(); ephemeral: one of its own).
  std::shared_ptr<URLCredentialStorage> urlCredentialStorage;
  bool httpShouldUsePipelining = false;
  // Applies to requests whose own cachePolicy is useProtocolCachePolicy (docs/caching.md).
  URLRequest::CachePolicy requestCachePolicy = URLRequest::CachePolicy::useProtocolCachePolicy;
  // Where data tasks find and keep responses (defaultConfiguration: URLCache::shared();
  // ephemeral: one of its own, in memory only; background: none).
  std::shared_ptr<URLCache> urlCache;
  // Protocols consulted before the globally registered ones and the built-in http/https/file/data.
  std::vector<URLProtocolClass> protocolClasses;
  // Proxy settings as Apple's keys: "HTTPEnable", "HTTPProxy", "HTTPPort", "HTTPSEnable",
  // "HTTPSProxy", "HTTPSPort". Empty: the environment's proxy variables apply (libcurl's rules).
  std::map<std::string, std::string> connectionProxyDictionary;
  // foundation_net extension: the interop version of the IETF "Resumable Uploads for HTTP" draft
  // that upload tasks announce (Upload-Draft-Interop-Version): 6 as iOS 18.1, 5 as iOS 18, 3 as
  // iOS 17; any other value (0) announces nothing, so uploads are never resumable.
  int resumableUploadInteropVersion = 6;

 private:
  std::optional<std::string> identifier_;
  bool ephemeral_ = false;
};

}  // namespace foundation

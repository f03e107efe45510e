// URLRequest: what to load and how (Swift's URLRequest, a value type).
#pragma once
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <foundation_net/Data.hpp>
#include <foundation_net/Date.hpp>
#include <foundation_net/URL.hpp>

namespace foundation {

class URLRequest {
 public:
  enum class CachePolicy {
    useProtocolCachePolicy = 0,
    reloadIgnoringLocalCacheData = 1,
    returnCacheDataElseLoad = 2,
    returnCacheDataDontLoad = 3,
    reloadIgnoringLocalAndRemoteCacheData = 4,
    reloadRevalidatingCacheData = 5,
  };
  enum class NetworkServiceType { defaultType = 0, voip = 1, video = 2, background = 3, voice = 4,
                                  responsiveData = 6, avStreaming = 8, responsiveAV = 9,
                                  callSignaling = 11 };

  explicit URLRequest(URL url, CachePolicy cachePolicy = CachePolicy::useProtocolCachePolicy,
                      TimeInterval timeoutInterval = 60);

  std::optional<URL> url;
  std::optional<URL> mainDocumentURL;
  std::string httpMethod = "GET";
  std::optional<Data> httpBody;
  TimeInterval timeoutInterval;
  CachePolicy cachePolicy;
  NetworkServiceType networkServiceType = NetworkServiceType::defaultType;
  bool httpShouldHandleCookies = true;
  bool httpShouldUsePipelining = false;
  bool allowsCellularAccess = true;
  bool allowsExpensiveNetworkAccess = true;
  bool allowsConstrainedNetworkAccess = true;
  bool assumesHTTP3Capable = false;

  // Replaces (or with nullopt removes) a header field; names compare case-insensitively.
  void setValue(std::optional<std::string> value, std::string_view field);
  // Appends to a header field, joining values with ",".
  void addValue(std::string_view value, std::string_view field);
  std::optional<std::string> value(std::string_view field) const;
  std::map<std::string, std::string> allHTTPHeaderFields() const;
  // The header fields in the order they were first set.
  const std::vector<std::pair<std::string, std::string>>& headerFields() const { return headers_; }
  void setAllHTTPHeaderFields(const std::map<std::string, std::string>& fields);

  // True when timeoutInterval was given to the constructor or set explicitly, i.e. it should
  // override the session's timeoutIntervalForRequest.
  bool hasExplicitTimeout() const;
  void setTimeoutInterval(TimeInterval seconds);

 private:
  std::vector<std::pair<std::string, std::string>> headers_;  // insertion order, unique names
  bool explicitTimeout_ = false;
  friend bool operator==(const URLRequest&, const URLRequest&);
};

bool operator==(const URLRequest&, const URLRequest&);

}  // namespace foundation

// HTTPCookie: one cookie, an immutable value as Apple's is. Sessions store the cookies their
// responses set in the configuration's HTTPCookieStorage and send the matching ones back.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <foundation_net/Date.hpp>
#include <foundation_net/URL.hpp>

namespace foundation {

class HTTPCookie;
namespace detail {
struct CookieFields;
HTTPCookie cookieFromFields(const CookieFields& fields);  // the library's own cookies (curl's, checked)
}  // namespace detail

// Apple's HTTPCookiePropertyKey strings, for HTTPCookie::make and HTTPCookie::properties.
namespace HTTPCookiePropertyKey {
inline constexpr const char* name = "Name";
inline constexpr const char* value = "Value";
inline constexpr const char* domain = "Domain";        // ".example.com": that domain and its subdomains
inline constexpr const char* originURL = "OriginURL";  // the domain (host only) when Domain is absent
inline constexpr const char* path = "Path";            // "/" when absent
inline constexpr const char* expires = "Expires";      // an HTTP date: "Wed, 21 Oct 2026 07:28:00 GMT"
inline constexpr const char* maximumAge = "Max-Age";   // seconds from now; wins over Expires
inline constexpr const char* discard = "Discard";      // "TRUE": a session cookie whatever its expiry
inline constexpr const char* secure = "Secure";        // "TRUE": sent over https only
inline constexpr const char* version = "Version";      // "0"
inline constexpr const char* sameSitePolicy = "SameSite";  // "Lax" or "Strict"
inline constexpr const char* httpOnly = "HttpOnly";        // CFNetwork's own key (not public on Apple)
}  // namespace HTTPCookiePropertyKey

class HTTPCookie {
 public:
  // Swift HTTPCookie.AcceptPolicy.
  enum class AcceptPolicy { always = 0, never = 1, onlyFromMainDocumentDomain = 2 };
  using Properties = std::map<std::string, std::string>;

  // Swift HTTPCookie(properties:): nullopt unless there is a name, a value and a domain (or an
  // origin URL with a host), and name and value are fit for a Cookie header (no ';', no control
  // characters, no '=' in the name). Boolean properties are "TRUE"/"true"/"1"/"yes".
  static std::optional<HTTPCookie> make(const Properties& properties);
  // Swift HTTPCookie.cookies(withResponseHeaderFields:for:): the cookies the "Set-Cookie" field
  // (several joined with ", ", as allHeaderFields has them) of a response from `url` sets,
  // parsed by libcurl's cookie engine, with RFC 6265's defaults for `url`: no Domain, only
  // its host; no Path, its directory. A Domain that `url`'s host is not in is dropped.
  static std::vector<HTTPCookie> cookies(const std::map<std::string, std::string>& responseHeaderFields, const URL& url);
  // Swift HTTPCookie.requestHeaderFields(with:): {"Cookie": "a=1; b=2"}, nothing for no cookies.
  static std::map<std::string, std::string> requestHeaderFields(const std::vector<HTTPCookie>& cookies);

  const std::string& name() const { return name_; }
  const std::string& value() const { return value_; }
  const std::string& domain() const { return domain_; }  // lower case; a leading '.' for a domain cookie
  const std::string& path() const { return path_; }
  std::optional<Date> expiresDate() const { return expires_; }  // none for a session cookie
  bool isSessionOnly() const { return !expires_; }
  bool isSecure() const { return secure_; }
  bool isHTTPOnly() const { return httpOnly_; }
  std::optional<std::string> sameSitePolicy() const { return sameSite_; }
  int version() const { return 0; }
  // The cookie as properties (Expires as an HTTP date), such that make(properties()) gives it back.
  Properties properties() const;

  // foundation_net: whether a request for `url` carries this cookie (RFC 6265: the host
  // domain-matches, the path path-matches, Secure only over https, not expired).
  bool isSentWith(const URL& url) const;
  bool isExpired(Date now = std::chrono::system_clock::now()) const { return expires_ && *expires_ <= now; }
  // The same cookie for a storage: same name, domain and path (a newer one replaces it).
  bool isSameCookie(const HTTPCookie& other) const;

  friend bool operator==(const HTTPCookie&, const HTTPCookie&) = default;

 private:
  friend HTTPCookie detail::cookieFromFields(const detail::CookieFields&);
  HTTPCookie() = default;

  std::string name_, value_, domain_, path_;
  std::optional<Date> expires_;
  bool secure_ = false, httpOnly_ = false;
  std::optional<std::string> sameSite_;
};

}  // namespace foundation

// What HTTPCookie and HTTPCookieStorage share with the http protocol: the fields a cookie is
// made of, and RFC 6265's domain match.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <foundation_net/HTTPCookie.hpp>

namespace foundation::detail {

struct CookieFields {
  std::string name, value;
  std::string domain;  // a leading '.' for a domain cookie, else the one host it goes to
  std::string path = "/";
  std::optional<Date> expires;  // none: a session cookie
  bool secure = false, httpOnly = false;
  std::optional<std::string> sameSite;
};

// Whether `host` (lower case) is `cookieDomain`'s host, or for a domain cookie (".example.com")
// that domain or one of its subdomains.
bool domainMatches(std::string_view host, std::string_view cookieDomain);
// Whether name and value can travel in a Cookie header and a Set-Cookie line of curl's.
bool isCookieToken(std::string_view name, std::string_view value);
// The fields of `cookie`, to make a changed copy with cookieFromFields.
CookieFields fieldsOf(const HTTPCookie& cookie);
// The Set-Cookie values an allHeaderFields value holds: split at the commas that begin a new
// "name=" (the comma in an Expires date does not).
std::vector<std::string> splitSetCookieField(std::string_view joined);
// RFC 6265 5.1.4: the path a cookie from `url` without a Path attribute gets.
std::string defaultCookiePath(const URL& url);
// Parses `lines` (Set-Cookie values from `url`) with libcurl's cookie engine, on the loop
// thread; defined with the protocol that uses that engine (protocols/CookieJar.cpp).
std::vector<HTTPCookie> parseSetCookieLines(const std::vector<std::string>& lines, const URL& url);

}  // namespace foundation::detail

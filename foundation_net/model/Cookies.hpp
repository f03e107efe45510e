// What HTTPCookie and HTTPCookieStorage share with the http protocol: the fields a cookie is
// made of, and RFC 6265's domain match.
#pragma once
#include <optional>
#include <string>
#include <string_view>

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

}  // namespace foundation::detail

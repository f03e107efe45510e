#include <foundation_net/HTTPCookie.hpp>

#include <cstdio>
#include <ctime>

#include <curl/curl.h>

#include "model/Cookies.hpp"
#include "model/Text.hpp"

namespace foundation {

namespace detail {

bool domainMatches(std::string_view host, std::string_view cookieDomain) {
  if (cookieDomain.empty()) return false;
  if (cookieDomain.front() != '.') return host == cookieDomain;
  std::string_view bare = cookieDomain.substr(1);
  if (host == bare) return true;
  return host.size() > cookieDomain.size() && host.ends_with(cookieDomain);
}

bool isCookieToken(std::string_view name, std::string_view value) {
  auto fits = [](std::string_view text, bool isName) {
    for (unsigned char c : text)
      if (c < 0x20 || c == 0x7f || c == ';' || (isName && (c == '=' || c == ' ' || c == '\t'))) return false;
    return true;
  };
  return !name.empty() && fits(name, true) && fits(value, false);
}

CookieFields fieldsOf(const HTTPCookie& cookie) {
  CookieFields fields;
  fields.name = cookie.name();
  fields.value = cookie.value();
  fields.domain = cookie.domain();
  fields.path = cookie.path();
  fields.expires = cookie.expiresDate();
  fields.secure = cookie.isSecure();
  fields.httpOnly = cookie.isHTTPOnly();
  fields.sameSite = cookie.sameSitePolicy();
  return fields;
}

std::vector<std::string> splitSetCookieField(std::string_view joined) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t comma = joined.find(','); comma != std::string_view::npos; comma = joined.find(',', comma + 1)) {
    // A new cookie starts here when a '=' comes before the next ';' or ','.
    auto rest = joined.substr(comma + 1);
    auto end = rest.find_first_of(";,");
    auto equals = rest.find('=');
    if (equals == std::string_view::npos || (end != std::string_view::npos && equals > end)) continue;
    if (auto line = text::trimmed(joined.substr(start, comma - start)); !line.empty()) lines.emplace_back(line);
    start = comma + 1;
  }
  if (auto line = text::trimmed(joined.substr(start)); !line.empty()) lines.emplace_back(line);
  return lines;
}

std::string defaultCookiePath(const URL& url) {
  const std::string path = url.path();
  const auto slash = path.rfind('/');
  if (path.empty() || path.front() != '/' || slash == 0) return "/";
  return path.substr(0, slash);
}

HTTPCookie cookieFromFields(const CookieFields& fields) {
  HTTPCookie cookie;
  cookie.name_ = fields.name;
  cookie.value_ = fields.value;
  cookie.domain_ = text::lowercased(fields.domain);
  cookie.path_ = fields.path.empty() || fields.path.front() != '/' ? "/" : fields.path;
  cookie.expires_ = fields.expires;
  cookie.secure_ = fields.secure;
  cookie.httpOnly_ = fields.httpOnly;
  cookie.sameSite_ = fields.sameSite;
  return cookie;
}

}  // namespace detail

namespace {

bool isTrue(const HTTPCookie::Properties& properties, const char* key) {
  auto it = properties.find(key);
  if (it == properties.end()) return false;
  auto value = text::lowercased(it->second);
  return value == "true" || value == "1" || value == "yes";
}

}  // namespace

std::optional<HTTPCookie> HTTPCookie::make(const Properties& properties) {
  auto get = [&](const char* key) -> std::optional<std::string> {
    auto it = properties.find(key);
    return it == properties.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  detail::CookieFields fields;
  auto name = get(HTTPCookiePropertyKey::name);
  auto value = get(HTTPCookiePropertyKey::value);
  if (!name || !value || !detail::isCookieToken(*name, *value)) return std::nullopt;
  fields.name = *name;
  fields.value = *value;
  if (auto domain = get(HTTPCookiePropertyKey::domain); domain && !domain->empty()) {
    fields.domain = *domain;
  } else if (auto origin = get(HTTPCookiePropertyKey::originURL)) {
    try {
      fields.domain = URL(*origin).host();
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  if (fields.domain.empty() || fields.domain == "." || !detail::isCookieToken("d", fields.domain)) return std::nullopt;
  if (auto path = get(HTTPCookiePropertyKey::path)) {
    if (!detail::isCookieToken("p", *path)) return std::nullopt;
    fields.path = *path;
  }
  if (auto maxAge = get(HTTPCookiePropertyKey::maximumAge)) {
    long long seconds = 0;
    if (std::sscanf(maxAge->c_str(), "%lld", &seconds) != 1) return std::nullopt;
    fields.expires = std::chrono::system_clock::now() + std::chrono::seconds(seconds);
  } else if (auto expires = get(HTTPCookiePropertyKey::expires)) {
    const std::time_t when = curl_getdate(expires->c_str(), nullptr);
    if (when == -1) return std::nullopt;
    fields.expires = std::chrono::system_clock::from_time_t(when);
  }
  if (isTrue(properties, HTTPCookiePropertyKey::discard)) fields.expires.reset();
  fields.secure = isTrue(properties, HTTPCookiePropertyKey::secure);
  fields.httpOnly = isTrue(properties, HTTPCookiePropertyKey::httpOnly);
  if (auto sameSite = get(HTTPCookiePropertyKey::sameSitePolicy)) fields.sameSite = *sameSite;
  return detail::cookieFromFields(fields);
}

std::vector<HTTPCookie> HTTPCookie::cookies(const std::map<std::string, std::string>& responseHeaderFields,
                                            const URL& url) {
  std::vector<std::string> lines;
  for (const auto& [name, value] : responseHeaderFields)
    if (text::equalsIgnoringCase(name, "Set-Cookie"))
      for (auto& line : detail::splitSetCookieField(value)) lines.push_back(std::move(line));
  if (lines.empty() || url.host().empty()) return {};
  return detail::parseSetCookieLines(lines, url);
}

std::map<std::string, std::string> HTTPCookie::requestHeaderFields(const std::vector<HTTPCookie>& cookies) {
  if (cookies.empty()) return {};
  std::string line;
  for (const auto& cookie : cookies) {
    if (!line.empty()) line += "; ";
    line += cookie.name() + "=" + cookie.value();
  }
  return {{"Cookie", std::move(line)}};
}

HTTPCookie::Properties HTTPCookie::properties() const {
  Properties p{{HTTPCookiePropertyKey::name, name_},
               {HTTPCookiePropertyKey::value, value_},
               {HTTPCookiePropertyKey::domain, domain_},
               {HTTPCookiePropertyKey::path, path_},
               {HTTPCookiePropertyKey::version, "0"}};
  if (expires_) p[HTTPCookiePropertyKey::expires] = text::httpDate(*expires_);
  if (secure_) p[HTTPCookiePropertyKey::secure] = "TRUE";
  if (httpOnly_) p[HTTPCookiePropertyKey::httpOnly] = "TRUE";
  if (sameSite_) p[HTTPCookiePropertyKey::sameSitePolicy] = *sameSite_;
  return p;
}

bool HTTPCookie::isSentWith(const URL& url) const {
  const auto scheme = url.scheme();
  if (scheme != "http" && scheme != "https") return false;
  if (secure_ && scheme != "https") return false;
  if (isExpired() || !detail::domainMatches(text::lowercased(url.host()), domain_)) return false;
  // RFC 6265 5.1.4: the cookie's path is the request path or a directory of it.
  std::string requestPath = url.path();
  if (requestPath.empty()) requestPath = "/";
  if (!requestPath.starts_with(path_)) return false;
  return requestPath.size() == path_.size() || path_.back() == '/' || requestPath[path_.size()] == '/';
}

bool HTTPCookie::isSameCookie(const HTTPCookie& other) const {
  return name_ == other.name_ && domain_ == other.domain_ && path_ == other.path_;
}

}  // namespace foundation

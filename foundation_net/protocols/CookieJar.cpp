#include "protocols/CookieJar.hpp"

#include <algorithm>
#include <charconv>
#include <future>

#include <fmt/format.h>
#include <libpsl.h>

#include "engine/Loop.hpp"
#include "model/Cookies.hpp"
#include "model/Text.hpp"

namespace foundation::detail {

namespace {

constexpr std::string_view httpOnlyPrefix = "#HttpOnly_";

std::vector<HTTPCookie> handleCookies(CURL* easy) {
  std::vector<HTTPCookie> cookies;
  curl_slist* list = nullptr;
  if (curl_easy_getinfo(easy, CURLINFO_COOKIELIST, &list) != CURLE_OK) return cookies;
  for (auto* item = list; item; item = item->next)
    if (auto cookie = CookieJar::fromNetscapeLine(item->data)) cookies.push_back(std::move(*cookie));
  curl_slist_free_all(list);
  return cookies;
}

// Which of Domain and Path a Set-Cookie value gives a usable value.
struct GivenAttributes {
  bool domain = false, path = false;
};
GivenAttributes givenAttributes(std::string_view line) {
  GivenAttributes given;
  for (auto semicolon = line.find(';'); semicolon != std::string_view::npos; semicolon = line.find(';')) {
    line.remove_prefix(semicolon + 1);
    const auto attribute = text::trimmed(line.substr(0, line.find(';')));
    const auto equals = attribute.find('=');
    const auto name = text::lowercased(text::trimmed(attribute.substr(0, equals)));
    const auto value = equals == std::string_view::npos ? std::string_view() : text::trimmed(attribute.substr(equals + 1));
    if (name == "domain" && !value.empty()) given.domain = true;
    if (name == "path" && value.starts_with('/')) given.path = true;
  }
  return given;
}

// Whether `after`, read back from curl, is `before` as loaded: the same in all curl keeps
// (its expiry to the second; it has no SameSite).
bool curlKeepsItAsItWas(const HTTPCookie& before, const HTTPCookie& after) {
  auto seconds = [](const std::optional<Date>& date) {
    return date ? std::optional<std::time_t>(std::chrono::system_clock::to_time_t(*date)) : std::nullopt;
  };
  return before.value() == after.value() && seconds(before.expiresDate()) == seconds(after.expiresDate()) &&
         before.isSecure() == after.isSecure() && before.isHTTPOnly() == after.isHTTPOnly();
}

// Whether a cookie for `domain` may be set by `host` as far as public suffixes go (a site may
// not set a cookie for "co.uk"). curl checks this only inside a transfer; lines handed to it
// with CURLOPT_COOKIELIST are taken as they are. The system's list when it has one (Debian's
// publicsuffix package), else the one built into libpsl.
bool publicSuffixAllows(const std::string& host, std::string_view domain) {
  static const psl_ctx_t* const list = []() -> const psl_ctx_t* {
    if (const psl_ctx_t* latest = psl_latest(nullptr)) return latest;
    return psl_builtin();
  }();
  if (!list) return true;  // no list at all: as curl, which then checks nothing either
  if (domain.starts_with('.')) domain.remove_prefix(1);
  return psl_is_cookie_domain_acceptable(list, host.c_str(), std::string(domain).c_str()) != 0;
}

}  // namespace

std::vector<HTTPCookie> parseSetCookieLines(const std::vector<std::string>& lines, const URL& url) {
  auto parse = [&] {
    std::vector<HTTPCookie> cookies;
    CURL* easy = curl_easy_init();
    if (!easy) return cookies;
    curl_easy_setopt(easy, CURLOPT_COOKIEJAR, nullptr);
    const auto host = text::lowercased(url.host());
    for (const auto& line : lines) {
      if (line.find_first_of("\r\n") != std::string::npos) continue;
      // One line at a time: curl is not told the response's URL, so its defaults are set here.
      // (curl drops a cookie it has no domain for: a host-only one is parsed with the host as
      // its Domain, then made host-only again.)
      const auto given = givenAttributes(line);
      const auto header = "Set-Cookie: " + line + (given.domain ? "" : "; Domain=" + host);
      curl_easy_setopt(easy, CURLOPT_COOKIELIST, header.c_str());
      for (const auto& cookie : handleCookies(easy)) {
        auto fields = fieldsOf(cookie);
        if (!given.domain) {
          fields.domain = host;  // host-only
        } else if (!domainMatches(host, cookie.domain()) || !publicSuffixAllows(host, cookie.domain())) {
          continue;  // RFC 6265 5.3 steps 5 and 6: a public suffix, or a domain the host is not in
        }
        if (!given.path) fields.path = defaultCookiePath(url);
        cookies.push_back(cookieFromFields(fields));
      }
      CookieJar::clear(easy);
    }
    curl_easy_cleanup(easy);
    return cookies;
  };
  auto& loop = engine::Loop::shared();
  if (loop.isLoopThread()) return parse();
  std::promise<std::vector<HTTPCookie>> parsed;
  auto result = parsed.get_future();
  loop.post([&] { parsed.set_value(parse()); });  // libcurl calls stay on the loop thread
  return result.get();
}

std::string CookieJar::netscapeLine(const HTTPCookie& cookie) {
  const bool domainCookie = cookie.domain().starts_with('.');
  const long long expires =
      cookie.expiresDate() ? std::max<long long>(1, std::chrono::system_clock::to_time_t(*cookie.expiresDate())) : 0;
  return fmt::format("{}{}\t{}\t{}\t{}\t{}\t{}\t{}", cookie.isHTTPOnly() ? httpOnlyPrefix : "", cookie.domain(),
                     domainCookie ? "TRUE" : "FALSE", cookie.path(), cookie.isSecure() ? "TRUE" : "FALSE", expires,
                     cookie.name(), cookie.value());
}

std::optional<HTTPCookie> CookieJar::fromNetscapeLine(std::string_view line) {
  CookieFields fields;
  if (line.starts_with(httpOnlyPrefix)) {
    fields.httpOnly = true;
    line.remove_prefix(httpOnlyPrefix.size());
  }
  std::string_view parts[7];
  for (int i = 0; i < 7; ++i) {
    auto tab = i < 6 ? line.find('\t') : std::string_view::npos;
    if (i < 6 && tab == std::string_view::npos) return std::nullopt;
    parts[i] = line.substr(0, tab);
    line = i < 6 ? line.substr(tab + 1) : std::string_view();
  }
  const bool tailmatch = parts[1] == "TRUE";
  std::string_view domain = parts[0];
  while (domain.starts_with('.')) domain.remove_prefix(1);
  fields.domain = (tailmatch ? "." : "") + std::string(domain);
  fields.path = std::string(parts[2]);
  fields.secure = parts[3] == "TRUE";
  long long expires = 0;
  if (std::from_chars(parts[4].data(), parts[4].data() + parts[4].size(), expires).ec != std::errc()) return std::nullopt;
  if (expires != 0) fields.expires = std::chrono::system_clock::from_time_t(static_cast<std::time_t>(expires));
  fields.name = std::string(parts[5]);
  fields.value = std::string(parts[6]);
  if (domain.empty() || !isCookieToken(fields.name, fields.value)) return std::nullopt;
  return cookieFromFields(fields);
}

void CookieJar::load(CURL* easy, const URL& url, bool sendStored) {
  // Turns the engine on, or keeps it on for a reused handle, with no file to write. (Not
  // CURLOPT_COOKIEFILE "": each call appends to a list a reused handle keeps, and every
  // transfer walks it.)
  curl_easy_setopt(easy, CURLOPT_COOKIEJAR, nullptr);
  if (!sendStored) return;
  const auto host = text::lowercased(url.host());
  const bool https = url.scheme() == "https";
  // curl picks by path itself; the host filter keeps the list (and the diff) short. Secure
  // cookies stay off plain http, loopback included (curl counts that as a secure context).
  for (auto& cookie : storage_->cookies()) {
    if (!domainMatches(host, cookie.domain()) || (cookie.isSecure() && !https)) continue;
    curl_easy_setopt(easy, CURLOPT_COOKIELIST, netscapeLine(cookie).c_str());
    known_.push_back(std::move(cookie));
  }
}

void CookieJar::collect(CURL* easy) {
  auto now = handleCookies(easy);
  if (policy_ != HTTPCookie::AcceptPolicy::never) {
    for (const auto& cookie : now) {
      auto it = std::find_if(known_.begin(), known_.end(), [&](const HTTPCookie& k) { return k.isSameCookie(cookie); });
      if (it != known_.end() && curlKeepsItAsItWas(*it, cookie)) continue;
      if (!HTTPCookieStorage::accepts(policy_, cookie, mainDocumentURL_)) continue;
      // An expired one deletes the stored cookie of that name, domain and path. curl has no
      // SameSite: a cookie it only changed keeps the stored one's.
      auto fields = fieldsOf(cookie);
      if (it != known_.end()) fields.sameSite = it->sameSitePolicy();
      storage_->setCookie(cookieFromFields(fields));
    }
    for (const auto& cookie : known_) {
      // Gone from curl's list: a Set-Cookie expired it.
      bool kept = std::any_of(now.begin(), now.end(), [&](const HTTPCookie& c) { return c.isSameCookie(cookie); });
      if (!kept && HTTPCookieStorage::accepts(policy_, cookie, mainDocumentURL_)) storage_->deleteCookie(cookie);
    }
  }
  known_ = std::move(now);
}

void CookieJar::clear(CURL* easy) { curl_easy_setopt(easy, CURLOPT_COOKIELIST, "ALL"); }

}  // namespace foundation::detail

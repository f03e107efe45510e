#include <foundation_net/HTTPCookieStorage.hpp>

#include <algorithm>

#include <foundation_net/URLSessionTask.hpp>

#include "model/Cookies.hpp"
#include "model/Text.hpp"

namespace foundation {

std::shared_ptr<HTTPCookieStorage> HTTPCookieStorage::shared() {
  static const auto storage = std::make_shared<HTTPCookieStorage>();
  return storage;
}

std::vector<HTTPCookie> HTTPCookieStorage::cookies() const {
  std::lock_guard lock(mutex_);
  const auto now = std::chrono::system_clock::now();
  std::erase_if(entries_, [&](const Entry& e) { return e.cookie.isExpired(now); });
  std::vector<HTTPCookie> all;
  all.reserve(entries_.size());
  for (const auto& entry : entries_) all.push_back(entry.cookie);
  return all;
}

std::vector<HTTPCookie> HTTPCookieStorage::cookies(const URL& url) const {
  auto all = cookies();
  std::erase_if(all, [&](const HTTPCookie& cookie) { return !cookie.isSentWith(url); });
  // RFC 6265 5.4: longer paths first; among equal paths, the older cookie first (stable sort).
  std::stable_sort(all.begin(), all.end(),
                   [](const HTTPCookie& a, const HTTPCookie& b) { return a.path().size() > b.path().size(); });
  return all;
}

void HTTPCookieStorage::setCookie(const HTTPCookie& cookie) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.cookie.isSameCookie(cookie); });
  if (cookie.isExpired()) {
    if (it != entries_.end()) entries_.erase(it);
  } else if (it != entries_.end()) {
    it->cookie = cookie;
  } else {
    entries_.push_back({cookie, std::chrono::system_clock::now()});
  }
}

void HTTPCookieStorage::deleteCookie(const HTTPCookie& cookie) {
  std::lock_guard lock(mutex_);
  std::erase_if(entries_, [&](const Entry& e) { return e.cookie.isSameCookie(cookie); });
}

void HTTPCookieStorage::removeCookies(Date date) {
  std::lock_guard lock(mutex_);
  std::erase_if(entries_, [&](const Entry& e) { return e.created >= date; });
}

bool HTTPCookieStorage::accepts(HTTPCookie::AcceptPolicy policy, const HTTPCookie& cookie,
                                const std::optional<URL>& mainDocumentURL) {
  switch (policy) {
    case HTTPCookie::AcceptPolicy::always: return true;
    case HTTPCookie::AcceptPolicy::never: return false;
    case HTTPCookie::AcceptPolicy::onlyFromMainDocumentDomain:
      if (!mainDocumentURL || mainDocumentURL->host().empty()) return true;
      {
        // The page's domain: its host, and the cookie may be for a domain that host is in.
        const auto page = text::lowercased(mainDocumentURL->host());
        const std::string_view domain = cookie.domain();
        const std::string_view bare = domain.starts_with('.') ? domain.substr(1) : domain;
        return detail::domainMatches(page, domain) || detail::domainMatches(bare, "." + page);
      }
  }
  return false;
}

void HTTPCookieStorage::setCookies(const std::vector<HTTPCookie>& cookies, const URL&,
                                   const std::optional<URL>& mainDocumentURL) {
  const auto policy = cookieAcceptPolicy();
  for (const auto& cookie : cookies)
    if (accepts(policy, cookie, mainDocumentURL)) setCookie(cookie);
}

void HTTPCookieStorage::storeCookies(const std::vector<HTTPCookie>& cookies, const URLSessionTask& task) {
  auto request = task.currentRequest();
  if (!request || !request->url) return;
  setCookies(cookies, *request->url, request->mainDocumentURL);
}

void HTTPCookieStorage::getCookiesFor(
    const URLSessionTask& task, const std::function<void(std::optional<std::vector<HTTPCookie>>)>& completionHandler) const {
  auto request = task.currentRequest();
  if (!request || !request->url) return completionHandler(std::nullopt);
  completionHandler(cookies(*request->url));
}

HTTPCookie::AcceptPolicy HTTPCookieStorage::cookieAcceptPolicy() const {
  std::lock_guard lock(mutex_);
  return policy_;
}

void HTTPCookieStorage::setCookieAcceptPolicy(HTTPCookie::AcceptPolicy policy) {
  std::lock_guard lock(mutex_);
  policy_ = policy;
}

}  // namespace foundation

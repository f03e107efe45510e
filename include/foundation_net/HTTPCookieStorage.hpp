// HTTPCookieStorage: the cookies sessions send and store (URLSessionConfiguration::httpCookieStorage).
// Thread-safe, like Apple's. Kept in memory: nothing is written to disk (docs/porting.md).
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <foundation_net/Date.hpp>
#include <foundation_net/HTTPCookie.hpp>
#include <foundation_net/URL.hpp>

namespace foundation {

class URLSessionTask;

class HTTPCookieStorage {
 public:
  // Swift HTTPCookieStorage.shared: the process's storage, which default configurations use.
  static std::shared_ptr<HTTPCookieStorage> shared();
  // An empty storage of its own, as each ephemeral configuration gets.
  HTTPCookieStorage() = default;
  HTTPCookieStorage(const HTTPCookieStorage&) = delete;
  HTTPCookieStorage& operator=(const HTTPCookieStorage&) = delete;

  // Swift `cookies`: every cookie not expired, oldest first.
  std::vector<HTTPCookie> cookies() const;
  // Swift cookies(for:): the cookies a request for `url` carries.
  std::vector<HTTPCookie> cookies(const URL& url) const;
  // Stores `cookie`, replacing the one with the same name, domain and path (keeping its
  // creation time); an expired cookie only removes that one.
  void setCookie(const HTTPCookie& cookie);
  void deleteCookie(const HTTPCookie& cookie);
  // Swift removeCookies(since:): removes the cookies first stored at or after `date`.
  void removeCookies(Date date);
  // Swift setCookies(_:for:mainDocumentURL:): stores those cookies that cookieAcceptPolicy
  // accepts for a page `mainDocumentURL` (onlyFromMainDocumentDomain: the cookie's domain
  // must domain-match its host; no main document: accepted). `url` is the request's.
  void setCookies(const std::vector<HTTPCookie>& cookies, const URL& url, const std::optional<URL>& mainDocumentURL);
  // Swift storeCookies(_:for:) and getCookiesFor(_:completionHandler:): the task's current request.
  void storeCookies(const std::vector<HTTPCookie>& cookies, const URLSessionTask& task);
  void getCookiesFor(const URLSessionTask& task, const std::function<void(std::optional<std::vector<HTTPCookie>>)>& completionHandler) const;

  // The policy setCookies applies. Sessions apply their configuration's httpCookieAcceptPolicy instead.
  HTTPCookie::AcceptPolicy cookieAcceptPolicy() const;
  void setCookieAcceptPolicy(HTTPCookie::AcceptPolicy policy);

  // foundation_net: whether `policy` lets a response to a request whose main document is
  // `mainDocumentURL` set `cookie`.
  static bool accepts(HTTPCookie::AcceptPolicy policy, const HTTPCookie& cookie, const std::optional<URL>& mainDocumentURL);

 private:
  struct Entry {
    HTTPCookie cookie;
    Date created;
  };
  mutable std::mutex mutex_;
  mutable std::vector<Entry> entries_;  // expired ones are dropped whenever they are seen
  HTTPCookie::AcceptPolicy policy_ = HTTPCookie::AcceptPolicy::always;  // Apple's default for a storage
};

}  // namespace foundation

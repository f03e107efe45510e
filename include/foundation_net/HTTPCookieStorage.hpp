// HTTPCookieStorage: the cookies sessions send and store (URLSessionConfiguration::httpCookieStorage).
// Thread-safe, like Apple's. The shared storage, like Apple's, keeps the cookies that have an
// expiry across launches of the program, in $XDG_DATA_HOME/<app>/Cookies.db, and sees what
// other processes (urlsessiond's background transfers among them) store there; session
// cookies and the storages of ephemeral sessions live in memory only (docs/cookies.md).
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <foundation_net/Date.hpp>
#include <foundation_net/HTTPCookie.hpp>
#include <foundation_net/URL.hpp>

namespace foundation {

class URLSessionTask;
class HTTPCookieStorage;

namespace detail {
// The file of a storage that has one (for urlsessiond, which keeps a background session's
// cookies in its app's file).
std::optional<std::string> cookieFileOf(const HTTPCookieStorage& storage);
// Reads the storage's file again now if another process changed it (which a storage otherwise
// checks at most once a second).
void refreshCookies(const HTTPCookieStorage& storage);
}  // namespace detail

class HTTPCookieStorage {
 public:
  // Swift HTTPCookieStorage.shared: the process's storage, which default configurations use,
  // kept in $XDG_DATA_HOME/<app>/Cookies.db (~/.local/share/<app>/…; <app> as
  // FOUNDATION_NET_APP_ID or the executable's name). Never destroyed: what is still to be
  // written goes to the file when the process exits normally.
  static std::shared_ptr<HTTPCookieStorage> shared();
  // Swift sharedCookieStorage(forGroupContainerIdentifier:): the storage that the programs
  // using `groupContainerIdentifier` share, kept in $XDG_DATA_HOME/<identifier>/Cookies.db;
  // the same object for the same identifier within a process. Throws std::invalid_argument for
  // an identifier that is not a folder name (empty, ".", "..", or with a '/').
  static std::shared_ptr<HTTPCookieStorage> sharedCookieStorage(const std::string& groupContainerIdentifier);
  // An empty storage in memory, as each ephemeral configuration gets.
  HTTPCookieStorage();
  // foundation_net: a storage that keeps its cookies with an expiry in `file` (SQLite), as
  // shared() does: read when a cookie is first needed, changes written within half a second
  // (off the caller's thread), at flush() and when the storage is destroyed. A file that is
  // not such a database is left alone, and the storage then lives in memory.
  explicit HTTPCookieStorage(std::string file);
  ~HTTPCookieStorage();
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

  // foundation_net: writes the changes not yet in the storage's file now (nothing without a
  // file). URLSession::flush calls it for the session's storage, as Apple's flush writes cookies.
  void flush();

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
  friend std::optional<std::string> detail::cookieFileOf(const HTTPCookieStorage&);
  friend void detail::refreshCookies(const HTTPCookieStorage&);
  struct Persistence;
  // Reads the file's cookies if that is still to be done, or again when another process has
  // changed the file (checked at most once a second unless `now`). Call without holding mutex_.
  void load(bool now = false) const;
  // Replaces memory's cookies with the file's, then applies what is still to be written and
  // keeps memory's session cookies. The caller holds the file mutex.
  void reload() const;
  // Writes the queued changes (the writer's thread, flush, the destructor).
  void writePending();

  mutable std::mutex mutex_;
  mutable std::vector<Entry> entries_;  // expired ones are dropped whenever they are seen
  HTTPCookie::AcceptPolicy policy_ = HTTPCookie::AcceptPolicy::always;  // Apple's default for a storage
  const std::unique_ptr<Persistence> persistence_;  // null: memory only
};

}  // namespace foundation

#include <foundation_net/HTTPCookieStorage.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>

#include <foundation_net/URLSessionTask.hpp>

#include "background/Protocol.hpp"
#include "dispatch/DelayedWriter.hpp"
#include "model/Cookies.hpp"
#include "model/Text.hpp"
#include "platform/Process.hpp"
#include "storage/CookieFile.hpp"

namespace foundation {

using Change = detail::CookieFile::Change;

// A storage's file, and the changes that are still to reach it.
struct HTTPCookieStorage::Persistence {
  Persistence(std::string path, std::function<void()> write) : file(std::move(path)), writer(writeDelay, std::move(write)) {}

  // Changes wait this long for more to join them: a page load's cookies cost one transaction.
  static constexpr std::chrono::milliseconds writeDelay{500};

  // Queues `change` (the caller holds the storage's mutex).
  void queue(Change change) {
    pending.push_back(std::move(change));
    writer.request();
  }
  // A cookie with an expiry is stored in the file; a session cookie takes the place of any
  // stored one of its name, domain and path, so that one is removed.
  void queueStore(const HTTPCookie& cookie, Date created) {
    if (cookie.isSessionOnly()) return queue(Change{Change::Kind::remove, cookie, {}});
    queue(Change{Change::Kind::store, cookie, created});
  }

  // How often a storage looks for other processes' changes to its file.
  static constexpr std::chrono::seconds checkInterval{1};

  std::mutex fileMutex;  // held while the file is read or written; taken before the storage's mutex
  detail::CookieFile file;
  std::atomic<bool> loaded{false};
  std::atomic<std::chrono::steady_clock::rep> nextCheck{0};  // steady_clock ticks
  std::vector<Change> pending;  // under the storage's mutex, in the order made
  detail::DelayedWriter writer;  // last: stopped before the rest is destroyed
};

namespace {

std::string dataFolder(const std::string& name) {
  return platform::userDirectory("XDG_DATA_HOME", ".local/share") + "/" + name;
}

std::mutex registryMutex;

// The process-wide storages (shared(), the group containers'), by file. Never destroyed:
// sessions on other threads may use them until exit; an exit handler writes what is pending,
// as the destructor would.
std::map<std::string, std::shared_ptr<HTTPCookieStorage>>& registry() {
  static auto* const storages = new std::map<std::string, std::shared_ptr<HTTPCookieStorage>>();
  return *storages;
}

void flushAllAtExit() {
  std::vector<std::shared_ptr<HTTPCookieStorage>> storages;
  {
    std::lock_guard lock(registryMutex);
    for (const auto& [file, storage] : registry()) storages.push_back(storage);
  }
  for (const auto& storage : storages) storage->flush();
}

std::shared_ptr<HTTPCookieStorage> processStorage(const std::string& file) {
  std::lock_guard lock(registryMutex);
  auto& slot = registry()[file];
  if (!slot) {
    slot = std::make_shared<HTTPCookieStorage>(file);
    static std::once_flag once;
    std::call_once(once, [] { std::atexit(flushAllAtExit); });
  }
  return slot;
}

}  // namespace

std::shared_ptr<HTTPCookieStorage> HTTPCookieStorage::shared() {
  static const auto storage = processStorage(dataFolder(background::appIdentifier()) + "/Cookies.db");
  return storage;
}

std::shared_ptr<HTTPCookieStorage> HTTPCookieStorage::sharedCookieStorage(const std::string& groupContainerIdentifier) {
  // A folder name, never a path out of the data folder.
  if (groupContainerIdentifier.empty() || groupContainerIdentifier == "." || groupContainerIdentifier == ".." ||
      groupContainerIdentifier.find('/') != std::string::npos)
    throw std::invalid_argument("sharedCookieStorage: not a group container identifier: \"" + groupContainerIdentifier + "\"");
  return processStorage(dataFolder(groupContainerIdentifier) + "/Cookies.db");
}

HTTPCookieStorage::HTTPCookieStorage() = default;

HTTPCookieStorage::HTTPCookieStorage(std::string file)
    : persistence_(std::make_unique<Persistence>(std::move(file), [this] { writePending(); })) {}

HTTPCookieStorage::~HTTPCookieStorage() {
  if (!persistence_) return;
  persistence_->writer.stop();
  writePending();  // what a failed write gave back
}

void HTTPCookieStorage::load(bool now) const {
  if (!persistence_) return;
  auto& p = *persistence_;
  const auto clock = std::chrono::steady_clock::now();
  if (p.loaded && !now && clock.time_since_epoch().count() < p.nextCheck) return;
  std::unique_lock fileLock(p.fileMutex, std::defer_lock);
  if (!p.loaded || now) {
    fileLock.lock();
  } else if (!fileLock.try_lock()) {
    // A writer at the file (perhaps waiting out another process's lock) must not hold up the
    // caller, often the network thread: memory stands until the next check.
    return;
  }
  p.nextCheck = (clock + Persistence::checkInterval).time_since_epoch().count();
  if (!p.loaded) {
    auto rows = p.file.read();
    std::lock_guard lock(mutex_);
    entries_.reserve(rows.size());
    for (auto& row : rows) entries_.push_back(Entry{std::move(row.cookie), row.created});
    p.loaded = true;
  } else if (p.file.changedElsewhere()) {
    reload();
  }
}

void HTTPCookieStorage::reload() const {
  auto rows = persistence_->file.read();
  std::lock_guard lock(mutex_);
  std::vector<Entry> entries;
  entries.reserve(rows.size() + entries_.size());
  for (auto& row : rows) entries.push_back(Entry{std::move(row.cookie), row.created});
  auto same = [](const HTTPCookie& cookie) { return [c = &cookie](const Entry& e) { return e.cookie.isSameCookie(*c); }; };
  // The changes the file does not have yet, in the order they were made.
  for (const auto& change : persistence_->pending) {
    switch (change.kind) {
      case Change::Kind::store:
        std::erase_if(entries, same(*change.cookie));
        entries.push_back(Entry{*change.cookie, change.date});
        break;
      case Change::Kind::remove: std::erase_if(entries, same(*change.cookie)); break;
      case Change::Kind::removeSince:
        std::erase_if(entries, [&](const Entry& e) { return e.created >= change.date; });
        break;
    }
  }
  // Session cookies are memory's alone; each takes the place of a stored one of its name.
  for (const auto& entry : entries_) {
    if (!entry.cookie.isSessionOnly()) continue;
    std::erase_if(entries, same(entry.cookie));
    entries.push_back(entry);
  }
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.created < b.created; });
  entries_ = std::move(entries);
}

std::optional<std::string> detail::cookieFileOf(const HTTPCookieStorage& storage) {
  if (!storage.persistence_) return std::nullopt;
  return storage.persistence_->file.path();
}

void detail::refreshCookies(const HTTPCookieStorage& storage) { storage.load(true); }

void HTTPCookieStorage::writePending() {
  std::lock_guard fileLock(persistence_->fileMutex);
  std::vector<Change> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(persistence_->pending);
  }
  // A file unusable for good: the storage lives in memory, and keeps no changes for it.
  if (batch.empty() || persistence_->file.write(batch) || !persistence_->file.usable()) return;
  // Not written (a full disk, a lock held too long): kept, ahead of newer changes, for the
  // next write, so that the file never misses a removal that memory made.
  std::lock_guard lock(mutex_);
  batch.insert(batch.end(), std::make_move_iterator(persistence_->pending.begin()),
               std::make_move_iterator(persistence_->pending.end()));
  persistence_->pending = std::move(batch);
}

void HTTPCookieStorage::flush() {
  if (persistence_) writePending();
}

std::vector<HTTPCookie> HTTPCookieStorage::cookies() const {
  load();
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
  load();
  std::lock_guard lock(mutex_);
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.cookie.isSameCookie(cookie); });
  if (cookie.isExpired()) {
    if (it != entries_.end()) entries_.erase(it);
    if (persistence_) persistence_->queue(Change{Change::Kind::remove, cookie, {}});
    return;
  }
  if (it != entries_.end()) {
    it->cookie = cookie;
  } else {
    it = entries_.insert(entries_.end(), Entry{cookie, std::chrono::system_clock::now()});
  }
  if (persistence_) persistence_->queueStore(cookie, it->created);
}

void HTTPCookieStorage::deleteCookie(const HTTPCookie& cookie) {
  load();
  std::lock_guard lock(mutex_);
  std::erase_if(entries_, [&](const Entry& e) { return e.cookie.isSameCookie(cookie); });
  if (persistence_) persistence_->queue(Change{Change::Kind::remove, cookie, {}});
}

void HTTPCookieStorage::removeCookies(Date date) {
  load();
  std::lock_guard lock(mutex_);
  std::erase_if(entries_, [&](const Entry& e) { return e.created >= date; });
  if (persistence_) persistence_->queue(Change{Change::Kind::removeSince, std::nullopt, date});
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

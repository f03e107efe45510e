// URLCache: responses kept for later requests, in memory and in a SQLite file on disk
// (URLSessionConfiguration::urlCache). Thread-safe, like Apple's. Which responses sessions
// store and when they use them: docs/caching.md.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <foundation_net/CachedURLResponse.hpp>
#include <foundation_net/Date.hpp>
#include <foundation_net/URLRequest.hpp>

namespace foundation {

class URLSessionDataTask;

class URLCache {
 public:
  using StoragePolicy = URLCacheStoragePolicy;

  // Swift URLCache.shared: what default configurations use. 4 MB in memory and 20 MB on disk,
  // in $XDG_CACHE_HOME (else ~/.cache)/<program name>/URLCache (memory only when that cannot
  // be created).
  static std::shared_ptr<URLCache> shared();
  // Swift `URLCache.shared = …`: configurations made afterwards use `cache`.
  static void setShared(std::shared_ptr<URLCache> cache);

  // Swift init(memoryCapacity:diskCapacity:directory:), capacities in bytes. Without a
  // directory (or a disk capacity of 0) nothing is written to disk. The directory is created
  // if missing; its Cache.db holds the responses.
  URLCache(std::int64_t memoryCapacity, std::int64_t diskCapacity, std::optional<std::string> directory = std::nullopt);
  ~URLCache();
  URLCache(const URLCache&) = delete;
  URLCache& operator=(const URLCache&) = delete;

  // The response stored for the request's URL (and, when the response named request fields
  // in Vary, for the same values of those fields), whatever its age.
  std::optional<CachedURLResponse> cachedResponse(const URLRequest& request) const;
  // Replaces what is stored for the request. Responses larger than about 5 % of the capacity
  // they would go to are not kept there; `notAllowed` stores nothing, `allowedInMemoryOnly`
  // nothing on disk.
  void storeCachedResponse(const CachedURLResponse& response, const URLRequest& request);
  // The task's current request.
  void storeCachedResponse(const CachedURLResponse& response, const URLSessionDataTask& task);
  void getCachedResponse(const URLSessionDataTask& task,
                         const std::function<void(std::optional<CachedURLResponse>)>& completionHandler) const;
  void removeCachedResponse(const URLRequest& request);
  void removeCachedResponse(const URLSessionDataTask& task);
  // Swift removeCachedResponses(since:): those stored at or after `date`.
  void removeCachedResponses(Date date);
  void removeAllCachedResponses();

  std::int64_t memoryCapacity() const;
  void setMemoryCapacity(std::int64_t bytes);
  std::int64_t diskCapacity() const;
  void setDiskCapacity(std::int64_t bytes);
  std::int64_t currentMemoryUsage() const;
  std::int64_t currentDiskUsage() const;

  // foundation_net: writes what waits to go to disk and returns when it is there (writes are
  // otherwise made in the background, a few at a time, and at process exit).
  void flush();

  struct Entry;
  struct Impl;
  // Used by sessions: what is stored under `key` (see Entry), shared rather than copied, and
  // storing an entry as it is.
  std::shared_ptr<const Entry> entry(const std::string& key) const;
  // The same without reading the disk; `unknown` is set when only the disk can tell.
  std::shared_ptr<const Entry> entryInMemory(const std::string& key, bool& unknown) const;
  // Opens the disk and learns which keys it holds (blocking), so that entryInMemory can tell
  // for every key not there; sessions call it off the loop thread when they are made.
  void openDisk() const;
  void store(std::shared_ptr<const Entry> entry);

 private:
  std::shared_ptr<Impl> impl_;
};

// A stored response with what the session needs to judge it.
struct URLCache::Entry {
  CachedURLResponse response;
  Date storedAt;
  // The request fields the response's Vary names, with the values the request had ("" absent).
  std::vector<std::pair<std::string, std::string>> varyFields;
  std::string key;  // the request URL without its fragment
};

}  // namespace foundation

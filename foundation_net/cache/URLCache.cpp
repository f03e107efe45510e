#include <foundation_net/URLCache.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <list>
#include <map>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include <foundation_net/URLSessionDataTask.hpp>

#include "background/Protocol.hpp"
#include "cache/DiskStore.hpp"
#include "cache/HTTPCaching.hpp"
#include "dispatch/DelayedWriter.hpp"
#include "platform/Process.hpp"

namespace foundation {

namespace {

using detail::cache::DiskStore;

// Writes wait this long for more to join them: a burst of responses costs one transaction.
constexpr auto writeDelay = std::chrono::milliseconds(500);

// Apple's rule: an entry larger than about 5 % of a capacity is not kept there.
bool fits(std::int64_t size, std::int64_t capacity) { return capacity > 0 && size <= capacity / 20; }

std::string sharedDirectory() {
  return platform::userDirectory("XDG_CACHE_HOME", ".cache") + "/" + background::appIdentifier() + "/URLCache";
}

}  // namespace

struct URLCache::Impl {
  using Shared = std::shared_ptr<const Entry>;
  mutable std::mutex mutex;  // everything but the disk store
  std::int64_t memoryCapacity, diskCapacity;
  struct Slot {
    Shared entry;
    std::int64_t size;
  };
  std::list<Slot> recent;  // in memory, the most recently used first
  std::unordered_map<std::string, std::list<Slot>::iterator> byKey;
  std::int64_t memoryUsage = 0;
  // What is to be written to disk: an entry, or null to remove the key's row; written in the
  // order stored, so that the disk's eviction (oldest first) follows it.
  struct Pending {
    std::uint64_t order;
    Shared entry;
  };
  std::map<std::string, Pending> pending;
  std::uint64_t nextOrder = 0;

  // Held while the disk is read or written, and while pending writes are taken for it, so that
  // a removal never races a write of what it removed.
  mutable std::mutex diskMutex;
  const std::string directory;  // empty: memory only
  std::unique_ptr<DiskStore> disk;  // opened on first use (a session opens it when made): a cache no session uses costs no file
  std::atomic<bool> diskFailed{false};
  // The keys the disk holds (under `mutex`, once the disk is open): a lookup of any other key
  // is answered from memory, so a response that is never stored costs no disk read.
  std::unordered_set<std::string> diskKeys;
  bool diskKeysKnown = false;

  Impl(std::int64_t memory, std::int64_t diskBytes, std::string folder)
      : memoryCapacity(memory), diskCapacity(diskBytes), directory(diskBytes > 0 ? std::move(folder) : std::string()) {}

  bool hasDisk() const { return !directory.empty() && !diskFailed; }
  // The disk store, opened if need be; null when it cannot be. The caller holds diskMutex.
  DiskStore* openDisk() {
    if (!disk && hasDisk()) {
      disk = DiskStore::open(directory);
      if (!disk) diskFailed = true;  // memory only from now on
      if (disk) readDiskKeys();
    }
    return disk.get();
  }
  // Learns the disk's keys from the file (when opened, and after changes not made key by key).
  // The caller holds diskMutex.
  void readDiskKeys() {
    auto keys = disk->keys();
    std::lock_guard lock(mutex);
    diskKeys = std::unordered_set<std::string>(std::make_move_iterator(keys.begin()), std::make_move_iterator(keys.end()));
    diskKeysKnown = true;
  }

  // The caller holds `mutex` for these four.
  void forget(const std::string& key) {
    if (auto it = byKey.find(key); it != byKey.end()) {
      memoryUsage -= it->second->size;
      recent.erase(it->second);
      byKey.erase(it);
    }
  }
  void trimMemory() {
    while (memoryUsage > memoryCapacity && !recent.empty()) forget(recent.back().entry->key);
  }
  void remember(const Shared& entry, std::int64_t size) {
    auto it = byKey.find(entry->key);
    if (!fits(size, memoryCapacity)) {
      if (it != byKey.end()) forget(entry->key);
      return;
    }
    if (it != byKey.end()) {
      // Replaced in place: the common case of a response loaded again.
      memoryUsage += size - it->second->size;
      *it->second = Slot{entry, size};
      recent.splice(recent.begin(), recent, it->second);
    } else {
      recent.push_front(Slot{entry, size});
      byKey.emplace(entry->key, recent.begin());
      memoryUsage += size;
    }
    trimMemory();
  }
  void queueWrite(const std::string& key, Shared entry) {
    if (!hasDisk()) return;
    pending[key] = Pending{nextOrder++, std::move(entry)};
    writer.request();  // later writes join the one the first asks for
  }

  // Writes what is pending (any thread); `trim`: also when nothing is, to fit a new capacity.
  void writePending(bool trim = false) {
    std::lock_guard diskLock(diskMutex);
    std::vector<std::pair<std::string, Shared>> batch;
    std::int64_t capacity;
    {
      std::lock_guard lock(mutex);
      std::vector<std::map<std::string, Pending>::iterator> ordered;
      for (auto it = pending.begin(); it != pending.end(); ++it) ordered.push_back(it);
      std::sort(ordered.begin(), ordered.end(), [](auto a, auto b) { return a->second.order < b->second.order; });
      for (auto it : ordered) batch.emplace_back(it->first, std::move(it->second.entry));
      pending.clear();
      capacity = diskCapacity;
    }
    if (batch.empty() && !trim) return;
    auto* store = openDisk();
    if (!store) return;
    auto evicted = store->write(batch, capacity);
    if (!evicted) return readDiskKeys();  // the write failed: the file says what it holds
    std::lock_guard lock(mutex);
    for (const auto& [key, entry] : batch) {
      if (entry) {
        diskKeys.insert(key);
      } else {
        diskKeys.erase(key);
      }
    }
    for (const auto& key : *evicted) diskKeys.erase(key);
  }

  // What memory and the pending writes know of `key`; `unknown` when only the disk can tell.
  Shared findInMemory(const std::string& key, bool& unknown) {
    std::lock_guard lock(mutex);
    unknown = false;
    if (auto it = byKey.find(key); it != byKey.end()) {
      recent.splice(recent.begin(), recent, it->second);
      return it->second->entry;
    }
    if (auto it = pending.find(key); it != pending.end()) return it->second.entry;
    unknown = hasDisk() && (!diskKeysKnown || diskKeys.count(key) > 0);
    return nullptr;
  }

  Shared find(const std::string& key) {
    bool unknown = false;
    if (auto known = findInMemory(key, unknown); known || !unknown) return known;
    Shared found;
    {
      std::lock_guard diskLock(diskMutex);
      if (auto* store = openDisk()) found = store->read(key);
    }
    if (found) {
      std::lock_guard lock(mutex);
      if (!byKey.count(key) && !pending.count(key)) remember(found, DiskStore::sizeOf(*found));
    }
    return found;
  }

  // Last: stopped (its last write made) before what it writes is destroyed.
  detail::DelayedWriter writer{writeDelay, [this] { writePending(); }};
};

namespace {

std::mutex sharedMutex;

std::shared_ptr<URLCache>& sharedSlot() {
  static auto* const slot = new std::shared_ptr<URLCache>();  // never destroyed: used until exit
  return *slot;
}

// The shared cache is never destroyed; what waits to be written goes to disk at exit.
void flushSharedAtExit() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::atexit([] {
      std::shared_ptr<URLCache> cache;
      {
        std::lock_guard lock(sharedMutex);
        cache = sharedSlot();
      }
      if (cache) cache->flush();
    });
  });
}

}  // namespace

std::shared_ptr<URLCache> URLCache::shared() {
  std::lock_guard lock(sharedMutex);
  auto& slot = sharedSlot();
  if (!slot) {
    slot = std::make_shared<URLCache>(4'000'000, 20'000'000, sharedDirectory());
    flushSharedAtExit();
  }
  return slot;
}

void URLCache::setShared(std::shared_ptr<URLCache> cache) {
  std::shared_ptr<URLCache> previous;  // released outside the lock: its destructor writes what was pending
  std::lock_guard lock(sharedMutex);
  previous = std::exchange(sharedSlot(), std::move(cache));
  flushSharedAtExit();
}

URLCache::URLCache(std::int64_t memoryCapacity, std::int64_t diskCapacity, std::optional<std::string> directory)
    : impl_(std::make_shared<Impl>(std::max<std::int64_t>(memoryCapacity, 0), std::max<std::int64_t>(diskCapacity, 0),
                                   directory.value_or(""))) {}

URLCache::~URLCache() { impl_->writer.stop(); }

std::shared_ptr<const URLCache::Entry> URLCache::entry(const std::string& key) const { return impl_->find(key); }

std::shared_ptr<const URLCache::Entry> URLCache::entryInMemory(const std::string& key, bool& unknown) const {
  return impl_->findInMemory(key, unknown);
}

void URLCache::openDisk() const {
  std::lock_guard diskLock(impl_->diskMutex);
  impl_->openDisk();
}

void URLCache::store(std::shared_ptr<const Entry> entry) {
  const auto policy = entry->response.storagePolicy();
  if (policy == StoragePolicy::notAllowed) return;
  const auto size = DiskStore::sizeOf(*entry);
  std::lock_guard lock(impl_->mutex);
  const bool toDisk = policy == StoragePolicy::allowed && fits(size, impl_->diskCapacity);
  // Not for the disk: an older response there must not outlive this one.
  impl_->queueWrite(entry->key, toDisk ? entry : nullptr);
  impl_->remember(entry, size);
}

std::optional<CachedURLResponse> URLCache::cachedResponse(const URLRequest& request) const {
  if (!request.url) return std::nullopt;
  auto found = entry(detail::cache::keyFor(*request.url));
  if (!found || !detail::cache::varyMatches(*found, [&](std::string_view name) { return request.value(name); }))
    return std::nullopt;
  return found->response;
}

void URLCache::storeCachedResponse(const CachedURLResponse& response, const URLRequest& request) {
  if (!request.url) return;
  auto vary = detail::cache::varyFields(*response.response(), [&](std::string_view name) { return request.value(name); });
  store(std::make_shared<const Entry>(
      Entry{response, std::chrono::system_clock::now(), std::move(vary), detail::cache::keyFor(*request.url)}));
}

void URLCache::storeCachedResponse(const CachedURLResponse& response, const URLSessionDataTask& task) {
  if (auto request = task.currentRequest()) storeCachedResponse(response, *request);
}

void URLCache::getCachedResponse(const URLSessionDataTask& task,
                                 const std::function<void(std::optional<CachedURLResponse>)>& completionHandler) const {
  auto request = task.currentRequest();
  completionHandler(request ? cachedResponse(*request) : std::nullopt);
}

void URLCache::removeCachedResponse(const URLRequest& request) {
  if (!request.url) return;
  const auto key = detail::cache::keyFor(*request.url);
  std::lock_guard lock(impl_->mutex);
  impl_->forget(key);
  impl_->queueWrite(key, nullptr);
}

void URLCache::removeCachedResponse(const URLSessionDataTask& task) {
  if (auto request = task.currentRequest()) removeCachedResponse(*request);
}

void URLCache::removeCachedResponses(Date date) {
  std::lock_guard diskLock(impl_->diskMutex);
  {
    std::lock_guard lock(impl_->mutex);
    std::vector<std::string> recent;
    for (const auto& slot : impl_->recent)
      if (slot.entry->storedAt >= date) recent.push_back(slot.entry->key);
    for (const auto& key : recent) impl_->forget(key);
    std::erase_if(impl_->pending, [&](const auto& item) { return item.second.entry && item.second.entry->storedAt >= date; });
  }
  if (auto* store = impl_->openDisk()) {
    store->removeSince(date);
    impl_->readDiskKeys();
  }
}

void URLCache::removeAllCachedResponses() {
  std::lock_guard diskLock(impl_->diskMutex);
  {
    std::lock_guard lock(impl_->mutex);
    impl_->recent.clear();
    impl_->byKey.clear();
    impl_->memoryUsage = 0;
    impl_->pending.clear();
  }
  if (auto* store = impl_->openDisk()) {
    store->removeAll();
    impl_->readDiskKeys();
  }
}

std::int64_t URLCache::memoryCapacity() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->memoryCapacity;
}

void URLCache::setMemoryCapacity(std::int64_t bytes) {
  std::lock_guard lock(impl_->mutex);
  impl_->memoryCapacity = std::max<std::int64_t>(bytes, 0);
  impl_->trimMemory();
}

std::int64_t URLCache::diskCapacity() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->diskCapacity;
}

void URLCache::setDiskCapacity(std::int64_t bytes) {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->diskCapacity = std::max<std::int64_t>(bytes, 0);
  }
  if (impl_->hasDisk()) impl_->writePending(true);
}

std::int64_t URLCache::currentMemoryUsage() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->memoryUsage;
}

std::int64_t URLCache::currentDiskUsage() const {
  std::lock_guard diskLock(impl_->diskMutex);
  auto* store = impl_->openDisk();
  return store ? store->usage() : 0;
}

void URLCache::flush() { impl_->writePending(); }

}  // namespace foundation

// The disk half of a URLCache: its entries in <directory>/Cache.db (SQLite), one row per key.
// Not thread-safe: URLCache serializes its use.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <foundation_net/URLCache.hpp>

struct sqlite3;

namespace foundation::detail::cache {

class DiskStore {
 public:
  // Opens (creating the directory and the file if needed); null when that fails, and the cache
  // then keeps responses in memory only.
  static std::unique_ptr<DiskStore> open(const std::string& directory);
  ~DiskStore();
  DiskStore(const DiskStore&) = delete;
  DiskStore& operator=(const DiskStore&) = delete;

  std::shared_ptr<const URLCache::Entry> read(const std::string& key);
  // Writes a batch in one transaction: an entry replaces its key's row, null removes it.
  // Then removes the oldest rows until the file's entries fit `capacity`. Returns the keys so
  // removed, or nullopt when the transaction failed (nothing of the batch was written).
  std::optional<std::vector<std::string>> write(const std::vector<std::pair<std::string, std::shared_ptr<const URLCache::Entry>>>& batch,
             std::int64_t capacity);
  void removeAll();
  void removeSince(Date date);
  // The keys of every stored row (empty when they cannot be read).
  std::vector<std::string> keys();
  std::int64_t usage() const { return usage_; }  // bytes of the stored entries
  // The bytes an entry occupies, as usage() counts them (and memory usage, too).
  static std::int64_t sizeOf(const URLCache::Entry& entry);

 private:
  explicit DiskStore(sqlite3* db);
  void readUsage();
  sqlite3* db_;
  std::int64_t usage_ = 0;
};

}  // namespace foundation::detail::cache

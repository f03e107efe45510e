#include "cache/DiskStore.hpp"

#include <chrono>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include <sqlite3.h>

#include <foundation_net/HTTPURLResponse.hpp>

#include "platform/File.hpp"
#include "platform/Sqlite.hpp"

namespace foundation::detail::cache {

namespace {

using sqlite::Statement;
using sqlite::millis;
using Pairs = std::vector<std::pair<std::string, std::string>>;

constexpr const char* schemaSql = R"sql(
CREATE TABLE IF NOT EXISTS responses (
  key        TEXT    PRIMARY KEY,
  url        TEXT    NOT NULL,
  is_http    INTEGER NOT NULL,
  status     INTEGER NOT NULL,
  version    TEXT    NOT NULL,
  headers    BLOB    NOT NULL,
  mime_type  TEXT,
  length     INTEGER NOT NULL,
  encoding   TEXT,
  body       BLOB    NOT NULL,
  user_info  BLOB    NOT NULL,
  vary       BLOB    NOT NULL,
  stored_at  INTEGER NOT NULL,
  size       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_by_age ON responses (stored_at);
PRAGMA user_version = 1;
)sql";

constexpr const char* readSql =
    "SELECT url, is_http, status, version, headers, mime_type, length, encoding, body, user_info, vary, stored_at "
    "FROM responses WHERE key = ?1";
constexpr const char* putSql =
    "INSERT OR REPLACE INTO responses (key, url, is_http, status, version, headers, mime_type, length, encoding, "
    "body, user_info, vary, stored_at, size) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
constexpr const char* removeSql = "DELETE FROM responses WHERE key = ?1";
constexpr const char* oldestSql = "SELECT key, size FROM responses ORDER BY stored_at, rowid LIMIT 64";
constexpr const char* usageSql = "SELECT COALESCE(SUM(size), 0) FROM responses";

// Pairs as (32-bit length, bytes) twice per pair.
std::string encode(const Pairs& pairs) {
  std::string out;
  auto put = [&](const std::string& s) {
    const auto size = static_cast<std::uint32_t>(s.size());
    out.append(reinterpret_cast<const char*>(&size), sizeof size);
    out += s;
  };
  for (const auto& [name, value] : pairs) {
    put(name);
    put(value);
  }
  return out;
}

// Throws on bytes encode() did not write: a damaged row reads as no row.
Pairs decode(const std::string& bytes) {
  Pairs pairs;
  std::size_t at = 0;
  auto take = [&] {
    std::uint32_t size = 0;
    if (bytes.size() - at < sizeof size) throw std::runtime_error("damaged cache row");
    std::memcpy(&size, bytes.data() + at, sizeof size);
    at += sizeof size;
    if (bytes.size() - at < size) throw std::runtime_error("damaged cache row");
    std::string s = bytes.substr(at, size);
    at += size;
    return s;
  };
  while (at < bytes.size()) {
    std::string name = take();
    pairs.emplace_back(std::move(name), take());
  }
  return pairs;
}

std::optional<std::string> optionalText(const Statement& row, int column) {
  if (row.isNull(column)) return std::nullopt;
  return row.bytes(column);
}

}  // namespace

std::unique_ptr<DiskStore> DiskStore::open(const std::string& directory) {
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) return nullptr;
  const std::string file = (std::filesystem::path(directory) / "Cache.db").string();
  {
    // Private to the user (0600): responses may be anyone's data. SQLite gives its -wal and
    // -shm files the database file's mode.
    platform::File created;
    platform::File::openForWriting(file, true, created);
  }
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    sqlite::close(db);
    return nullptr;
  }
  std::unique_ptr<DiskStore> store(new DiskStore(db));
  try {
    // Several processes of one program share the file: they wait for each other's writes.
    sqlite3_busy_timeout(db, 2000);
    sqlite::exec(db, "PRAGMA journal_mode = WAL", "switch to WAL mode");
    // A cache may lose its last writes in a power cut; it must not cost a sync per response.
    sqlite::exec(db, "PRAGMA synchronous = NORMAL", "set synchronous mode");
    sqlite::exec(db, schemaSql, "create the schema");
    store->readUsage();
  } catch (const std::runtime_error&) {
    return nullptr;
  }
  return store;
}

DiskStore::DiskStore(sqlite3* db) : db_(db) {}

DiskStore::~DiskStore() { sqlite::close(db_); }

std::int64_t DiskStore::sizeOf(const URLCache::Entry& entry) {
  std::int64_t size = static_cast<std::int64_t>(entry.key.size() + entry.response.data().size());
  if (const auto* http = dynamic_cast<const HTTPURLResponse*>(entry.response.response().get()))
    for (const auto& [name, value] : http->headerFields()) size += static_cast<std::int64_t>(name.size() + value.size());
  return size;
}

void DiskStore::readUsage() {
  Statement statement(db_, usageSql, "read the cache's size");
  usage_ = statement.step() ? statement.int64(0) : 0;
}

std::shared_ptr<const URLCache::Entry> DiskStore::read(const std::string& key) {
  try {
    Statement row(db_, readSql, "read a cached response");
    row.text(1, key);
    if (!row.step()) return nullptr;
    URL url(row.bytes(0));
    std::shared_ptr<const URLResponse> response;
    if (row.int64(1)) {
      response = std::make_shared<HTTPURLResponse>(url, static_cast<int>(row.int64(2)), row.bytes(3), decode(row.bytes(4)));
    } else {
      response = std::make_shared<URLResponse>(url, optionalText(row, 5), row.int64(6), optionalText(row, 7));
    }
    const std::string body = row.bytes(8);
    CachedURLResponse cached(std::move(response), Data(body.data(), body.size()), [&] {
      auto pairs = decode(row.bytes(9));
      return std::map<std::string, std::string>(pairs.begin(), pairs.end());
    }());
    return std::make_shared<const URLCache::Entry>(URLCache::Entry{
        std::move(cached), sqlite::dateFromMillis(row.int64(11)), decode(row.bytes(10)), key});
  } catch (const std::exception&) {
    return nullptr;  // unreadable: as if not stored (the next store replaces it)
  }
}

std::optional<std::vector<std::string>> DiskStore::write(
    const std::vector<std::pair<std::string, std::shared_ptr<const URLCache::Entry>>>& batch, std::int64_t capacity) {
  std::vector<std::string> evicted;
  try {
    sqlite::exec(db_, "BEGIN IMMEDIATE", "begin writing cached responses");
    for (const auto& [key, entry] : batch) {
      if (!entry) {
        Statement remove(db_, removeSql, "remove a cached response");
        remove.text(1, key);
        remove.run();
        continue;
      }
      const auto& response = *entry->response.response();
      const auto* http = dynamic_cast<const HTTPURLResponse*>(&response);
      const std::string url = response.url() ? response.url()->absoluteString() : key;
      const std::string version = http ? http->httpVersion() : std::string();
      const std::string headers = encode(http ? http->headerFields() : Pairs{});
      const auto mimeType = response.mimeType(), encoding = response.textEncodingName();
      const auto& info = entry->response.userInfo();
      const std::string userInfo = encode(Pairs(info.begin(), info.end()));
      const std::string vary = encode(entry->varyFields);
      const Data& body = entry->response.data();
      Statement put(db_, putSql, "store a cached response");
      put.text(1, key);
      put.text(2, url);
      put.integer(3, http ? 1 : 0);
      put.integer(4, http ? http->statusCode() : 0);
      put.text(5, version);
      put.blob(6, headers);
      mimeType ? put.text(7, *mimeType) : put.null(7);
      put.integer(8, response.expectedContentLength());
      encoding ? put.text(9, *encoding) : put.null(9);
      put.blob(10, body.bytes(), body.size());
      put.blob(11, userInfo);
      put.blob(12, vary);
      put.integer(13, millis(entry->storedAt));
      put.integer(14, sizeOf(*entry));
      put.run();
    }
    // Oldest first, until the entries fit.
    readUsage();
    while (usage_ > capacity) {
      std::vector<std::string> oldest;
      {
        Statement rows(db_, oldestSql, "find the oldest cached responses");
        std::int64_t freed = 0;
        while (usage_ - freed > capacity && rows.step()) {
          oldest.push_back(rows.bytes(0));
          freed += rows.int64(1);
        }
      }
      if (oldest.empty()) break;
      for (auto& key : oldest) {
        Statement remove(db_, removeSql, "remove a cached response");
        remove.text(1, key);
        remove.run();
        evicted.push_back(std::move(key));
      }
      readUsage();
    }
    sqlite::exec(db_, "COMMIT", "commit cached responses");
    return evicted;
  } catch (const std::runtime_error&) {
    // A full disk, a locked file: the responses stay in memory only. Nothing else depends on them.
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    try {
      readUsage();
    } catch (const std::runtime_error&) {
    }
    return std::nullopt;
  }
}

void DiskStore::removeAll() {
  try {
    sqlite::exec(db_, "DELETE FROM responses", "remove every cached response");
    usage_ = 0;
  } catch (const std::runtime_error&) {
  }
}

void DiskStore::removeSince(Date date) {
  try {
    Statement remove(db_, "DELETE FROM responses WHERE stored_at >= ?1", "remove recent cached responses");
    remove.integer(1, millis(date));
    remove.run();
    readUsage();
  } catch (const std::runtime_error&) {
  }
}

std::vector<std::string> DiskStore::keys() {
  std::vector<std::string> keys;
  try {
    Statement rows(db_, "SELECT key FROM responses", "list the cached responses");
    while (rows.step()) keys.push_back(rows.bytes(0));
  } catch (const std::runtime_error&) {
    keys.clear();
  }
  return keys;
}

}  // namespace foundation::detail::cache

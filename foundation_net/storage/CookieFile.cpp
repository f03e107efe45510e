#include "storage/CookieFile.hpp"

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <sqlite3.h>

#include "model/Cookies.hpp"
#include "platform/File.hpp"
#include "platform/Sqlite.hpp"

namespace foundation::detail {

namespace {

using sqlite::Statement;
using sqlite::millis;

constexpr const char* schemaSql = R"sql(
CREATE TABLE IF NOT EXISTS cookies (
  name      TEXT    NOT NULL,
  domain    TEXT    NOT NULL,
  path      TEXT    NOT NULL,
  value     TEXT    NOT NULL,
  expires   INTEGER NOT NULL,
  secure    INTEGER NOT NULL,
  http_only INTEGER NOT NULL,
  same_site TEXT,
  created   INTEGER NOT NULL,
  PRIMARY KEY (name, domain, path)
);
PRAGMA user_version = 1;
)sql";

constexpr const char* readSql =
    "SELECT name, domain, path, value, expires, secure, http_only, same_site, created FROM cookies "
    "WHERE expires > ?1 ORDER BY created, rowid";
constexpr const char* dropExpiredSql = "DELETE FROM cookies WHERE expires <= ?1";
constexpr const char* storeSql =
    "INSERT OR REPLACE INTO cookies (name, domain, path, value, expires, secure, http_only, same_site, created) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
constexpr const char* removeSql = "DELETE FROM cookies WHERE name = ?1 AND domain = ?2 AND path = ?3";
constexpr const char* removeSinceSql = "DELETE FROM cookies WHERE created >= ?1";

void bindKey(Statement& statement, const HTTPCookie& cookie) {
  statement.text(1, cookie.name());
  statement.text(2, cookie.domain());
  statement.text(3, cookie.path());
}

std::int64_t dataVersion(sqlite3* db) {
  Statement statement(db, "PRAGMA data_version", "read the data version");
  return statement.step() ? statement.int64(0) : -1;
}

}  // namespace

CookieFile::~CookieFile() { sqlite::close(db_); }

sqlite3* CookieFile::open(bool create) {
  if (db_ || unusable_) return db_;
  std::error_code error;
  if (!create && !std::filesystem::exists(path_, error)) return nullptr;
  if (create) {
    std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), error);
    if (error) {
      unusable_ = true;
      return nullptr;
    }
    // Private to the user (0600), as an app's container is on Apple's platforms: cookies are
    // logins. SQLite gives its -wal and -shm files the database file's mode.
    platform::File file;
    platform::File::openForWriting(path_, true, file);
  }
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  if (sqlite3_open_v2(path_.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    unusable_ = create;  // a file that exists but cannot be opened, or cannot be made
    sqlite::close(db);
    return nullptr;
  }
  try {
    // Another process of the program may be writing: wait for it rather than fail.
    sqlite3_busy_timeout(db, 2000);
    // Like Apple's, the storage may lose the last changes in a power cut, not its file.
    sqlite::exec(db, "PRAGMA synchronous = NORMAL", "set synchronous mode");
    // Reads the file's header: refused for a file that is not a database.
    sqlite::exec(db, "SELECT count(*) FROM sqlite_master", "read the schema");
  } catch (const std::runtime_error&) {
    // Not a database (or a damaged one): never overwritten, and the storage keeps its cookies
    // in memory. Anything else (another process holding the lock) may pass: tried again later.
    const int code = sqlite3_errcode(db);
    unusable_ = code == SQLITE_NOTADB || code == SQLITE_CORRUPT;
    sqlite::close(db);
    return nullptr;
  }
  db_ = db;
  return db_;
}

std::vector<CookieFile::Row> CookieFile::read() {
  std::vector<Row> rows;
  sqlite3* db = open(false);
  if (!db) return rows;
  const auto now = millis(std::chrono::system_clock::now());
  try {
    dataVersion_ = dataVersion(db);
    Statement statement(db, readSql, "read the cookies");
    statement.integer(1, now);
    while (statement.step()) {
      CookieFields fields;
      fields.name = statement.bytes(0);
      fields.domain = statement.bytes(1);
      fields.path = statement.bytes(2);
      fields.value = statement.bytes(3);
      fields.expires = sqlite::dateFromMillis(statement.int64(4));
      fields.secure = statement.int64(5) != 0;
      fields.httpOnly = statement.int64(6) != 0;
      if (!statement.isNull(7)) fields.sameSite = statement.bytes(7);
      // A row written by anything but a storage (or damaged) must not put a bad header on the wire.
      if (fields.domain.empty() || !isCookieToken(fields.name, fields.value)) continue;
      rows.push_back(Row{cookieFromFields(fields), sqlite::dateFromMillis(statement.int64(8))});
    }
  } catch (const std::runtime_error&) {
    // Unreadable rows: what was read stands; the file is left as it is.
  }
  return rows;
}

bool CookieFile::changedElsewhere() {
  const bool wasOpen = db_ != nullptr;
  sqlite3* db = open(false);
  if (!db) return false;
  if (!wasOpen) return true;  // made by someone else since the storage looked
  try {
    const auto version = dataVersion(db);
    return std::exchange(dataVersion_, version) != version;
  } catch (const std::runtime_error&) {
    return false;
  }
}

bool CookieFile::write(const std::vector<Change>& changes) {
  sqlite3* db = open(true);
  if (!db) return false;
  try {
    // Set up by the first write only: reading needs no lock another process could hold.
    if (!schemaReady_) {
      sqlite::exec(db, "PRAGMA journal_mode = WAL", "switch to WAL mode");
      sqlite::exec(db, schemaSql, "create the schema");
      schemaReady_ = true;
    }
    sqlite::exec(db, "BEGIN IMMEDIATE", "begin the cookie changes");
    try {
      // Expired rows go with the next write (reading takes no write lock another process could hold).
      Statement dropExpired(db, dropExpiredSql, "drop expired cookies");
      dropExpired.integer(1, millis(std::chrono::system_clock::now()));
      dropExpired.run();
      for (const auto& change : changes) {
        switch (change.kind) {
          case Change::Kind::store: {
            const HTTPCookie& cookie = *change.cookie;
            Statement statement(db, storeSql, "store a cookie");
            bindKey(statement, cookie);
            statement.text(4, cookie.value());
            statement.integer(5, millis(*cookie.expiresDate()));
            statement.integer(6, cookie.isSecure());
            statement.integer(7, cookie.isHTTPOnly());
            const auto sameSite = cookie.sameSitePolicy();
            if (sameSite) {
              statement.text(8, *sameSite);
            } else {
              statement.null(8);
            }
            statement.integer(9, millis(change.date));
            statement.run();
            break;
          }
          case Change::Kind::remove: {
            Statement statement(db, removeSql, "remove a cookie");
            bindKey(statement, *change.cookie);
            statement.run();
            break;
          }
          case Change::Kind::removeSince: {
            Statement statement(db, removeSinceSql, "remove recent cookies");
            statement.integer(1, millis(change.date));
            statement.run();
            break;
          }
        }
      }
      sqlite::exec(db, "COMMIT", "commit the cookie changes");
    } catch (const std::runtime_error&) {
      sqlite::exec(db, "ROLLBACK", "roll back the cookie changes");
      throw;
    }
  } catch (const std::runtime_error&) {
    return false;
  }
  return true;
}

}  // namespace foundation::detail

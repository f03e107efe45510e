// The file of a persistent HTTPCookieStorage: its cookies that have an expiry, one SQLite row
// each, read once when the storage first needs them and changed in batches by its writer.
// Several processes of one program may share it (WAL, a busy timeout). Not thread-safe: the
// storage serializes its use.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <foundation_net/Date.hpp>
#include <foundation_net/HTTPCookie.hpp>

struct sqlite3;

namespace foundation::detail {

class CookieFile {
 public:
  struct Row {
    HTTPCookie cookie;
    Date created;  // when the storage first held a cookie of that name, domain and path
  };
  // One change to the file, applied in order with the others of its batch.
  struct Change {
    enum class Kind { store, remove, removeSince } kind;
    std::optional<HTTPCookie> cookie;  // store: the cookie; remove: the one of its name, domain and path
    Date date{};                       // store: its creation; removeSince: the earliest creation removed
  };

  // Nothing is opened or created until the first read or write.
  explicit CookieFile(std::string path) : path_(std::move(path)) {}
  const std::string& path() const { return path_; }
  ~CookieFile();
  CookieFile(const CookieFile&) = delete;
  CookieFile& operator=(const CookieFile&) = delete;

  // The unexpired cookies, oldest first; rows that do not make a valid cookie are skipped.
  // Empty when there is no file or it cannot be read (which leaves it as it is). Takes no
  // write lock: expired rows are deleted by the next write.
  std::vector<Row> read();
  // Whether another connection (another process, or another storage on this file) committed
  // changes since this one last read or checked, or the file appeared since. Cheap: no I/O
  // but the WAL index.
  bool changedElsewhere();
  // Applies `changes` in one transaction, creating the folder and the file if need be; false
  // when that fails (nothing of the batch is written).
  bool write(const std::vector<Change>& changes);
  // False once the file has proved unusable for good (not a database, a folder or file that
  // cannot be made): no write will succeed in this process.
  bool usable() const { return !unusable_; }

 private:
  // The connection, opened if need be (`create`: the folder and file too); null when it cannot be.
  sqlite3* open(bool create);
  const std::string path_;
  sqlite3* db_ = nullptr;
  bool unusable_ = false;     // left alone, never written (see usable())
  bool schemaReady_ = false;  // the table exists and the file is in WAL mode
  std::int64_t dataVersion_ = -1;  // PRAGMA data_version when last read or checked
};

}  // namespace foundation::detail

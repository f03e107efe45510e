// The few SQLite pieces every store of the project uses (the daemon's state, the URL cache's
// disk): errors as exceptions, statements prepared once per connection, and one use of a
// statement that always resets it.
#pragma once
#include <cstdint>
#include <string>

#include <foundation_net/Date.hpp>

struct sqlite3;
struct sqlite3_stmt;

namespace foundation::sqlite {

// Throws std::runtime_error "what: <SQLite's message for db>".
[[noreturn]] void fail(sqlite3* db, const std::string& what);
// Dates as the stores keep them: milliseconds since 1970. A stored number is clamped to what a
// Date holds, so a damaged or hostile file cannot overflow the conversion.
std::int64_t millis(Date date);
Date dateFromMillis(std::int64_t ms);
// Runs statements that return no rows.
void exec(sqlite3* db, const char* sql, const char* what);
// The connection's prepared statement for `sql`, prepared on first use and kept until the
// connection closes (found again by its text), so frequent statements never re-prepare.
sqlite3_stmt* cached(sqlite3* db, const char* sql);
// Finalizes the connection's statements (sqlite3_close refuses while any remain) and closes it.
void close(sqlite3* db);

// One use of a cached statement: binds parameters, steps, and resets it (dropping the
// bindings, which point into the caller's strings) however the use ends.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql, const char* what) : db_(db), stmt_(cached(db, sql)), what_(what) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // The bytes are bound without a copy: they must outlive the step.
  void text(int index, const std::string& value);
  // An empty value is a zero-length BLOB, not NULL.
  void blob(int index, const std::string& value);
  void blob(int index, const void* bytes, std::size_t size);
  void integer(int index, std::int64_t value);
  // Ids are stored bit for bit in SQLite's signed 64-bit integers.
  void unsignedInteger(int index, std::uint64_t value) { integer(index, static_cast<std::int64_t>(value)); }
  void real(int index, double value);
  void null(int index);

  // Steps once: true with a row to read, false when done.
  bool step();
  // Runs a statement that returns no rows.
  void run() {
    while (step()) {
    }
  }

  std::string bytes(int column) const;
  std::int64_t int64(int column) const;
  std::uint64_t uint64(int column) const { return static_cast<std::uint64_t>(int64(column)); }
  double real(int column) const;
  bool isNull(int column) const;

 private:
  void check(int result);
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  const char* what_;
};

}  // namespace foundation::sqlite

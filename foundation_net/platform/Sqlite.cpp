#include "platform/Sqlite.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include <sqlite3.h>

namespace foundation::sqlite {

void fail(sqlite3* db, const std::string& what) {
  throw std::runtime_error(what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

std::int64_t millis(Date date) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(date.time_since_epoch()).count();
}

Date dateFromMillis(std::int64_t ms) {
  using std::chrono::milliseconds;
  constexpr auto latest = std::chrono::duration_cast<milliseconds>(Date::duration::max()).count() - 1;
  constexpr auto earliest = std::chrono::duration_cast<milliseconds>(Date::duration::min()).count() + 1;
  return Date(std::chrono::duration_cast<Date::duration>(milliseconds(std::clamp(ms, earliest, latest))));
}

void exec(sqlite3* db, const char* sql, const char* what) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail(db, what);
}

sqlite3_stmt* cached(sqlite3* db, const char* sql) {
  for (sqlite3_stmt* stmt = sqlite3_next_stmt(db, nullptr); stmt; stmt = sqlite3_next_stmt(db, stmt)) {
    if (!sqlite3_stmt_busy(stmt) && std::strcmp(sqlite3_sql(stmt), sql) == 0) return stmt;
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) fail(db, "prepare");
  return stmt;
}

void close(sqlite3* db) {
  if (!db) return;
  for (sqlite3_stmt* stmt = sqlite3_next_stmt(db, nullptr); stmt; stmt = sqlite3_next_stmt(db, nullptr))
    sqlite3_finalize(stmt);
  sqlite3_close(db);
}

Statement::~Statement() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void Statement::text(int index, const std::string& value) {
  check(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_STATIC, SQLITE_UTF8));
}

void Statement::blob(int index, const std::string& value) { blob(index, value.data(), value.size()); }

void Statement::blob(int index, const void* bytes, std::size_t size) {
  check(sqlite3_bind_blob64(stmt_, index, size == 0 ? "" : bytes, size, SQLITE_STATIC));
}

void Statement::integer(int index, std::int64_t value) { check(sqlite3_bind_int64(stmt_, index, value)); }
void Statement::real(int index, double value) { check(sqlite3_bind_double(stmt_, index, value)); }
void Statement::null(int index) { check(sqlite3_bind_null(stmt_, index)); }

bool Statement::step() {
  const int result = sqlite3_step(stmt_);
  if (result == SQLITE_ROW) return true;
  if (result == SQLITE_DONE) return false;
  fail(db_, what_);
}

std::string Statement::bytes(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  return data ? std::string(static_cast<const char*>(data), static_cast<std::size_t>(size)) : std::string();
}

std::int64_t Statement::int64(int column) const { return sqlite3_column_int64(stmt_, column); }
double Statement::real(int column) const { return sqlite3_column_double(stmt_, column); }
bool Statement::isNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

void Statement::check(int result) {
  if (result != SQLITE_OK) fail(db_, what_);
}

}  // namespace foundation::sqlite

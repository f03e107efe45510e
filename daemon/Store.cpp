#include "daemon/Store.hpp"

#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <sqlite3.h>

#include "platform/Sqlite.hpp"

namespace foundation::daemon {

namespace {

constexpr int schemaVersion = 4;

// The schema (version 2 added apps, version 3 the tasks' upload_resource and upload_version,
// version 4 their metrics, added to older tables by addMissingColumns; every statement is
// idempotent, so it also upgrades 1 to 3). Ids, paths and descriptions are TEXT; wire-encoded values are BLOBs.
// Tasks and events belong to a session (ON DELETE CASCADE); an event may outlive its task.
// AUTOINCREMENT keeps the largest sequence ever used in sqlite_sequence, so a sequence is
// never handed out twice, even after its event was acknowledged and the daemon restarted.
constexpr const char* schemaSql = R"sql(
CREATE TABLE IF NOT EXISTS sessions (
  app_id         TEXT    NOT NULL,
  session_id     TEXT    NOT NULL,
  configuration  BLOB    NOT NULL,
  next_task_id   INTEGER NOT NULL,
  launch_command TEXT    NOT NULL,
  invalidated    INTEGER NOT NULL,
  PRIMARY KEY (app_id, session_id)
);
CREATE TABLE IF NOT EXISTS tasks (
  app_id                 TEXT    NOT NULL,
  session_id             TEXT    NOT NULL,
  task_id                INTEGER NOT NULL,
  kind                   INTEGER NOT NULL,
  state                  INTEGER NOT NULL,
  request                BLOB    NOT NULL,
  original_request       BLOB    NOT NULL,
  upload_file            TEXT    NOT NULL,
  partial_file           TEXT    NOT NULL,
  validator              TEXT    NOT NULL,
  response               BLOB    NOT NULL,
  last_error             BLOB    NOT NULL,
  bytes_received         INTEGER NOT NULL,
  bytes_expected         INTEGER NOT NULL,
  bytes_sent             INTEGER NOT NULL,
  bytes_expected_to_send INTEGER NOT NULL,
  earliest_begin         INTEGER,
  discretionary          INTEGER NOT NULL,
  priority               REAL    NOT NULL,
  description            TEXT    NOT NULL,
  expects_to_send        INTEGER NOT NULL,
  expects_to_receive     INTEGER NOT NULL,
  attempts               INTEGER NOT NULL,
  next_attempt_at        INTEGER NOT NULL,
  created_at             INTEGER NOT NULL,
  resource_deadline      INTEGER NOT NULL,
  upload_resource        TEXT    NOT NULL DEFAULT '',
  upload_version         INTEGER NOT NULL DEFAULT 0,
  metrics                BLOB    NOT NULL DEFAULT x'',
  PRIMARY KEY (app_id, session_id, task_id),
  FOREIGN KEY (app_id, session_id) REFERENCES sessions (app_id, session_id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS events (
  sequence   INTEGER PRIMARY KEY AUTOINCREMENT,
  app_id     TEXT    NOT NULL,
  session_id TEXT    NOT NULL,
  task_id    INTEGER NOT NULL,
  kind       INTEGER NOT NULL,
  payload    BLOB    NOT NULL,
  FOREIGN KEY (app_id, session_id) REFERENCES sessions (app_id, session_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS events_by_session ON events (app_id, session_id, sequence);
CREATE TABLE IF NOT EXISTS apps (
  app_id         TEXT    PRIMARY KEY,
  launch_delay   INTEGER NOT NULL,
  last_launch_at INTEGER NOT NULL
);
)sql";

// Every column of tasks, in the order bindTask() binds and readTask() reads them.
#define TASK_COLUMNS                                                                          \
  "app_id, session_id, task_id, kind, state, request, original_request, upload_file, "       \
  "partial_file, validator, response, last_error, bytes_received, bytes_expected, bytes_sent, " \
  "bytes_expected_to_send, earliest_begin, discretionary, priority, description, "             \
  "expects_to_send, expects_to_receive, attempts, next_attempt_at, created_at, resource_deadline, "        \
  "upload_resource, upload_version, metrics"

#define SESSION_COLUMNS "app_id, session_id, configuration, next_task_id, launch_command, invalidated"
#define EVENT_COLUMNS "sequence, app_id, session_id, task_id, kind, payload"

// An upsert rather than INSERT OR REPLACE: REPLACE deletes the old row first, which would
// cascade to the session's tasks and events.
constexpr const char* putSessionSql =
    "INSERT INTO sessions (" SESSION_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
    "ON CONFLICT (app_id, session_id) DO UPDATE SET configuration = excluded.configuration, "
    "next_task_id = excluded.next_task_id, launch_command = excluded.launch_command, "
    "invalidated = excluded.invalidated";
constexpr const char* sessionSql =
    "SELECT " SESSION_COLUMNS " FROM sessions WHERE app_id = ?1 AND session_id = ?2";
constexpr const char* sessionsSql = "SELECT " SESSION_COLUMNS " FROM sessions ORDER BY app_id, session_id";
constexpr const char* removeSessionTasksSql = "DELETE FROM tasks WHERE app_id = ?1 AND session_id = ?2";
constexpr const char* removeSessionEventsSql = "DELETE FROM events WHERE app_id = ?1 AND session_id = ?2";
constexpr const char* removeSessionSql = "DELETE FROM sessions WHERE app_id = ?1 AND session_id = ?2";

constexpr const char* putAppSql =
    "INSERT OR REPLACE INTO apps (app_id, launch_delay, last_launch_at) VALUES (?1, ?2, ?3)";
constexpr const char* appsSql = "SELECT app_id, launch_delay, last_launch_at FROM apps ORDER BY app_id";

constexpr const char* putTaskSql =
    "INSERT OR REPLACE INTO tasks (" TASK_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
    "?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29)";
constexpr const char* taskSql =
    "SELECT " TASK_COLUMNS " FROM tasks WHERE app_id = ?1 AND session_id = ?2 AND task_id = ?3";
constexpr const char* tasksSql =
    "SELECT " TASK_COLUMNS " FROM tasks WHERE app_id = ?1 AND session_id = ?2 ORDER BY task_id";
constexpr const char* allTasksSql = "SELECT " TASK_COLUMNS " FROM tasks ORDER BY app_id, session_id, task_id";
constexpr const char* removeTaskSql = "DELETE FROM tasks WHERE app_id = ?1 AND session_id = ?2 AND task_id = ?3";

constexpr const char* appendEventSql =
    "INSERT INTO events (app_id, session_id, task_id, kind, payload) VALUES (?1, ?2, ?3, ?4, ?5)";
constexpr const char* pendingEventsSql =
    "SELECT " EVENT_COLUMNS " FROM events WHERE app_id = ?1 AND session_id = ?2 ORDER BY sequence";
constexpr const char* allPendingEventsSql = "SELECT " EVENT_COLUMNS " FROM events ORDER BY sequence";
constexpr const char* pendingEventCountSql = "SELECT COUNT(*) FROM events";
constexpr const char* pendingEventSql = "SELECT " EVENT_COLUMNS " FROM events WHERE sequence = ?1";
constexpr const char* acknowledgeSql = "DELETE FROM events WHERE sequence = ?1";

using sqlite::exec;
using sqlite::fail;
using sqlite::Statement;

void bindKey(Statement& statement, const std::string& appId, const std::string& sessionId) {
  statement.text(1, appId);
  statement.text(2, sessionId);
}

SessionRecord readSession(const Statement& row) {
  SessionRecord session;
  session.appId = row.bytes(0);
  session.sessionId = row.bytes(1);
  session.configuration = row.bytes(2);
  session.nextTaskId = row.uint64(3);
  session.launchCommand = row.bytes(4);
  session.invalidated = row.int64(5) != 0;
  return session;
}

TaskRecord readTask(const Statement& row) {
  TaskRecord task;
  task.appId = row.bytes(0);
  task.sessionId = row.bytes(1);
  task.taskId = row.uint64(2);
  task.kind = static_cast<TaskKind>(row.int64(3));
  task.state = static_cast<TaskState>(row.int64(4));
  task.request = row.bytes(5);
  task.originalRequest = row.bytes(6);
  task.uploadFile = row.bytes(7);
  task.partialFile = row.bytes(8);
  task.validator = row.bytes(9);
  task.response = row.bytes(10);
  task.lastError = row.bytes(11);
  task.bytesReceived = row.int64(12);
  task.bytesExpected = row.int64(13);
  task.bytesSent = row.int64(14);
  task.bytesExpectedToSend = row.int64(15);
  if (!row.isNull(16)) task.earliestBegin = row.int64(16);
  task.discretionary = row.int64(17) != 0;
  task.priority = row.real(18);
  task.description = row.bytes(19);
  task.expectsToSend = row.int64(20);
  task.expectsToReceive = row.int64(21);
  task.attempts = static_cast<int>(row.int64(22));
  task.nextAttemptAt = row.int64(23);
  task.createdAt = row.int64(24);
  task.resourceDeadline = row.int64(25);
  task.uploadResource = row.bytes(26);
  task.uploadVersion = static_cast<int>(row.int64(27));
  task.metrics = row.bytes(28);
  return task;
}

EventRecord readEvent(const Statement& row) {
  EventRecord event;
  event.sequence = row.int64(0);
  event.appId = row.bytes(1);
  event.sessionId = row.bytes(2);
  event.taskId = row.uint64(3);
  event.kind = static_cast<int>(row.int64(4));
  event.payload = row.bytes(5);
  return event;
}

// Creates the state folder (and its parents) when missing; the folder itself gets mode 0700.
void createStateFolder(const std::filesystem::path& directory) {
  namespace fs = std::filesystem;
  try {
    if (fs::is_directory(directory)) return;
    if (directory.has_parent_path() && directory.has_filename()) fs::create_directories(directory.parent_path());
    if (fs::create_directory(directory)) fs::permissions(directory, fs::perms::owner_all, fs::perm_options::replace);
  } catch (const fs::filesystem_error& error) {
    throw std::runtime_error("urlsessiond store: cannot create the state folder " + directory.string() + ": " +
                             error.code().message());
  }
}

// The task columns of versions 3 and 4, for a tasks table an older version created.
void addMissingColumns(sqlite3* db) {
  bool hasResource = false, hasMetrics = false;
  {
    Statement columns(db, "PRAGMA table_info(tasks)", "read the tasks columns");
    while (columns.step()) {
      const auto name = columns.bytes(1);
      hasResource = hasResource || name == "upload_resource";
      hasMetrics = hasMetrics || name == "metrics";
    }
  }
  if (!hasResource) {
    exec(db, "ALTER TABLE tasks ADD COLUMN upload_resource TEXT NOT NULL DEFAULT ''", "add upload_resource");
    exec(db, "ALTER TABLE tasks ADD COLUMN upload_version INTEGER NOT NULL DEFAULT 0", "add upload_version");
  }
  if (!hasMetrics) exec(db, "ALTER TABLE tasks ADD COLUMN metrics BLOB NOT NULL DEFAULT x''", "add metrics");
}

int userVersion(sqlite3* db) {
  Statement statement(db, "PRAGMA user_version", "read the schema version");
  return statement.step() ? static_cast<int>(statement.int64(0)) : 0;
}

}  // namespace

Store::Store(const std::string& directory) {
  const std::filesystem::path folder(directory);
  createStateFolder(folder);
  const std::string file = (folder / "urlsessiond.sqlite3").string();
  const int opened = sqlite3_open_v2(file.c_str(), &db_,
                                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  try {
    if (opened != SQLITE_OK) fail(db_, ("open " + file).c_str());
    sqlite3_extended_result_codes(db_, 1);
    if (sqlite3_busy_timeout(db_, 5000) != SQLITE_OK) fail(db_, "set the busy timeout");
    exec(db_, "PRAGMA journal_mode = WAL", "switch to WAL mode");
    exec(db_, "PRAGMA synchronous = FULL", "set synchronous mode");
    exec(db_, "PRAGMA foreign_keys = ON", "enable foreign keys");

    // A newer daemon's database is left alone: its format may mean something else.
    auto refuseNewer = [&](int version) {
      if (version > schemaVersion) {
        throw std::runtime_error("urlsessiond store: " + file + " has schema version " + std::to_string(version) +
                                 ", newer than the version " + std::to_string(schemaVersion) +
                                 " this urlsessiond understands");
      }
    };
    refuseNewer(userVersion(db_));
    transaction([&] {
      // Read again under the write lock: another process may have created the schema meanwhile.
      const int version = userVersion(db_);
      refuseNewer(version);
      if (version < schemaVersion) {
        exec(db_, schemaSql, "create the schema");
        addMissingColumns(db_);
        exec(db_, ("PRAGMA user_version = " + std::to_string(schemaVersion)).c_str(), "set the schema version");
      }
    });
  } catch (...) {
    // sqlite3_open_v2 leaves db_ null only when it ran out of memory.
    sqlite::close(db_);
    db_ = nullptr;
    throw;
  }
}

Store::~Store() { sqlite::close(db_); }

// The outermost call holds BEGIN IMMEDIATE … COMMIT. An inner call runs inside a SAVEPOINT
// so that an exception that an outer body catches still undoes the inner body's writes; an
// exception that escapes the outermost body rolls the whole transaction back.
void Store::transaction(const std::function<void()>& body) {
  joinGroup();
  if (transactionDepth_ > 0) {
    exec(db_, "SAVEPOINT nested", "begin a nested transaction");
    ++transactionDepth_;
    try {
      body();
    } catch (...) {
      --transactionDepth_;
      sqlite3_exec(db_, "ROLLBACK TO nested; RELEASE nested", nullptr, nullptr, nullptr);
      throw;
    }
    --transactionDepth_;
    exec(db_, "RELEASE nested", "end a nested transaction");
    return;
  }

  exec(db_, "BEGIN IMMEDIATE", "begin a transaction");
  transactionDepth_ = 1;
  try {
    body();
  } catch (...) {
    transactionDepth_ = 0;
    // Some errors (a full disk, an I/O error) have rolled back already.
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  transactionDepth_ = 0;
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    const std::string message = sqlite3_errmsg(db_);
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw std::runtime_error("urlsessiond store: commit: " + message);
  }
}

void Store::groupWrites(std::function<void()> opened) { groupOpened_ = std::move(opened); }

// The group's transaction is the outermost one: transaction() bodies become savepoints in it.
void Store::joinGroup() {
  if (!groupOpened_ || groupOpen_ || transactionDepth_ > 0) return;
  exec(db_, "BEGIN IMMEDIATE", "begin a group of writes");
  groupOpen_ = true;
  transactionDepth_ = 1;
  groupOpened_();
}

void Store::commitGroup() {
  if (!groupOpen_) return;
  groupOpen_ = false;
  transactionDepth_ = 0;
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    const std::string message = sqlite3_errmsg(db_);
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw std::runtime_error("urlsessiond store: commit a group of writes: " + message);
  }
}

// Inserts the session, or updates every field of an existing one; its tasks and events stay.
void Store::putSession(const SessionRecord& session) {
  joinGroup();
  Statement statement(db_, putSessionSql, "putSession");
  bindKey(statement, session.appId, session.sessionId);
  statement.blob(3, session.configuration);
  statement.unsignedInteger(4, session.nextTaskId);
  statement.blob(5, session.launchCommand);
  statement.integer(6, session.invalidated ? 1 : 0);
  statement.run();
}

std::optional<SessionRecord> Store::session(const std::string& appId, const std::string& sessionId) const {
  Statement statement(db_, sessionSql, "session");
  bindKey(statement, appId, sessionId);
  if (!statement.step()) return std::nullopt;
  return readSession(statement);
}

// Every session, ordered by (appId, sessionId).
std::vector<SessionRecord> Store::sessions() const {
  Statement statement(db_, sessionsSql, "sessions");
  std::vector<SessionRecord> sessions;
  while (statement.step()) sessions.push_back(readSession(statement));
  return sessions;
}

void Store::removeSession(const std::string& appId, const std::string& sessionId) {
  transaction([&] {
    for (const char* sql : {removeSessionEventsSql, removeSessionTasksSql, removeSessionSql}) {
      Statement statement(db_, sql, "removeSession");
      bindKey(statement, appId, sessionId);
      statement.run();
    }
  });
}

void Store::putApp(const AppRecord& app) {
  Statement statement(db_, putAppSql, "putApp");
  statement.text(1, app.appId);
  statement.integer(2, app.launchDelay);
  statement.integer(3, app.lastLaunchAt);
  statement.run();
}

std::vector<AppRecord> Store::apps() const {
  Statement statement(db_, appsSql, "apps");
  std::vector<AppRecord> apps;
  while (statement.step()) apps.push_back({statement.bytes(0), statement.int64(1), statement.int64(2)});
  return apps;
}

// Inserts or replaces the task; its session must exist (foreign key).
void Store::putTask(const TaskRecord& task) {
  joinGroup();
  Statement statement(db_, putTaskSql, "putTask");
  bindKey(statement, task.appId, task.sessionId);
  statement.unsignedInteger(3, task.taskId);
  statement.integer(4, static_cast<int>(task.kind));
  statement.integer(5, static_cast<int>(task.state));
  statement.blob(6, task.request);
  statement.blob(7, task.originalRequest);
  statement.text(8, task.uploadFile);
  statement.text(9, task.partialFile);
  statement.text(10, task.validator);
  statement.blob(11, task.response);
  statement.blob(12, task.lastError);
  statement.integer(13, task.bytesReceived);
  statement.integer(14, task.bytesExpected);
  statement.integer(15, task.bytesSent);
  statement.integer(16, task.bytesExpectedToSend);
  if (task.earliestBegin) {
    statement.integer(17, *task.earliestBegin);
  } else {
    statement.null(17);
  }
  statement.integer(18, task.discretionary ? 1 : 0);
  statement.real(19, task.priority);
  statement.text(20, task.description);
  statement.integer(21, task.expectsToSend);
  statement.integer(22, task.expectsToReceive);
  statement.integer(23, task.attempts);
  statement.integer(24, task.nextAttemptAt);
  statement.integer(25, task.createdAt);
  statement.integer(26, task.resourceDeadline);
  statement.text(27, task.uploadResource);
  statement.integer(28, task.uploadVersion);
  statement.blob(29, task.metrics);
  statement.run();
}

std::optional<TaskRecord> Store::task(const std::string& appId, const std::string& sessionId,
                                      std::uint64_t taskId) const {
  Statement statement(db_, taskSql, "task");
  bindKey(statement, appId, sessionId);
  statement.unsignedInteger(3, taskId);
  if (!statement.step()) return std::nullopt;
  return readTask(statement);
}

// The session's tasks, ordered by taskId.
std::vector<TaskRecord> Store::tasks(const std::string& appId, const std::string& sessionId) const {
  Statement statement(db_, tasksSql, "tasks");
  bindKey(statement, appId, sessionId);
  std::vector<TaskRecord> tasks;
  while (statement.step()) tasks.push_back(readTask(statement));
  return tasks;
}

std::vector<TaskRecord> Store::allTasks() const {
  Statement statement(db_, allTasksSql, "allTasks");
  std::vector<TaskRecord> tasks;
  while (statement.step()) tasks.push_back(readTask(statement));
  return tasks;
}

// Removes the task record only: events about it stay pending until acknowledged.
void Store::removeTask(const std::string& appId, const std::string& sessionId, std::uint64_t taskId) {
  joinGroup();
  Statement statement(db_, removeTaskSql, "removeTask");
  bindKey(statement, appId, sessionId);
  statement.unsignedInteger(3, taskId);
  statement.run();
}

// The session must exist (foreign key); sequences are never reused, even across restarts.
std::int64_t Store::appendEvent(const std::string& appId, const std::string& sessionId, std::uint64_t taskId,
                                int kind, const std::string& payload) {
  joinGroup();
  Statement statement(db_, appendEventSql, "appendEvent");
  bindKey(statement, appId, sessionId);
  statement.unsignedInteger(3, taskId);
  statement.integer(4, kind);
  statement.blob(5, payload);
  statement.run();
  return sqlite3_last_insert_rowid(db_);
}

std::vector<EventRecord> Store::pendingEvents(const std::string& appId, const std::string& sessionId) const {
  Statement statement(db_, pendingEventsSql, "pendingEvents");
  bindKey(statement, appId, sessionId);
  std::vector<EventRecord> events;
  while (statement.step()) events.push_back(readEvent(statement));
  return events;
}

// Every session's pending events, oldest first.
std::vector<EventRecord> Store::allPendingEvents() const {
  Statement statement(db_, allPendingEventsSql, "allPendingEvents");
  std::vector<EventRecord> events;
  while (statement.step()) events.push_back(readEvent(statement));
  return events;
}

std::int64_t Store::pendingEventCount() const {
  Statement statement(db_, pendingEventCountSql, "pendingEventCount");
  return statement.step() ? statement.int64(0) : 0;
}

std::optional<EventRecord> Store::pendingEvent(std::int64_t sequence) const {
  Statement statement(db_, pendingEventSql, "pendingEvent");
  statement.integer(1, sequence);
  if (!statement.step()) return std::nullopt;
  return readEvent(statement);
}

bool Store::acknowledge(std::int64_t sequence) {
  joinGroup();
  Statement statement(db_, acknowledgeSql, "acknowledge");
  statement.integer(1, sequence);
  statement.run();
  return sqlite3_changes(db_) > 0;
}

}  // namespace foundation::daemon

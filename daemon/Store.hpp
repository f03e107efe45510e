// The daemon's durable state: SQLite in WAL mode, one database per user in the state folder.
// Every change that anyone is told about is committed first. All calls happen on one thread
// (the daemon's loop thread); the class is not thread-safe.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace foundation::daemon {

enum class TaskKind { data = 0, upload = 1, download = 2 };
// waiting: not yet running (queued, delayed, retrying later); running: has a transfer;
// suspended: by the app; completed: finished, failed or cancelled (its events may be pending).
enum class TaskState { waiting = 0, running = 1, suspended = 2, completed = 3 };

using Millis = std::int64_t;  // milliseconds since the Unix epoch

struct SessionRecord {
  std::string appId, sessionId;
  std::string configuration;   // wire-encoded URLSessionConfiguration
  std::uint64_t nextTaskId = 1;
  std::string launchCommand;   // how to start the app for launch events ("" = none registered)
  bool invalidated = false;
};

// An app's launch rate limiter (Apple's: the delay doubles with each launch, back to 0 when the
// app comes to the foreground or a whole delay passes without a launch).
struct AppRecord {
  std::string appId;
  Millis launchDelay = 0;      // the next launch waits this long after the last one
  Millis lastLaunchAt = 0;
};

struct TaskRecord {
  std::string appId, sessionId;
  std::uint64_t taskId = 0;
  TaskKind kind = TaskKind::download;
  TaskState state = TaskState::waiting;
  std::string request;          // wire-encoded URLRequest (the current one)
  std::string originalRequest;  // wire-encoded URLRequest
  std::string uploadFile;       // the daemon's snapshot of the upload body
  std::string partialFile;      // a download's bytes so far, in the staging folder
  std::string validator;        // strong ETag or Last-Modified of the partial download
  // A resumable upload: the upload resource the server's 104 named, and the interop version
  // spoken (0: none yet); a later attempt continues there with HEAD + PATCH.
  std::string uploadResource;
  int uploadVersion = 0;
  std::string response;         // wire-encoded HTTPURLResponse, once known
  std::string lastError;        // wire-encoded Error of the last failed attempt
  std::int64_t bytesReceived = 0, bytesExpected = -1, bytesSent = 0, bytesExpectedToSend = 0;
  std::optional<Millis> earliestBegin;
  bool discretionary = false;
  double priority = 0.5;
  std::string description;
  std::int64_t expectsToSend = -1, expectsToReceive = -1;
  int attempts = 0;             // transfers started so far
  Millis nextAttemptAt = 0;     // retry backoff: not before this
  Millis createdAt = 0;
  Millis resourceDeadline = 0;  // createdAt + timeoutIntervalForResource
  // wire-encoded URLSessionTaskMetrics of the attempts finished so far (their transactions and
  // redirects), so that a restarted daemon's completion still reports them; empty: none yet.
  std::string metrics;
};

struct EventRecord {
  std::int64_t sequence = 0;    // increasing, daemon-wide
  std::string appId, sessionId;
  std::uint64_t taskId = 0;
  int kind = 0;                 // wire event kind
  std::string payload;          // wire-encoded fields
};

class Store {
 public:
  // Opens or creates `<directory>/urlsessiond.sqlite3` (the folder is created 0700), WAL
  // mode, synchronous=FULL, foreign keys on. Throws std::runtime_error with SQLite's message.
  explicit Store(const std::string& directory);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Runs `body` inside BEGIN IMMEDIATE … COMMIT (ROLLBACK and rethrow on exception).
  // Calls nest: an inner transaction joins the outer one.
  void transaction(const std::function<void()>& body);

  // Group commit: from now on the first write opens a transaction that stays open, and
  // `opened` is called once for it; commitGroup() commits it (throws when the commit fails).
  // Every write until then, and every transaction() (as a savepoint), joins it.
  void groupWrites(std::function<void()> opened);
  void commitGroup();

  void putSession(const SessionRecord& session);  // insert or replace
  std::optional<SessionRecord> session(const std::string& appId, const std::string& sessionId) const;
  std::vector<SessionRecord> sessions() const;
  // Removes the session with its tasks and events.
  void removeSession(const std::string& appId, const std::string& sessionId);

  void putApp(const AppRecord& app);  // insert or replace
  std::vector<AppRecord> apps() const;

  void putTask(const TaskRecord& task);  // insert or replace
  std::optional<TaskRecord> task(const std::string& appId, const std::string& sessionId, std::uint64_t taskId) const;
  std::vector<TaskRecord> tasks(const std::string& appId, const std::string& sessionId) const;
  std::vector<TaskRecord> allTasks() const;  // ordered by (appId, sessionId, taskId)
  void removeTask(const std::string& appId, const std::string& sessionId, std::uint64_t taskId);

  // Appends an event to deliver; returns its sequence number.
  std::int64_t appendEvent(const std::string& appId, const std::string& sessionId, std::uint64_t taskId,
                           int kind, const std::string& payload);
  // Events not yet acknowledged, oldest first.
  std::vector<EventRecord> pendingEvents(const std::string& appId, const std::string& sessionId) const;
  std::vector<EventRecord> allPendingEvents() const;
  // The pending event with this sequence number, if there is one.
  std::optional<EventRecord> pendingEvent(std::int64_t sequence) const;
  // Deletes the event; false when it was not pending (acknowledged already).
  bool acknowledge(std::int64_t sequence);
  // The number of events not yet acknowledged, every session's.
  std::int64_t pendingEventCount() const;
  // A group's transaction is open: its writes are not committed yet.
  bool groupIsOpen() const { return groupOpen_; }

 private:
  void joinGroup();  // before every write: opens the group's transaction when needed

  sqlite3* db_ = nullptr;
  int transactionDepth_ = 0;
  std::function<void()> groupOpened_;  // set: group commit is on
  bool groupOpen_ = false;
};

}  // namespace foundation::daemon

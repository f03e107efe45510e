// Unit tests of the daemon's durable store (SQLite).
#include <doctest/doctest.h>

#include "TempFolder.hpp"

#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <sqlite3.h>

#include "daemon/Store.hpp"

using namespace foundation::daemon;
using namespace std::string_literals;

namespace {

// A temp folder whose state() subfolder the Store creates.
struct TempFolder : fntest::TempFolder {
  TempFolder() : fntest::TempFolder("test_store") {}
  std::string state() const { return (path() / "state").string(); }
};

SessionRecord makeSession(const std::string& appId, const std::string& sessionId) {
  SessionRecord session;
  session.appId = appId;
  session.sessionId = sessionId;
  session.configuration = "config\0with\0NULs\xff"s;
  session.nextTaskId = 42;
  session.launchCommand = "/usr/bin/app\0--background"s;  // wire-encoded: may hold NULs
  session.invalidated = false;
  return session;
}

// A task with every field set to something other than its default.
TaskRecord makeTask(const std::string& appId, const std::string& sessionId, std::uint64_t taskId) {
  TaskRecord task;
  task.appId = appId;
  task.sessionId = sessionId;
  task.taskId = taskId;
  task.kind = TaskKind::upload;
  task.state = TaskState::suspended;
  task.request = "\0request\0"s + std::to_string(taskId);
  task.originalRequest = "original\0\x01\x02\xfe\xff"s;
  task.uploadFile = "/var/tmp/upload-" + std::to_string(taskId);
  task.partialFile = "/var/tmp/partial-" + std::to_string(taskId);
  task.validator = "\"etag-123\"";
  task.response = "\0\0response"s;
  task.lastError = "error\0domain"s;
  task.bytesReceived = 1'000'000'000'000;
  task.bytesExpected = 2'000'000'000'000;
  task.bytesSent = 77;
  task.bytesExpectedToSend = 88;
  task.earliestBegin = 1'700'000'000'123;
  task.discretionary = true;
  task.priority = 0.123456789;
  task.description = "a task \xc3\xa9t\xc3\xa9";
  task.expectsToSend = 99;
  task.expectsToReceive = 100;
  task.attempts = 3;
  task.nextAttemptAt = 1'700'000'001'000;
  task.createdAt = 1'699'999'999'000;
  task.resourceDeadline = 1'700'604'799'000;
  task.uploadResource = "http://127.0.0.1/resumable-upload/" + std::to_string(taskId);
  task.uploadVersion = 5;
  task.metrics = "\0metrics\xff"s + std::to_string(taskId);
  return task;
}

void checkSame(const SessionRecord& a, const SessionRecord& b) {
  CHECK(a.appId == b.appId);
  CHECK(a.sessionId == b.sessionId);
  CHECK(a.configuration == b.configuration);
  CHECK(a.nextTaskId == b.nextTaskId);
  CHECK(a.launchCommand == b.launchCommand);
  CHECK(a.invalidated == b.invalidated);
}

void checkSame(const TaskRecord& a, const TaskRecord& b) {
  CHECK(a.appId == b.appId);
  CHECK(a.sessionId == b.sessionId);
  CHECK(a.taskId == b.taskId);
  CHECK(a.kind == b.kind);
  CHECK(a.state == b.state);
  CHECK(a.request == b.request);
  CHECK(a.originalRequest == b.originalRequest);
  CHECK(a.uploadFile == b.uploadFile);
  CHECK(a.partialFile == b.partialFile);
  CHECK(a.validator == b.validator);
  CHECK(a.response == b.response);
  CHECK(a.lastError == b.lastError);
  CHECK(a.bytesReceived == b.bytesReceived);
  CHECK(a.bytesExpected == b.bytesExpected);
  CHECK(a.bytesSent == b.bytesSent);
  CHECK(a.bytesExpectedToSend == b.bytesExpectedToSend);
  CHECK(a.earliestBegin == b.earliestBegin);
  CHECK(a.discretionary == b.discretionary);
  CHECK(a.priority == b.priority);
  CHECK(a.description == b.description);
  CHECK(a.expectsToSend == b.expectsToSend);
  CHECK(a.expectsToReceive == b.expectsToReceive);
  CHECK(a.attempts == b.attempts);
  CHECK(a.nextAttemptAt == b.nextAttemptAt);
  CHECK(a.createdAt == b.createdAt);
  CHECK(a.resourceDeadline == b.resourceDeadline);
  CHECK(a.uploadResource == b.uploadResource);
  CHECK(a.uploadVersion == b.uploadVersion);
  CHECK(a.metrics == b.metrics);
}

// Reads one integer with a raw SQLite connection, behind the Store's back.
std::string rawPragma(const std::string& state, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((std::filesystem::path(state) / "urlsessiond.sqlite3").c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  std::string result;
  if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0)) {
    result = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return result;
}

// CPU time of the calling thread, in milliseconds: the wall clock of a loaded CI machine says
// more about its neighbours than about the Store.
double threadCpuMs() {
  timespec now{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

}  // namespace

TEST_CASE("Store creates its folder 0700 with a WAL database of schema version 4") {
  TempFolder temp;
  const std::string state = (temp.path() / "nested" / "state").string();
  { Store store(state); }
  struct stat info {};
  REQUIRE(::stat(state.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0700);
  CHECK(std::filesystem::exists(std::filesystem::path(state) / "urlsessiond.sqlite3"));
  CHECK(rawPragma(state, "PRAGMA journal_mode") == "wal");
  CHECK(rawPragma(state, "PRAGMA user_version") == "4");
}

TEST_CASE("Store upgrades a version 1 database: its sessions stay and apps can be saved") {
  TempFolder temp;
  {
    Store store(temp.state());
    store.putSession(makeSession("app", "s1"));
  }
  rawPragma(temp.state(), "DROP TABLE apps");
  rawPragma(temp.state(), "PRAGMA user_version = 1");
  Store store(temp.state());
  CHECK(rawPragma(temp.state(), "PRAGMA user_version") == "4");
  CHECK(store.session("app", "s1").has_value());
  store.putApp({"app", 120000, 1700000000000});
  REQUIRE(store.apps().size() == 1);
}

TEST_CASE("Store upgrades a version 2 database: its tasks stay and gain the resumable upload and metrics columns") {
  TempFolder temp;
  const std::string oldTasks =
      "CREATE TABLE tasks (app_id TEXT NOT NULL, session_id TEXT NOT NULL, task_id INTEGER NOT NULL, "
      "kind INTEGER NOT NULL, state INTEGER NOT NULL, request BLOB NOT NULL, original_request BLOB NOT NULL, "
      "upload_file TEXT NOT NULL, partial_file TEXT NOT NULL, validator TEXT NOT NULL, response BLOB NOT NULL, "
      "last_error BLOB NOT NULL, bytes_received INTEGER NOT NULL, bytes_expected INTEGER NOT NULL, "
      "bytes_sent INTEGER NOT NULL, bytes_expected_to_send INTEGER NOT NULL, earliest_begin INTEGER, "
      "discretionary INTEGER NOT NULL, priority REAL NOT NULL, description TEXT NOT NULL, "
      "expects_to_send INTEGER NOT NULL, expects_to_receive INTEGER NOT NULL, attempts INTEGER NOT NULL, "
      "next_attempt_at INTEGER NOT NULL, created_at INTEGER NOT NULL, resource_deadline INTEGER NOT NULL, "
      "PRIMARY KEY (app_id, session_id, task_id))";
  {
    Store store(temp.state());
    store.putSession(makeSession("app", "s1"));
  }
  rawPragma(temp.state(), "DROP TABLE tasks");
  rawPragma(temp.state(), oldTasks);
  rawPragma(temp.state(), "INSERT INTO tasks VALUES ('app', 's1', 7, 1, 0, x'', x'', '/snapshot', '', '', x'', x'', "
                          "0, -1, 0, 0, NULL, 0, 0.5, 'old', -1, -1, 0, 0, 0, 0)");
  rawPragma(temp.state(), "PRAGMA user_version = 2");
  Store store(temp.state());
  CHECK(rawPragma(temp.state(), "PRAGMA user_version") == "4");
  auto old = store.task("app", "s1", 7);
  REQUIRE(old);
  CHECK(old->description == "old");
  CHECK(old->uploadResource.empty());
  CHECK(old->uploadVersion == 0);
  CHECK(old->metrics.empty());
  old->uploadResource = "http://127.0.0.1:8080/resumable-upload/1";
  old->uploadVersion = 5;
  old->metrics = std::string("\0metrics\xff", 9);
  store.putTask(*old);
  auto saved = store.task("app", "s1", 7);
  REQUIRE(saved);
  CHECK(saved->uploadResource == "http://127.0.0.1:8080/resumable-upload/1");
  CHECK(saved->uploadVersion == 5);
  CHECK(saved->metrics == std::string("\0metrics\xff", 9));
}

TEST_CASE("Store upgrades a version 3 database: its tasks stay and gain the metrics column") {
  TempFolder temp;
  {
    Store store(temp.state());
    store.putSession(makeSession("app", "s1"));
    store.putTask(makeTask("app", "s1", 3));
  }
  rawPragma(temp.state(), "ALTER TABLE tasks DROP COLUMN metrics");
  rawPragma(temp.state(), "PRAGMA user_version = 3");
  Store store(temp.state());
  CHECK(rawPragma(temp.state(), "PRAGMA user_version") == "4");
  auto old = store.task("app", "s1", 3);
  REQUIRE(old);
  CHECK(old->uploadVersion == 5);
  CHECK(old->metrics.empty());
}

TEST_CASE("Store round-trips the apps' launch rate limiters") {
  TempFolder temp;
  {
    Store store(temp.state());
    CHECK(store.apps().empty());
    store.putApp({"b", 60000, 1700000000000});
    store.putApp({"a", 0, 0});
    store.putApp({"b", 240000, 1700000001000});  // replaced
  }
  Store store(temp.state());
  auto apps = store.apps();
  REQUIRE(apps.size() == 2);
  CHECK(apps[0].appId == "a");
  CHECK(apps[0].launchDelay == 0);
  CHECK(apps[1].appId == "b");
  CHECK(apps[1].launchDelay == 240000);
  CHECK(apps[1].lastLaunchAt == 1700000001000);
}

TEST_CASE("Store refuses a database of a newer schema version") {
  TempFolder temp;
  { Store store(temp.state()); }
  rawPragma(temp.state(), "PRAGMA user_version = 5");
  REQUIRE(rawPragma(temp.state(), "PRAGMA user_version") == "5");
  try {
    Store store(temp.state());
    FAIL("a newer schema was accepted");
  } catch (const std::runtime_error& error) {
    CHECK(std::string(error.what()).find("newer") != std::string::npos);
  }
}

TEST_CASE("Store throws when the folder cannot be created") {
  TempFolder temp;
  const auto file = temp.path() / "a-file";
  std::ofstream(file) << "not a folder";
  CHECK_THROWS_AS(Store((file / "state").string()), std::runtime_error);
  CHECK_THROWS_AS(Store(file.string()), std::runtime_error);
}

TEST_CASE("Store round-trips every field of a session") {
  TempFolder temp;
  Store store(temp.state());
  CHECK_FALSE(store.session("app", "s1").has_value());
  CHECK(store.sessions().empty());

  auto session = makeSession("app", "s1");
  store.putSession(session);
  auto loaded = store.session("app", "s1");
  REQUIRE(loaded.has_value());
  checkSame(*loaded, session);
  CHECK(loaded->configuration.size() == 17);

  SUBCASE("empty and extreme values") {
    SessionRecord empty;
    empty.appId = "app";
    empty.sessionId = "";
    empty.nextTaskId = std::numeric_limits<std::uint64_t>::max();
    empty.invalidated = true;
    store.putSession(empty);
    auto back = store.session("app", "");
    REQUIRE(back.has_value());
    checkSame(*back, empty);
  }
  SUBCASE("insert or replace") {
    session.configuration = "other";
    session.nextTaskId = 43;
    session.launchCommand = "";
    session.invalidated = true;
    store.putSession(session);
    auto replaced = store.session("app", "s1");
    REQUIRE(replaced.has_value());
    checkSame(*replaced, session);
    CHECK(store.sessions().size() == 1);
  }
}

TEST_CASE("Store lists sessions ordered by app and session") {
  TempFolder temp;
  Store store(temp.state());
  store.putSession(makeSession("b", "1"));
  store.putSession(makeSession("a", "2"));
  store.putSession(makeSession("a", "1"));
  const auto sessions = store.sessions();
  REQUIRE(sessions.size() == 3);
  CHECK((sessions[0].appId == "a" && sessions[0].sessionId == "1"));
  CHECK((sessions[1].appId == "a" && sessions[1].sessionId == "2"));
  CHECK((sessions[2].appId == "b" && sessions[2].sessionId == "1"));
}

TEST_CASE("Store round-trips every field of a task") {
  TempFolder temp;
  Store store(temp.state());
  store.putSession(makeSession("app", "s"));
  CHECK_FALSE(store.task("app", "s", 1).has_value());

  SUBCASE("earliestBegin present, NULs in every blob") {
    const auto task = makeTask("app", "s", 1);
    store.putTask(task);
    auto loaded = store.task("app", "s", 1);
    REQUIRE(loaded.has_value());
    checkSame(*loaded, task);
    CHECK(loaded->request.size() == task.request.size());
  }
  SUBCASE("earliestBegin absent, defaults, every kind and state") {
    TaskRecord task;
    task.appId = "app";
    task.sessionId = "s";
    task.taskId = 2;
    store.putTask(task);
    auto loaded = store.task("app", "s", 2);
    REQUIRE(loaded.has_value());
    checkSame(*loaded, task);
    CHECK_FALSE(loaded->earliestBegin.has_value());

    for (auto kind : {TaskKind::data, TaskKind::upload, TaskKind::download}) {
      for (auto state : {TaskState::waiting, TaskState::running, TaskState::suspended, TaskState::completed}) {
        task.kind = kind;
        task.state = state;
        store.putTask(task);
        auto back = store.task("app", "s", 2);
        REQUIRE(back.has_value());
        CHECK(back->kind == kind);
        CHECK(back->state == state);
      }
    }
  }
  SUBCASE("a task id above 2^63") {
    auto task = makeTask("app", "s", std::numeric_limits<std::uint64_t>::max() - 5);
    task.earliestBegin = 0;  // present and zero is not absent
    store.putTask(task);
    auto loaded = store.task("app", "s", task.taskId);
    REQUIRE(loaded.has_value());
    checkSame(*loaded, task);
  }
}

TEST_CASE("Store putTask replaces, removeTask removes") {
  TempFolder temp;
  Store store(temp.state());
  store.putSession(makeSession("app", "s"));
  auto task = makeTask("app", "s", 7);
  store.putTask(task);

  task.state = TaskState::running;
  task.earliestBegin.reset();
  task.response = "";
  task.attempts = 4;
  store.putTask(task);
  CHECK(store.allTasks().size() == 1);
  auto replaced = store.task("app", "s", 7);
  REQUIRE(replaced.has_value());
  checkSame(*replaced, task);

  CHECK_FALSE(store.task("app", "s", 999).has_value());

  // Replacing a session keeps its tasks.
  store.putSession(makeSession("app", "s"));
  CHECK(store.task("app", "s", 7).has_value());

  store.removeTask("app", "s", 7);
  CHECK_FALSE(store.task("app", "s", 7).has_value());
  store.removeTask("app", "s", 7);  // twice is harmless
  CHECK(store.allTasks().empty());
}

TEST_CASE("Store orders tasks by (appId, sessionId, taskId)") {
  TempFolder temp;
  Store store(temp.state());
  for (const auto& [app, session] : std::vector<std::pair<std::string, std::string>>{{"b", "x"}, {"a", "y"}, {"a", "x"}}) {
    store.putSession(makeSession(app, session));
  }
  // Numeric order of ids: 10 after 9 and 2.
  store.putTask(makeTask("b", "x", 1));
  store.putTask(makeTask("a", "y", 10));
  store.putTask(makeTask("a", "x", 10));
  store.putTask(makeTask("a", "y", 2));
  store.putTask(makeTask("a", "x", 9));
  store.putTask(makeTask("a", "x", 2));

  const auto all = store.allTasks();
  REQUIRE(all.size() == 6);
  const std::vector<std::tuple<std::string, std::string, std::uint64_t>> expected = {
      {"a", "x", 2}, {"a", "x", 9}, {"a", "x", 10}, {"a", "y", 2}, {"a", "y", 10}, {"b", "x", 1}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(all[i].appId == std::get<0>(expected[i]));
    CHECK(all[i].sessionId == std::get<1>(expected[i]));
    CHECK(all[i].taskId == std::get<2>(expected[i]));
  }
  const auto ax = store.tasks("a", "x");
  REQUIRE(ax.size() == 3);
  CHECK(ax[0].taskId == 2);
  CHECK(ax[1].taskId == 9);
  CHECK(ax[2].taskId == 10);
  CHECK(store.tasks("a", "z").empty());
  checkSame(store.tasks("b", "x").at(0), makeTask("b", "x", 1));
}

TEST_CASE("Store needs the session before its tasks and events (foreign keys)") {
  TempFolder temp;
  Store store(temp.state());
  CHECK_THROWS_AS(store.putTask(makeTask("app", "none", 1)), std::runtime_error);
  CHECK_THROWS_AS(store.appendEvent("app", "none", 1, 1, "x"), std::runtime_error);
  CHECK(store.allTasks().empty());
  CHECK(store.allPendingEvents().empty());
}

TEST_CASE("Store events: increasing sequences, per-session order, acknowledge") {
  TempFolder temp;
  Store store(temp.state());
  store.putSession(makeSession("app", "s1"));
  store.putSession(makeSession("app", "s2"));

  const auto e1 = store.appendEvent("app", "s1", 1, 10, "one\0"s);
  const auto e2 = store.appendEvent("app", "s2", 2, 20, "two");
  const auto e3 = store.appendEvent("app", "s1", 3, 30, ""s);
  const auto e4 = store.appendEvent("app", "s1", 1, 40, "\0\xff\0"s);
  CHECK(e1 < e2);
  CHECK(e2 < e3);
  CHECK(e3 < e4);

  const auto s1 = store.pendingEvents("app", "s1");
  REQUIRE(s1.size() == 3);
  CHECK(s1[0].sequence == e1);
  CHECK(s1[1].sequence == e3);
  CHECK(s1[2].sequence == e4);
  CHECK(s1[0].appId == "app");
  CHECK(s1[0].sessionId == "s1");
  CHECK(s1[0].taskId == 1);
  CHECK(s1[0].kind == 10);
  CHECK(s1[0].payload == "one\0"s);
  CHECK(s1[1].payload.empty());
  CHECK(s1[2].payload == "\0\xff\0"s);
  CHECK(s1[2].kind == 40);

  const auto all = store.allPendingEvents();
  REQUIRE(all.size() == 4);
  for (std::size_t i = 0; i < all.size(); ++i) CHECK(all[i].sequence == std::vector{e1, e2, e3, e4}[i]);
  CHECK(all[1].sessionId == "s2");
  CHECK(all[1].taskId == 2);

  CHECK(store.acknowledge(e3));
  CHECK_FALSE(store.acknowledge(e3));
  CHECK_FALSE(store.acknowledge(e4 + 100));
  const auto after = store.pendingEvents("app", "s1");
  REQUIRE(after.size() == 2);
  CHECK(after[0].sequence == e1);
  CHECK(after[1].sequence == e4);

  // Removing a task leaves its events pending.
  store.putTask(makeTask("app", "s1", 1));
  store.removeTask("app", "s1", 1);
  CHECK(store.pendingEvents("app", "s1").size() == 2);
}

TEST_CASE("Store never reuses an event sequence, even after acknowledge and a restart") {
  TempFolder temp;
  std::int64_t last = 0;
  {
    Store store(temp.state());
    store.putSession(makeSession("app", "s"));
    store.appendEvent("app", "s", 1, 1, "a");
    last = store.appendEvent("app", "s", 1, 2, "b");
    CHECK(store.acknowledge(last));  // the largest sequence is gone
    const auto next = store.appendEvent("app", "s", 1, 3, "c");
    CHECK(next > last);
    CHECK(store.acknowledge(next));
    last = next;
    CHECK(store.acknowledge(1));
    CHECK(store.allPendingEvents().empty());
  }
  {
    Store store(temp.state());
    const auto next = store.appendEvent("app", "s", 1, 4, "d");
    CHECK(next > last);
    CHECK_FALSE(store.acknowledge(last));
    CHECK(store.acknowledge(next));
    CHECK_FALSE(store.acknowledge(next));
  }
}

TEST_CASE("Store removeSession removes the session with its tasks and events, and nothing else") {
  TempFolder temp;
  Store store(temp.state());
  store.putSession(makeSession("app", "gone"));
  store.putSession(makeSession("app", "kept"));
  store.putSession(makeSession("other", "gone"));
  for (std::uint64_t id = 1; id <= 3; ++id) {
    store.putTask(makeTask("app", "gone", id));
    store.putTask(makeTask("app", "kept", id));
    store.putTask(makeTask("other", "gone", id));
    store.appendEvent("app", "gone", id, 1, "x");
    store.appendEvent("app", "kept", id, 1, "x");
    store.appendEvent("other", "gone", id, 1, "x");
  }
  store.removeSession("app", "gone");
  CHECK_FALSE(store.session("app", "gone").has_value());
  CHECK(store.tasks("app", "gone").empty());
  CHECK(store.pendingEvents("app", "gone").empty());
  CHECK(store.session("app", "kept").has_value());
  CHECK(store.tasks("app", "kept").size() == 3);
  CHECK(store.pendingEvents("app", "kept").size() == 3);
  CHECK(store.tasks("other", "gone").size() == 3);
  CHECK(store.pendingEvents("other", "gone").size() == 3);
  CHECK(store.sessions().size() == 2);
  CHECK(store.allTasks().size() == 6);
  CHECK(store.allPendingEvents().size() == 6);
  store.removeSession("app", "gone");  // twice is harmless
}

TEST_CASE("Store transactions commit together and roll back together") {
  TempFolder temp;
  Store store(temp.state());
  store.putSession(makeSession("app", "s"));

  SUBCASE("commit") {
    store.transaction([&] {
      store.putTask(makeTask("app", "s", 1));
      store.transaction([&] { store.appendEvent("app", "s", 1, 1, "inner"); });
      store.putTask(makeTask("app", "s", 2));
    });
    CHECK(store.allTasks().size() == 2);
    CHECK(store.allPendingEvents().size() == 1);
  }
  SUBCASE("an exception in a nested transaction rolls back the outer one") {
    struct Boom {};
    CHECK_THROWS_AS(store.transaction([&] {
      store.putTask(makeTask("app", "s", 1));
      store.appendEvent("app", "s", 1, 1, "outer");
      store.transaction([&] {
        store.putTask(makeTask("app", "s", 2));
        store.transaction([&] {
          store.putSession(makeSession("app", "new"));
          throw Boom{};
        });
      });
    }), Boom);
    CHECK(store.allTasks().empty());
    CHECK(store.allPendingEvents().empty());
    CHECK(store.sessions().size() == 1);
    // And the store still works afterwards.
    store.transaction([&] { store.putTask(makeTask("app", "s", 3)); });
    CHECK(store.allTasks().size() == 1);
  }
  SUBCASE("an SQLite error inside rolls back too") {
    CHECK_THROWS_AS(store.transaction([&] {
      store.putTask(makeTask("app", "s", 1));
      store.putTask(makeTask("app", "no-such-session", 2));
    }), std::runtime_error);
    CHECK(store.allTasks().empty());
  }
  SUBCASE("an inner exception caught by the outer body undoes only the inner writes") {
    store.transaction([&] {
      store.putTask(makeTask("app", "s", 1));
      try {
        store.transaction([&] {
          store.putTask(makeTask("app", "s", 2));
          throw std::logic_error("inner");
        });
      } catch (const std::logic_error&) {
      }
      store.putTask(makeTask("app", "s", 3));
    });
    const auto tasks = store.allTasks();
    REQUIRE(tasks.size() == 2);
    CHECK(tasks[0].taskId == 1);
    CHECK(tasks[1].taskId == 3);
  }
}

TEST_CASE("Store data survives closing and reopening") {
  TempFolder temp;
  const auto session = makeSession("app", "s");
  const auto task = makeTask("app", "s", 5);
  std::int64_t sequence = 0;
  {
    Store store(temp.state());
    store.putSession(session);
    store.putTask(task);
    sequence = store.appendEvent("app", "s", 5, 9, "payload\0"s);
  }
  Store store(temp.state());
  auto loadedSession = store.session("app", "s");
  REQUIRE(loadedSession.has_value());
  checkSame(*loadedSession, session);
  auto loadedTask = store.task("app", "s", 5);
  REQUIRE(loadedTask.has_value());
  checkSame(*loadedTask, task);
  const auto events = store.allPendingEvents();
  REQUIRE(events.size() == 1);
  CHECK(events[0].sequence == sequence);
  CHECK(events[0].payload == "payload\0"s);
}

TEST_CASE("Store: two Stores on the same folder see each other's commits (WAL)") {
  TempFolder temp;
  Store first(temp.state());
  Store second(temp.state());
  first.putSession(makeSession("app", "s"));
  REQUIRE(second.session("app", "s").has_value());
  second.putTask(makeTask("app", "s", 1));
  CHECK(first.task("app", "s", 1).has_value());

  const auto a = first.appendEvent("app", "s", 1, 1, "a");
  const auto b = second.appendEvent("app", "s", 1, 1, "b");
  CHECK(b > a);
  CHECK(first.acknowledge(b));
  CHECK_FALSE(second.acknowledge(b));

  // A reader is not blocked by the other connection's open write transaction.
  first.transaction([&] {
    first.putTask(makeTask("app", "s", 2));
    CHECK(second.allTasks().size() == 1);  // not committed yet
  });
  CHECK(second.allTasks().size() == 2);
}

TEST_CASE("Store timing: 10,000 tasks written in one transaction and loaded back") {
  TempFolder temp;
  constexpr int count = 10'000;
  using Clock = std::chrono::steady_clock;
  const auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  double putMs = 0, putCpuMs = 0, openMs = 0, loadMs = 0, loadCpuMs = 0;
  {
    Store store(temp.state());
    store.putSession(makeSession("app", "s"));
    auto task = makeTask("app", "s", 0);
    task.request = std::string(600, 'r');  // a typical wire-encoded request with a few headers
    task.originalRequest = task.request;
    const auto start = Clock::now();
    const double cpu = threadCpuMs();
    store.transaction([&] {
      for (int i = 1; i <= count; ++i) {
        task.taskId = static_cast<std::uint64_t>(i);
        store.putTask(task);
      }
    });
    putCpuMs = threadCpuMs() - cpu;
    putMs = ms(Clock::now() - start);
  }
  {
    const auto start = Clock::now();
    Store store(temp.state());
    const auto opened = Clock::now();
    const double cpu = threadCpuMs();
    const auto tasks = store.allTasks();
    loadCpuMs = threadCpuMs() - cpu;
    const auto loaded = Clock::now();
    openMs = ms(opened - start);
    loadMs = ms(loaded - opened);
    REQUIRE(tasks.size() == count);
    CHECK(tasks.front().taskId == 1);
    CHECK(tasks.back().taskId == count);
  }
  MESSAGE("putTask x10000 in one transaction: " << putMs << " ms wall, " << putCpuMs << " ms CPU; reopen: "
          << openMs << " ms; allTasks() of 10000: " << loadMs << " ms wall, " << loadCpuMs << " ms CPU");
  CHECK(openMs + loadMs < 1000);
}

TEST_CASE("Store group commit: one transaction for many writes, invisible to others until commitGroup") {
  TempFolder temp;
  Store store(temp.state());
  Store reader(temp.state());  // another connection, as a restarted daemon would read
  int opened = 0;
  store.groupWrites([&] { ++opened; });
  store.putSession(makeSession("app", "s"));
  store.transaction([&] { store.putTask(makeTask("app", "s", 1)); });  // joins as a savepoint
  store.putTask(makeTask("app", "s", 2));
  store.appendEvent("app", "s", 1, 1, "payload");
  CHECK(opened == 1);
  CHECK(store.allTasks().size() == 2);  // the writer sees its own writes
  CHECK(reader.allTasks().empty());     // nobody else does before the commit
  CHECK(reader.sessions().empty());
  store.commitGroup();
  CHECK(reader.allTasks().size() == 2);
  CHECK(reader.allPendingEvents().size() == 1);
  // The next write opens the next group.
  store.removeTask("app", "s", 1);
  CHECK(opened == 2);
  CHECK(reader.allTasks().size() == 2);
  store.commitGroup();
  CHECK(reader.allTasks().size() == 1);
  store.commitGroup();  // nothing open: nothing to do
  store.groupWrites(nullptr);
  store.putTask(makeTask("app", "s", 3));  // back to one transaction per write
  CHECK(opened == 2);
  CHECK(reader.allTasks().size() == 2);
}

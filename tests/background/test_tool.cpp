// The urlsession tool against a real urlsessiond: daemon status, tasks, download.
#include <doctest/doctest.h>

#include <sstream>

#include "BackgroundFixture.hpp"

using namespace fntest;

namespace {

struct ToolRun {
  int exitCode = -1;
  std::vector<std::string> lines;
};

// Runs a program to its end; its stdout lines and exit status.
ToolRun run(std::vector<std::string> arguments, const char* program = URLSESSION_PATH) {
  App tool(std::move(arguments), program);
  int status = tool.wait();
  tool.waitFor("\x01never", 10s);  // returns at the end of its output
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, tool.lines()};
}

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

// The `urlsession tasks` row of a session's task, split in words ({} when absent).
std::vector<std::string> row(const ToolRun& listing, const std::string& sessionId) {
  for (const auto& line : listing.lines) {
    auto w = words(line);
    if (w.size() > 8 && w[1] == sessionId) return w;
  }
  return {};
}

bool has(const ToolRun& r, const std::string& text) {
  for (const auto& line : r.lines)
    if (line.find(text) != std::string::npos) return true;
  return false;
}

std::string contents(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

int requestsFor(BackgroundEnvironment& env, const std::string& query) {
  int n = 0;
  for (const auto& r : env.server.requests()) n += r.target.find(query) != std::string::npos;
  return n;
}

}  // namespace

TEST_CASE("urlsession and urlsessiond answer --help; bad arguments exit with status 2") {
  BackgroundEnvironment env("tooltest");
  for (std::vector<std::string> help : {std::vector<std::string>{"--help"}, {"daemon", "status", "--help"},
                                        {"tasks", "--help"}, {"download", "--help"}}) {
    auto r = run(help);
    CHECK(r.exitCode == 0);
    REQUIRE_FALSE(r.lines.empty());
    CHECK(r.lines[0].rfind("usage: urlsession", 0) == 0);
  }
  auto daemonHelp = run({"--help"}, URLSESSIOND_PATH);
  CHECK(daemonHelp.exitCode == 0);
  CHECK(has(daemonHelp, "--foreground"));
  CHECK(run({}).exitCode == 2);
  CHECK(run({"frobnicate"}).exitCode == 2);
  CHECK(run({"download", env.server.url("/hello")}).exitCode == 2);  // no --background
  CHECK(run({"download", "ftp://example.com/x", "--background", "b"}).exitCode == 2);
  CHECK(run({"download", env.server.url("/hello"), "--background", "b", "--earliest-begin", "soon"}).exitCode == 2);
  CHECK(env.daemonPid() == 0);  // none of them needed the daemon
}

TEST_CASE("urlsession daemon status: status 1 without a daemon; pid, sessions and transfers with one") {
  BackgroundEnvironment env("tooltest");
  auto none = run({"daemon", "status"});
  CHECK(none.exitCode == 1);
  CHECK(none.lines.empty());
  CHECK(env.daemonPid() == 0);  // status never starts one

  App app({"st", "download", env.server.url("/bytes?n=2000000&pace_ms=40&chunk=32768"), "--stay"});
  REQUIRE_FALSE(app.waitFor("progress").empty());
  auto status = run({"daemon", "status"});
  CHECK(status.exitCode == 0);
  CHECK(has(status, "urlsessiond is running: pid " + std::to_string(env.daemonPid()) + ","));
  CHECK(has(status, "sessions: 1"));
  CHECK(has(status, "tasks: 0 waiting, 1 running, 0 suspended, 0 completed (0 events not yet acknowledged)"));
  CHECK(has(status, "running transfers: 1"));
  CHECK(has(status, "  tooltest st #1 download received "));
  CHECK(has(status, "/2000000 sent 0/0 " + env.server.url("/bytes")));
}

TEST_CASE("urlsession tasks lists every task with its state, bytes, retries, next attempt and description") {
  BackgroundEnvironment env("tooltest");
  App running({"t1", "download", env.server.url("/bytes?n=2000000&pace_ms=40&chunk=32768"), "--stay"});
  REQUIRE_FALSE(running.waitFor("progress").empty());
  {
    App scheduled({"t2", "download", env.server.url("/bytes?n=1000"), "--earliest-ms", "600000", "--wait-ms", "200"});
    REQUIRE_FALSE(scheduled.waitFor("started").empty());
    scheduled.wait();
  }
  {
    App finished({"t3", "download", env.server.url("/bytes?n=5000"), "--exit-in-finish"});
    REQUIRE_FALSE(finished.waitFor("downloaded").empty());
    finished.wait();  // died in didFinishDownloadingTo: the completion stays undelivered
  }
  auto listing = run({"tasks", "--app", "tooltest"});
  CHECK(listing.exitCode == 0);
  auto t1 = row(listing, "t1"), t2 = row(listing, "t2"), t3 = row(listing, "t3");
  REQUIRE(t1.size() > 9);
  REQUIRE(t2.size() > 11);
  REQUIRE(t3.size() > 9);
  CHECK(t1[0] == "tooltest");
  CHECK(t1[2] == "1");
  CHECK(t1[3] == "download");
  CHECK(t1[4] == "running");
  auto received = std::stoll(t1[5].substr(0, t1[5].find('/')));
  CHECK(received > 0);
  CHECK(received < 2000000);
  CHECK(t1[5].substr(t1[5].find('/')) == "/2000000");
  CHECK(t1[6] == "0/0");
  CHECK(t1[7] == "0");  // retries
  CHECK(t1[8] == "-");  // no next attempt: it is running
  CHECK(t1[9] == "bg-app-download");

  CHECK(t2[4] == "scheduled");
  CHECK(t2[5] == "0/?");
  CHECK(t2[9] == "(in");  // the earliestBeginDate, 10 minutes from now
  CHECK(t2[10].rfind("9m", 0) == 0);
  CHECK(t2[11] == "bg-app-download");
  CHECK(requestsFor(env, "n=1000") == 0);

  CHECK(t3[4] == "completed");
  CHECK(t3[5] == "5000/5000");
  CHECK(t3[9] == "bg-app-download");

  auto other = run({"tasks", "--app", "nobody"});
  CHECK(other.exitCode == 0);
  CHECK(other.lines == std::vector<std::string>{"no tasks"});
}

TEST_CASE("urlsession tasks starts the daemon when none runs, which reloads the stored tasks") {
  BackgroundEnvironment env("tooltest");
  {
    App scheduled({"later", "download", env.server.url("/bytes?n=1000"), "--earliest-ms", "600000", "--wait-ms", "200"});
    REQUIRE_FALSE(scheduled.waitFor("started").empty());
    scheduled.wait();
  }
  env.killDaemon();
  REQUIRE(run({"daemon", "status"}).exitCode == 1);
  auto listing = run({"tasks"});
  CHECK(listing.exitCode == 0);
  auto later = row(listing, "later");
  REQUIRE(later.size() > 4);
  CHECK(later[4] == "scheduled");
  CHECK(env.daemonPid() > 0);
}

TEST_CASE("urlsession download saves the exact bytes where -o says, and the daemon forgets the task") {
  BackgroundEnvironment env("tooltest");
  auto file = env.root / "out.bin";
  auto r = run({"download", env.server.url("/bytes?n=700000&pace_ms=20&chunk=65536"), "--background", "dl", "-o",
                file.string()});
  CHECK(r.exitCode == 0);
  REQUIRE_FALSE(r.lines.empty());
  CHECK(r.lines.front().rfind("task 1 of session dl: ", 0) == 0);
  CHECK(has(r, "progress "));  // plain lines: stdout is not a terminal
  CHECK(r.lines.back() == "downloaded 700000 bytes to " + file.string());
  CHECK(contents(file) == pattern(0, 700000));
  // Acknowledged: nothing left to deliver again.
  CHECK(run({"tasks", "--app", "tooltest"}).lines == std::vector<std::string>{"no tasks"});

  auto missing = run({"download", env.server.url("/status/404"), "--background", "dl", "-o", (env.root / "nf").string()});
  CHECK(missing.exitCode == 1);
  CHECK_FALSE(fs::exists(env.root / "nf"));
}

TEST_CASE("urlsession download --earliest-begin: scheduled in tasks, nothing on the wire before, then saved") {
  BackgroundEnvironment env("tooltest");
  auto file = env.root / "later.bin";
  auto started = std::chrono::steady_clock::now();
  App tool({"download", env.server.url("/bytes?n=123456&late=1"), "--background", "soon", "--earliest-begin", "+2s",
            "-o", file.string()},
           URLSESSION_PATH);
  REQUIRE_FALSE(tool.waitFor("scheduled: not before").empty());
  auto listing = run({"tasks"});
  auto soon = row(listing, "soon");
  REQUIRE(soon.size() > 14);
  CHECK(soon[0] == "tooltest");
  CHECK(soon[4] == "scheduled");
  CHECK(soon[9] == "(in");
  CHECK(soon[11] + " " + soon[12] + " " + soon[13] == "urlsession download to");
  CHECK(soon[14] == file.string());
  CHECK(requestsFor(env, "late=1") == 0);

  CHECK(tool.waitFor("downloaded", 30s) == "downloaded 123456 bytes to " + file.string());
  CHECK(std::chrono::steady_clock::now() - started >= 1900ms);
  int status = tool.wait();
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  CHECK(contents(file) == pattern(0, 123456));
}

// Launch events (the daemon starting an app for its pending events, with Apple's doubling rate
// limiter), the app-state API, the throughput floor, and invalidating background sessions.
// Real daemon, real app processes: apps launched by the daemon have no stdout and report
// through their --log file.
#include <doctest/doctest.h>

#include <algorithm>
#include <future>
#include <thread>

#include "../integration/Recorder.hpp"
#include "BackgroundFixture.hpp"

using namespace fntest;

namespace {

// The times (ms since the epoch) in the "launched … <ms>" lines of a launched app's log.
std::vector<std::int64_t> launchTimes(const std::vector<std::string>& lines) {
  std::vector<std::int64_t> times;
  for (const auto& line : lines)
    if (line.rfind("launched", 0) == 0) times.push_back(std::stoll(line.substr(line.rfind(' ') + 1)));
  return times;
}

// An app registers `bg_app SESSION MODE --log LOG` as its launch command, starts a paced
// download of `size` bytes, and is killed mid-transfer: the rest happens with no app attached.
void startDownloadAndKill(BackgroundEnvironment& env, const std::string& session, std::size_t size,
                          const fs::path& log, const std::string& mode, const std::string& option = "") {
  std::vector<std::string> arguments{session, "download", slowBody(env, size, 30), "--register-launch", log.string(), mode};
  if (!option.empty()) arguments.push_back(option);
  App app(arguments);
  REQUIRE_FALSE(app.waitFor("progress").empty());
  app.kill9();
}

std::size_t liveTaskCount(URLSession& session) {
  std::promise<std::size_t> count;
  session.getAllTasks([&](std::vector<std::shared_ptr<URLSessionTask>> tasks) { count.set_value(tasks.size()); });
  return count.get_future().get();
}

}  // namespace

TEST_CASE("an app with pending events and no process is launched: handle-events, the events, the completion handler") {
  BackgroundEnvironment env;
  auto log = env.root / "launched.log";
  startDownloadAndKill(env, "l1", 300000, log, "launched");
  // The daemon finishes the download alone, finds nobody attached, and starts the registered command.
  auto lines = waitForLog(log, "run-loop-stopped");
  REQUIRE(lines.size() == 7);
  CHECK(lines[0].rfind("launched l1 background ", 0) == 0);  // for that session, in the background
  std::vector<std::string> flow(lines.begin() + 1, lines.end());
  CHECK(flow == std::vector<std::string>{"handle-events l1", "downloaded 1 300000 exact bg-app-download",
                                         "complete 1 0 200", "finished-events", "completion-handler",
                                         "run-loop-stopped"});
  // Acknowledged by the launched app: nothing is pending, nothing launches again.
  App again({"l1", "attach", "--wait-ms", "800"});
  again.wait();
  CHECK(again.count("complete") == 0);
  CHECK(launchTimes(logLines(log)).size() == 1);
}

// The daemon decided to launch the app, then another instance of it took the events first (it
// was still leaving when the transfer ended): the launched process finds nothing to replay.
TEST_CASE("an app launched for a session with nothing left to deliver still gets finished-events and leaves") {
  BackgroundEnvironment env;
  App previous({"l0", "download", env.server.url("/bytes?n=1000"), "--wait-ms", "5000"});
  REQUIRE(previous.waitFor("complete") == "complete 1 0 200");
  previous.wait();  // acknowledged: nothing is pending for l0
  auto log = env.root / "launched.log";
  ::setenv("FOUNDATION_NET_LAUNCH_SESSIONS", "l0", 1);  // how urlsessiond starts a launch command
  App launched({"l0", "launched", "--log", log.string(), "--wait-ms", "5000"});
  ::unsetenv("FOUNDATION_NET_LAUNCH_SESSIONS");
  launched.wait();
  auto lines = logLines(log);
  REQUIRE(lines.size() == 5);
  std::vector<std::string> flow(lines.begin() + 1, lines.end());
  CHECK(flow == std::vector<std::string>{"handle-events l0", "finished-events", "completion-handler", "run-loop-stopped"});
  // A process that merely runs in the background was not launched for events: no such call.
  App background({"l0", "attach", "--background", "--wait-ms", "800"});
  background.wait();
  CHECK(background.count("finished-events") == 0);
}

TEST_CASE("no launch when sessionSendsLaunchEvents is false: the events wait for the next run") {
  BackgroundEnvironment env;
  auto log = env.root / "launched.log";
  startDownloadAndKill(env, "l2", 200000, log, "launched", "--no-launch-events");
  std::this_thread::sleep_for(1500ms);  // the download ends within ~0.3 s; a launch would follow at once
  CHECK_FALSE(fs::exists(log));
  App relaunched({"l2", "attach"});
  CHECK(relaunched.waitFor("complete") == "complete 1 0 200");
  relaunched.wait();  // it acknowledges before it leaves
}

TEST_CASE("the launch delay doubles with each launch and starts from zero once the app is in the foreground") {
  BackgroundEnvironment env;
  ::setenv("FOUNDATION_NET_LAUNCH_DELAY_MS", "500", 1);
  auto log = env.root / "launched.log";
  // The launched app exits without attaching, so its events stay pending and it is launched again.
  startDownloadAndKill(env, "l3", 100000, log, "launched-noop");
  auto times = launchTimes(waitForLog(log, "launched", 3));
  REQUIRE(times.size() >= 3);
  // 0, then 500 ms, then 1000 ms (less the launched processes' start-up jitter).
  CHECK(times[1] - times[0] >= 400);
  CHECK(times[2] - times[1] >= 900);
  // The app runs in the foreground (another of its sessions): the limiter resets, so the next
  // launch comes as soon as it is gone — not 2000 ms after the third.
  {
    App foreground({"other", "attach", "--wait-ms", "300"});
    foreground.wait();
  }
  times = launchTimes(waitForLog(log, "launched", 4));
  REQUIRE(times.size() >= 4);
  CHECK(times[3] - times[2] < 1800);
}

TEST_CASE("the launch command survives a daemon restart: the restarted daemon finishes the download and launches the app") {
  BackgroundEnvironment env;
  auto log = env.root / "launched.log";
  startDownloadAndKill(env, "p1", 600000, log, "launched");
  env.killDaemon();  // mid-download, with nobody attached
  env.startDaemon();
  auto lines = waitForLog(log, "run-loop-stopped");
  CHECK(std::count(lines.begin(), lines.end(), "downloaded 1 600000 exact bg-app-download") == 1);
  CHECK(std::count(lines.begin(), lines.end(), "completion-handler") == 1);
}

TEST_CASE("tasks created in the background wait out the launch delay, which survives a daemon restart") {
  BackgroundEnvironment env;
  ::setenv("FOUNDATION_NET_LAUNCH_DELAY_MS", "2000", 1);
  auto log = env.root / "launched.log";
  startDownloadAndKill(env, "r1", 100000, log, "launched-noop");
  REQUIRE(launchTimes(waitForLog(log, "launched")).size() == 1);  // the next launch waits 2000 ms
  env.killDaemon();  // the limiter's state is in the store
  App background({"r2", "download", env.server.url("/bytes?n=1000"), "--background"});
  REQUIRE_FALSE(background.waitFor("started").empty());
  auto started = std::chrono::steady_clock::now();
  CHECK(background.waitFor("complete") == "complete 1 0 200");
  CHECK(std::chrono::steady_clock::now() - started >= 1500ms);
  // The restarted daemon knew the last launch: it did not launch again at once.
  CHECK(launchTimes(logLines(log)).size() == 1);
}

TEST_CASE("a launch delay that passed without a relaunch no longer holds tasks created in the background") {
  BackgroundEnvironment env;
  ::setenv("FOUNDATION_NET_LAUNCH_DELAY_MS", "1500", 1);
  auto log = env.root / "launched.log";
  // One launch that takes its events: the delay is 1500 ms now, and nothing asks for a relaunch.
  startDownloadAndKill(env, "d1", 100000, log, "launched");
  REQUIRE(launchTimes(waitForLog(log, "run-loop-stopped")).size() == 1);
  // Twice the delay later it has expired (Apple: reset once it passes without a relaunch).
  std::this_thread::sleep_for(3200ms);
  App background({"d2", "download", env.server.url("/bytes?n=1000"), "--background"});
  REQUIRE_FALSE(background.waitFor("started").empty());
  auto started = std::chrono::steady_clock::now();
  CHECK(background.waitFor("complete") == "complete 1 0 200");
  CHECK(std::chrono::steady_clock::now() - started < 1200ms);
  CHECK(launchTimes(logLines(log)).size() == 1);
}

TEST_CASE("tasks created while the app is in the background are discretionary") {
  BackgroundEnvironment env;
  env.setConditions("power=battery\nnetwork=unmetered\n");
  {
    // In the foreground the same download goes at once, battery or not.
    App foreground({"d1", "download", env.server.url("/bytes?n=5000&which=foreground")});
    CHECK(foreground.waitFor("complete") == "complete 1 0 200");
  }
  App background({"d2", "download", env.server.url("/bytes?n=5000&which=background"), "--background"});
  REQUIRE_FALSE(background.waitFor("started").empty());
  std::this_thread::sleep_for(1500ms);
  int sent = 0;
  for (const auto& r : env.server.requests()) sent += r.query.count("which") && r.query.at("which") == "background";
  CHECK(sent == 0);
  CHECK(background.count("complete") == 0);  // waiting, not failing
  env.setConditions("power=ac\nnetwork=unmetered\n");
  CHECK(background.waitFor("complete") == "complete 1 0 200");
}

TEST_CASE("a transfer below the throughput floor is stopped and continued later, with exact bytes") {
  BackgroundEnvironment env;
  ::setenv("FOUNDATION_NET_THROUGHPUT_FLOOR", "50000", 1);
  ::setenv("FOUNDATION_NET_THROUGHPUT_WINDOW_MS", "400", 1);
  // 20 kB/s for the full body; a continuation (206) comes at full speed.
  App app({"f1", "download",
           env.server.url("/bytes?n=300000&ranges=1&etag=v1&pace_ms=100&chunk=2000&pace_full_only=1")});
  CHECK(app.waitFor("downloaded", 30s) == "downloaded 1 300000 exact bg-app-download");
  CHECK(app.waitFor("complete") == "complete 1 0 206");
  CHECK(rangeRequests(env) >= 1);
}

TEST_CASE("invalidating a background session: invalidateAndCancel cancels its daemon tasks, finishTasksAndInvalidate lets them finish") {
  BackgroundEnvironment env;
  auto recorder = std::make_shared<Recorder>();
  auto session = URLSession::make(URLSessionConfiguration::background("invalidate"), recorder);

  SUBCASE("invalidateAndCancel") {
    auto task = session->downloadTask(URL(slowBody(env, 2000000, 50)));
    task->resume();
    for (int i = 0; i < 500 && recorder->bytesWritten(task->taskIdentifier()) == 0; ++i) std::this_thread::sleep_for(20ms);
    REQUIRE(recorder->bytesWritten(task->taskIdentifier()) > 0);
    session->invalidateAndCancel();
    REQUIRE(recorder->waitForCompletions(1));
    REQUIRE(recorder->completion(task->taskIdentifier()).error);
    CHECK(recorder->completion(task->taskIdentifier()).error->code == URLError::cancelled);
    CHECK(recorder->waitForInvalidation());
  }
  SUBCASE("finishTasksAndInvalidate") {
    auto task = session->downloadTask(URL(slowBody(env, 300000, 30)));
    task->resume();
    session->finishTasksAndInvalidate();
    CHECK_THROWS_AS(session->downloadTask(URL(env.server.url("/hello"))), std::logic_error);
    REQUIRE(recorder->waitForCompletions(1));
    CHECK_FALSE(recorder->completion(task->taskIdentifier()).error);
    CHECK(statusOf(task->response()) == 200);
    CHECK(recorder->waitForInvalidation());
  }
  // The invalidated session let go of the daemon's: a new one with the same identifier attaches
  // (no -996) with nothing in flight (the completion was acknowledged, not left to replay), and works.
  auto nextRecorder = std::make_shared<Recorder>();
  auto next = URLSession::make(URLSessionConfiguration::background("invalidate"), nextRecorder);
  CHECK(liveTaskCount(*next) == 0);
  auto task = next->downloadTask(URL(env.server.url("/bytes?n=1000")));
  task->resume();
  REQUIRE(nextRecorder->waitForCompletions(1));
  CHECK_FALSE(nextRecorder->completion(task->taskIdentifier()).error);
}

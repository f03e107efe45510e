// Task-level authentication challenges of background tasks: the daemon asks the attached app
// (URLSessionTaskDelegate::didReceiveChallenge, else the session-level method) and answers the
// server with what it decided; with no app attached it launches the app to ask it.
#include <doctest/doctest.h>

#include "../integration/Recorder.hpp"
#include "BackgroundFixture.hpp"

using namespace fntest;

namespace {

// Answers each challenge with `disposition` and the next of `answers` (or none), records what
// it saw; with `answers` empty and `silent`, never calls the completion handler.
class ChallengeRecorder : public Recorder {
 public:
  URLSession::AuthChallengeDisposition disposition = URLSession::AuthChallengeDisposition::useCredential;
  std::vector<URLCredential> answers;
  bool silent = false;
  struct Seen {
    std::string host, protocol, method;
    int port = 0, previousFailureCount = -1, failureStatus = 0;
    std::optional<std::string> realm;
  };

  void didReceiveChallenge(URLSession&, URLSessionTask&, const URLAuthenticationChallenge& challenge,
      std::function<void(URLSession::AuthChallengeDisposition, std::optional<URLCredential>)> answer) override {
    const auto& space = challenge.protectionSpace();
    std::optional<URLCredential> credential;
    {
      std::lock_guard lock(mutex_);
      seen_.push_back(Seen{space.host(), space.protocol(), space.authenticationMethod(), space.port(),
                           challenge.previousFailureCount(), statusOf(challenge.failureResponse()), space.realm()});
      if (!answers.empty()) {
        credential = answers.front();
        answers.erase(answers.begin());
      }
    }
    if (silent) return;
    answer(disposition, credential);
  }
  std::vector<Seen> seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Seen> seen_;
};

URLCredential credential(std::string user, std::string password) {
  return URLCredential(std::move(user), std::move(password), URLCredential::Persistence::forSession);
}

struct AuthApp {
  std::shared_ptr<ChallengeRecorder> recorder = std::make_shared<ChallengeRecorder>();
  std::shared_ptr<URLSession> session;
  explicit AuthApp(const std::string& id, double requestTimeout = 60) {
    auto configuration = URLSessionConfiguration::background(id);
    configuration.timeoutIntervalForRequest = requestTimeout;
    recorder->keepsDownloads = true;
    session = URLSession::make(configuration, recorder);
  }
  std::shared_ptr<URLSessionDownloadTask> download(TestServer& server) {
    auto task = session->downloadTask(URL(server.url("/auth/basic?user=bob&pass=hunter2")));
    task->resume();
    return task;
  }
};

}  // namespace

TEST_CASE("a background task's challenge goes to the attached app, which answers with a credential") {
  BackgroundEnvironment env;
  AuthApp app("auth-use");
  app.recorder->answers = {credential("bob", "wrong"), credential("bob", "hunter2")};
  auto task = app.download(env.server);
  REQUIRE(app.recorder->waitForCompletions(1));
  CHECK_FALSE(app.recorder->completion(task->taskIdentifier()).error);
  CHECK(statusOf(task->response()) == 200);
  CHECK(app.recorder->downloaded(task->taskIdentifier()) == "authorized");
  auto seen = app.recorder->seen();
  REQUIRE(seen.size() == 2);  // the wrong password fails once, then the right one is asked for again
  CHECK(seen[0].host == "127.0.0.1");
  CHECK(seen[0].port == env.server.port());
  CHECK(seen[0].protocol == "http");
  CHECK(seen[0].realm == std::optional<std::string>("fntest"));
  CHECK(seen[0].method == NSURLAuthenticationMethodHTTPBasic);
  CHECK(seen[0].failureStatus == 401);
  CHECK(seen[0].previousFailureCount == 0);
  CHECK(seen[1].previousFailureCount == 1);
  auto requests = env.server.requests();
  REQUIRE(requests.size() == 3);
  CHECK(requests[2].header("Authorization").has_value());
}

TEST_CASE("the other answers to a background task's challenge act as in-process") {
  BackgroundEnvironment env;
  AuthApp app("auth-answers");
  std::shared_ptr<URLSessionDownloadTask> task;
  auto run = [&](URLSession::AuthChallengeDisposition disposition) {
    app.recorder->disposition = disposition;
    task = app.download(env.server);
    REQUIRE(app.recorder->waitForCompletions(1));
    CHECK(app.recorder->seen().size() == 1);
    CHECK(env.server.requests().size() == 1);  // nothing retried
    return app.recorder->completion(task->taskIdentifier()).error;
  };
  SUBCASE("cancelAuthenticationChallenge cancels the task") {
    auto error = run(URLSession::AuthChallengeDisposition::cancelAuthenticationChallenge);
    REQUIRE(error);
    CHECK(error->code == URLError::cancelled);
  }
  SUBCASE("default handling makes the 401 the response") {
    CHECK_FALSE(run(URLSession::AuthChallengeDisposition::performDefaultHandling));
    CHECK(statusOf(task->response()) == 401);
    CHECK(app.recorder->downloaded(task->taskIdentifier()) == "unauthorized");
  }
}

TEST_CASE("a challenge the app never answers times the task out after the request timeout, as in-process") {
  BackgroundEnvironment env;
  AuthApp app("auth-silent", 1.5);
  app.recorder->silent = true;
  auto started = std::chrono::steady_clock::now();
  auto task = app.download(env.server);
  REQUIRE(app.recorder->waitForCompletions(1));
  CHECK(std::chrono::steady_clock::now() - started >= 1400ms);
  auto error = app.recorder->completion(task->taskIdentifier()).error;
  REQUIRE(error);
  CHECK(error->code == URLError::timedOut);
  CHECK(app.recorder->seen().size() == 1);  // not retried: a new attempt would only ask again
  CHECK(env.server.requests().size() == 1);
}

TEST_CASE("a challenge pending when its app goes away gets default handling, and the task completes") {
  BackgroundEnvironment env;
  {
    App app({"auth-gone", "download", env.server.url("/auth/basic?user=bob&pass=hunter2"), "--hold-challenges"});
    REQUIRE(app.waitFor("challenge") == "challenge 1 0 -");
    app.kill9();
  }
  App relaunched({"auth-gone", "attach"});
  CHECK(relaunched.waitFor("complete") == "complete 1 0 401");
  CHECK(env.server.requests().size() == 1);
}

namespace {

// The app `bg_app SESSION download URL --kill-after-resume` with `options`: it registers its
// launch command (MODE, logging to `log`) and is gone before the server's 401 arrives.
void startProtectedDownloadAndDie(BackgroundEnvironment& env, const std::string& session, const fs::path& log,
                                  const std::string& mode, std::vector<std::string> options = {}) {
  std::vector<std::string> arguments{session, "download", env.server.url("/auth/basic?user=bob&pass=hunter2"),
                                     "--kill-after-resume", "--register-launch", log.string(), mode};
  arguments.insert(arguments.end(), options.begin(), options.end());
  App app(arguments);
  app.wait();
}

// Waits (at most 10 s) until the server got `count` requests; returns how many it got.
std::size_t waitForRequests(BackgroundEnvironment& env, std::size_t count) {
  for (int i = 0; i < 1000 && env.server.requests().size() < count; ++i) std::this_thread::sleep_for(10ms);
  return env.server.requests().size();
}

// A new process of the app attaches `session` and gets the task's completion: the 401 as the
// result, its challenge answered by the daemon (default handling), never asked of an app.
void expectDefaultHandled(const std::string& session) {
  App relaunched({session, "attach"});
  CHECK(relaunched.waitFor("complete") == "complete 1 0 401");
  CHECK(relaunched.waitFor("body") == "body 1 unauthorized");
  CHECK(relaunched.count("challenge") == 0);
}

// The lines of `lines` from the first that starts with `first`, less the progress reports.
std::vector<std::string> from(const std::vector<std::string>& lines, const std::string& first) {
  auto it = std::find_if(lines.begin(), lines.end(), [&](const std::string& l) { return l.rfind(first, 0) == 0; });
  std::vector<std::string> flow;
  std::copy_if(it, lines.end(), std::back_inserter(flow), [](const std::string& l) { return l.rfind("progress", 0) != 0; });
  return flow;
}

}  // namespace

TEST_CASE("a delegate with only the session-level didReceiveChallenge gets a background task's challenge") {
  BackgroundEnvironment env;
  auto recorder = std::make_shared<SessionLevelChallengeRecorder>(credential("bob", "hunter2"));
  recorder->keepsDownloads = true;
  auto session = URLSession::make(URLSessionConfiguration::background("auth-session-level"), recorder);
  auto task = session->downloadTask(URL(env.server.url("/auth/basic?user=bob&pass=hunter2")));
  task->resume();
  REQUIRE(recorder->waitForCompletions(1));
  CHECK(recorder->asked == 1);
  CHECK(statusOf(task->response()) == 200);
  CHECK(recorder->downloaded(task->taskIdentifier()) == "authorized");
}

TEST_CASE("a challenge with no app attached launches the app, which answers it; a wrong credential is proposed and counted") {
  BackgroundEnvironment env;
  auto log = env.root / "launched.log";
  startProtectedDownloadAndDie(env, "al1", log, "launched", {"--answer", "bob:wrong,bob:hunter2"});
  auto lines = waitForLog(log, "run-loop-stopped");
  REQUIRE_FALSE(lines.empty());
  CHECK(lines[0].rfind("launched al1 background ", 0) == 0);
  CHECK(from(lines, "handle-events") ==
        std::vector<std::string>{"handle-events al1", "challenge 1 0 -", "challenge 1 1 bob:wrong",
                                 "downloaded 1 10 corrupt bg-app-download", "body 1 authorized", "complete 1 0 200",
                                 "finished-events", "completion-handler", "run-loop-stopped"});
  // The 401 nobody could answer, the same again for the launched app, the wrong password, the right one.
  auto requests = env.server.requests();
  REQUIRE(requests.size() == 4);
  CHECK_FALSE(requests[0].header("Authorization"));
  CHECK_FALSE(requests[1].header("Authorization"));
  CHECK(requests[3].header("Authorization").has_value());
}

TEST_CASE("a challenge left unanswered by an app that dies waits for the app, which is launched and answers it") {
  BackgroundEnvironment env;
  auto log = env.root / "launched.log";
  {
    App app({"al6", "download", env.server.url("/auth/basic?user=bob&pass=hunter2"), "--hold-challenges",
             "--register-launch", log.string(), "launched", "--answer", "bob:hunter2"});
    REQUIRE(app.waitFor("challenge") == "challenge 1 0 -");
    app.kill9();
  }
  auto lines = waitForLog(log, "run-loop-stopped");
  CHECK(from(lines, "handle-events") ==
        std::vector<std::string>{"handle-events al6", "challenge 1 0 -", "downloaded 1 10 corrupt bg-app-download",
                                 "body 1 authorized", "complete 1 0 200", "finished-events", "completion-handler",
                                 "run-loop-stopped"});
  CHECK(env.server.requests().size() == 3);
}

TEST_CASE("the launched app cancels the challenge: the task completes with -999") {
  BackgroundEnvironment env;
  auto log = env.root / "launched.log";
  startProtectedDownloadAndDie(env, "al2", log, "launched", {"--answer", "cancel"});
  auto lines = waitForLog(log, "run-loop-stopped");
  auto flow = from(lines, "challenge");
  REQUIRE(flow.size() >= 2);
  CHECK(flow[0] == "challenge 1 0 -");
  CHECK(flow[1].rfind("complete 1 -999 ", 0) == 0);
  CHECK(std::count(lines.begin(), lines.end(), "finished-events") == 1);
  CHECK(env.server.requests().size() == 2);
}

TEST_CASE("a challenge with no app and no way to launch one gets default handling at once: the 401 is the result") {
  BackgroundEnvironment env;
  auto log = env.root / "launched.log";
  SUBCASE("no launch command") {
    App app({"al3", "download", env.server.url("/auth/basic?user=bob&pass=hunter2"), "--kill-after-resume"});
    app.wait();
  }
  SUBCASE("sessionSendsLaunchEvents is false") {
    startProtectedDownloadAndDie(env, "al3", log, "launched", {"--no-launch-events"});
  }
  REQUIRE(waitForRequests(env, 1) == 1);
  std::this_thread::sleep_for(300ms);  // a launch would come at once
  CHECK_FALSE(fs::exists(log));
  expectDefaultHandled("al3");
  CHECK(env.server.requests().size() == 1);
}

TEST_CASE("a launched app that does not attach within the request timeout: the challenge gets default handling") {
  BackgroundEnvironment env;
  auto log = env.root / "launched.log";
  auto started = std::chrono::steady_clock::now();
  startProtectedDownloadAndDie(env, "al4", log, "launched-noop", {"--request-timeout", "1"});
  REQUIRE_FALSE(waitForLog(log, "launched").empty());
  // After the 1 s timeout the daemon tries again and answers the new 401 itself.
  REQUIRE(waitForRequests(env, 2) == 2);
  CHECK(std::chrono::steady_clock::now() - started >= 900ms);
  expectDefaultHandled("al4");
  CHECK(env.server.requests().size() == 2);
}

TEST_CASE("a challenge waiting for the app survives a daemon SIGKILL: the restarted daemon asks again") {
  BackgroundEnvironment env;
  auto log = env.root / "launched.log";
  startProtectedDownloadAndDie(env, "al5", log, "launched-noop");
  REQUIRE_FALSE(waitForLog(log, "launched").empty());  // the app never attaches: the task waits
  env.killDaemon();
  env.startDaemon();
  // The restarted daemon tries the task again (and is challenged again).
  REQUIRE(waitForRequests(env, 2) >= 2);
  App app({"al5", "attach", "--answer", "bob:hunter2"});
  CHECK(app.waitFor("challenge") == "challenge 1 0 -");
  CHECK(app.waitFor("complete") == "complete 1 0 200");
  CHECK(app.waitFor("body") == "body 1 authorized");
  auto requests = env.server.requests();
  CHECK(requests.back().header("Authorization").has_value());
}

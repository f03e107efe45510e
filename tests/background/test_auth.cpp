// Task-level authentication challenges of background tasks: the daemon asks the attached app
// (URLSessionTaskDelegate::didReceiveChallenge) and answers the server with what it decided.
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
    REQUIRE(app.waitFor("challenge") == "challenge 1");
    app.kill9();
  }
  App relaunched({"auth-gone", "attach"});
  CHECK(relaunched.waitFor("complete") == "complete 1 0 401");
  CHECK(env.server.requests().size() == 1);
}

// Task and session lifecycle: resume/suspend/cancel, getAllTasks, invalidation, timeouts.
#include <doctest/doctest.h>

#include "Recorder.hpp"
#include "TestServer.hpp"

using namespace fntest;

TEST_CASE("cancel before resume completes once with cancelled and the failing URL") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  auto task = session->dataTask(URL(server.url("/hello")));
  task->cancel();
  CHECK(task->state() == URLSessionTask::State::canceling);
  task->cancel();
  task->resume();  // a cancelled task cannot be resumed
  REQUIRE(recorder->waitForCompletions(1));
  std::this_thread::sleep_for(100ms);  // a second completion would arrive by now
  auto events = recorder->events(task->taskIdentifier());
  CHECK(std::count(events.begin(), events.end(), "didCompleteWithError") == 1);
  auto error = recorder->completion(task->taskIdentifier()).error;
  REQUIRE(error);
  CHECK(error->code == URLError::cancelled);
  CHECK(error->domain == "NSURLErrorDomain");
  CHECK(error->failingURL->absoluteString() == server.url("/hello"));
  CHECK(task->state() == URLSessionTask::State::completed);
  CHECK(server.requests().empty());
}

TEST_CASE("cancel during a transfer completes exactly once") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  auto task = session->dataTask(URL(server.url("/trickle?n=100000&chunk=1000&interval_ms=20")));
  recorder->onData = [&](URLSessionDataTask& t, const Data&) { t.cancel(); };
  task->resume();
  REQUIRE(recorder->waitForCompletions(1));
  std::this_thread::sleep_for(100ms);
  auto events = recorder->events(task->taskIdentifier());
  CHECK(std::count(events.begin(), events.end(), "didCompleteWithError") == 1);
  CHECK(recorder->completion(task->taskIdentifier()).error->code == URLError::cancelled);
}

TEST_CASE("the cancel disposition ends the task with cancelled and no data") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  recorder->disposition = URLSession::ResponseDisposition::cancel;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  auto task = session->dataTask(URL(server.url("/bytes?n=1000000")));
  task->resume();
  REQUIRE(recorder->waitForCompletions(1));
  CHECK(recorder->events(task->taskIdentifier()) ==
        std::vector<std::string>{"didCreateTask", "didReceiveResponse", "didFinishCollectingMetrics",
                                 "didCompleteWithError"});
  CHECK(recorder->completion(task->taskIdentifier()).error->code == URLError::cancelled);
  CHECK(recorder->body(task->taskIdentifier()).empty());
}

TEST_CASE("suspend nests: two suspends need two resumes") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  auto task = session->dataTask(URL(server.url("/hello")));
  task->resume();
  task->suspend();
  task->suspend();
  CHECK(task->state() == URLSessionTask::State::suspended);
  task->resume();
  CHECK(task->state() == URLSessionTask::State::suspended);
  task->resume();
  CHECK((task->state() == URLSessionTask::State::running || task->state() == URLSessionTask::State::completed));
  REQUIRE(recorder->waitForCompletions(1));
  CHECK_FALSE(recorder->completion(task->taskIdentifier()).error);
}

TEST_CASE("a suspended transfer moves no bytes and is not timed out") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.timeoutIntervalForRequest = 0.3;
  auto session = URLSession::make(configuration, recorder);
  auto task = session->dataTask(URL(server.url("/trickle?n=20000&chunk=1000&interval_ms=10")));
  std::atomic<bool> suspendedOnce{false};
  recorder->onData = [&](URLSessionDataTask& t, const Data&) {
    if (!suspendedOnce.exchange(true)) t.suspend();
  };
  task->resume();
  for (int i = 0; i < 200 && task->state() != URLSessionTask::State::suspended; ++i) std::this_thread::sleep_for(5ms);
  REQUIRE(task->state() == URLSessionTask::State::suspended);
  std::this_thread::sleep_for(150ms);  // let what was in flight settle
  auto received = task->countOfBytesReceived();
  std::this_thread::sleep_for(600ms);  // twice the idle timeout
  CHECK(task->countOfBytesReceived() == received);
  CHECK(recorder->completionCount() == 0);
  task->resume();
  REQUIRE(recorder->waitForCompletions(1));
  CHECK_FALSE(recorder->completion(task->taskIdentifier()).error);
  CHECK(recorder->body(task->taskIdentifier()) == pattern(0, 20000));
}

TEST_CASE("getAllTasks lists the tasks that have not completed") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  auto a = session->dataTask(URL(server.url("/hello")));
  auto b = session->dataTask(URL(server.url("/hello")));
  auto c = session->downloadTask(URL(server.url("/hello")));
  Awaited<std::size_t> count;
  session->getAllTasks([&](std::vector<std::shared_ptr<URLSessionTask>> tasks) { count.set(tasks.size()); });
  REQUIRE(count.wait());
  CHECK(*count.value == 3);
  a->resume();
  REQUIRE(recorder->waitForCompletions(1));
  Awaited<std::size_t> after;
  session->getAllTasks([&](std::vector<std::shared_ptr<URLSessionTask>> tasks) { after.set(tasks.size()); });
  REQUIRE(after.wait());
  CHECK(*after.value == 2);
  b->cancel();
  c->cancel();
}

TEST_CASE("finishTasksAndInvalidate lets tasks finish, then didBecomeInvalid, then factories throw") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  auto task = session->dataTask(URL(server.url("/delay?ms=100")));
  task->resume();
  session->finishTasksAndInvalidate();
  CHECK_THROWS_AS(session->dataTask(URL(server.url("/hello"))), std::logic_error);
  REQUIRE(recorder->waitForInvalidation());
  REQUIRE(recorder->completionCount() == 1);
  CHECK_FALSE(recorder->completion(task->taskIdentifier()).error);
  CHECK(recorder->events(task->taskIdentifier()).back() == "didCompleteWithError");
  CHECK(session->delegate() == nullptr);
}

TEST_CASE("invalidateAndCancel cancels running tasks before didBecomeInvalid") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  auto slow = session->dataTask(URL(server.url("/malformed/never")));
  auto idle = session->dataTask(URL(server.url("/hello")));
  slow->resume();
  std::this_thread::sleep_for(50ms);
  session->invalidateAndCancel();
  REQUIRE(recorder->waitForInvalidation());
  CHECK(recorder->completionCount() == 2);
  CHECK(recorder->completion(slow->taskIdentifier()).error->code == URLError::cancelled);
  CHECK(recorder->completion(idle->taskIdentifier()).error->code == URLError::cancelled);
}

TEST_CASE("the shared session cannot be invalidated") {
  TestServer server;
  URLSession::shared()->invalidateAndCancel();
  URLSession::shared()->finishTasksAndInvalidate();
  auto result = load(URLSession::shared(), URLRequest(URL(server.url("/hello"))));
  CHECK_FALSE(result.error);
}

TEST_CASE("request timeouts are idle timeouts with sub-second precision") {
  TestServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  URLRequest request(URL(server.url("/delay?ms=3000")), URLRequest::CachePolicy::useProtocolCachePolicy, 0.25);
  auto started = std::chrono::steady_clock::now();
  auto result = load(session, request);
  auto took = std::chrono::steady_clock::now() - started;
  REQUIRE(result.error);
  CHECK(result.error->code == URLError::timedOut);
  CHECK(took >= 240ms);
  CHECK(took < 2s);

  // Data that keeps moving keeps the task alive past the idle timeout.
  URLRequest trickle(URL(server.url("/trickle?n=10&chunk=1&interval_ms=100")),
                     URLRequest::CachePolicy::useProtocolCachePolicy, 0.4);
  auto alive = load(session, trickle);
  CHECK_FALSE(alive.error);
}

TEST_CASE("the resource timeout bounds the whole task") {
  TestServer server;
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.timeoutIntervalForResource = 0.5;
  auto session = URLSession::make(configuration);
  auto started = std::chrono::steady_clock::now();
  auto result = load(session, URLRequest(URL(server.url("/trickle?n=100&chunk=1&interval_ms=50"))));
  REQUIRE(result.error);
  CHECK(result.error->code == URLError::timedOut);
  CHECK(std::chrono::steady_clock::now() - started < 3s);
}

TEST_CASE("a server that never answers times out instead of hanging") {
  TestServer server;
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.timeoutIntervalForRequest = 0.3;
  auto session = URLSession::make(configuration);
  auto result = load(session, URLRequest(URL(server.url("/malformed/never"))));
  REQUIRE(result.error);
  CHECK(result.error->code == URLError::timedOut);
}

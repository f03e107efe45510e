// Threads, queues and flow: delegate serialization, backpressure, connection limits,
// per-task delegates, the main queue.
#include <doctest/doctest.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <vector>

#include "Recorder.hpp"
#include "TestServer.hpp"

using namespace fntest;

TEST_CASE("a slow delegate holds the transfer back instead of buffering without bound") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  recorder->dataDelay = 2ms;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  const std::size_t size = 48u << 20;
  auto task = session->dataTask(URL(server.url("/bytes?n=" + std::to_string(size))));
  task->resume();
  REQUIRE(recorder->waitForCompletions(1, 60s));
  CHECK_FALSE(recorder->completion(task->taskIdentifier()).error);
  CHECK(recorder->body(task->taskIdentifier()).size() == size);
  CHECK(recorder->body(task->taskIdentifier()) == pattern(0, size));
  // Undelivered bytes stay near the 4 MiB high-water mark (plus one receive buffer).
  CHECK(recorder->maxUndelivered() > 0);
  CHECK(recorder->maxUndelivered() <= (4 << 20) + (512 << 10));
}

TEST_CASE("didReceiveData pieces are bounded batches, and a piece the delegate keeps keeps its bytes") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  std::mutex mutex;
  std::vector<Data> kept;  // copies share the delivered buffers, which the task then reuses
  recorder->onData = [&](URLSessionDataTask&, const Data& data) {
    std::lock_guard lock(mutex);
    kept.push_back(data);
  };
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  const std::size_t size = 16u << 20;
  auto task = session->dataTask(URL(server.url("/bytes?n=" + std::to_string(size))));
  task->resume();
  REQUIRE(recorder->waitForCompletions(1, 60s));
  CHECK_FALSE(recorder->completion(task->taskIdentifier()).error);
  std::lock_guard lock(mutex);
  std::string joined;
  std::size_t largest = 0;
  for (const auto& piece : kept) {
    joined.append(piece.view());
    largest = std::max(largest, piece.size());
  }
  CHECK(joined.size() == size);
  CHECK(joined == pattern(0, size));
  CHECK(largest <= (256u << 10));
}

TEST_CASE("httpMaximumConnectionsPerHost holds, as the server sees it") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.httpMaximumConnectionsPerHost = 2;
  auto session = URLSession::make(configuration, recorder);
  for (int i = 0; i < 10; ++i) session->dataTask(URL(server.url("/concurrent?ms=50")))->resume();
  REQUIRE(recorder->waitForCompletions(10));
  CHECK(server.maxConcurrentRequests() == 2);
  CHECK(server.maxConcurrentConnections() <= 2);
}

TEST_CASE("delegate calls never overlap and never run on the network thread, even on a wide queue") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  auto wide = std::make_shared<OperationQueue>();
  wide->setMaxConcurrentOperationCount(8);
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder, wide);
  std::set<std::thread::id> threads;
  std::mutex mutex;
  recorder->onData = [&](URLSessionDataTask&, const Data&) {
    std::lock_guard lock(mutex);
    threads.insert(std::this_thread::get_id());
  };
  for (int i = 0; i < 40; ++i) session->dataTask(URL(server.url("/bytes?n=100000")))->resume();
  REQUIRE(recorder->waitForCompletions(40));
  CHECK(recorder->overlaps() == 0);
  CHECK(threads.count(std::this_thread::get_id()) == 0);
}

TEST_CASE("tasks can be created and resumed from many threads at once") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  std::vector<std::thread> threads;
  std::mutex mutex;
  std::set<std::uint64_t> identifiers;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        auto task = session->dataTask(URL(server.url("/hello")));
        {
          std::lock_guard lock(mutex);
          identifiers.insert(task->taskIdentifier());
        }
        task->resume();
        if (i % 5 == 0) task->cancel();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(identifiers.size() == 200);
  REQUIRE(recorder->waitForCompletions(200, 30s));
}

TEST_CASE("a per-task delegate gets the task's events before the session delegate") {
  TestServer server;
  auto sessionRecorder = std::make_shared<Recorder>();
  auto taskRecorder = std::make_shared<Recorder>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), sessionRecorder);
  auto task = session->dataTask(URL(server.url("/hello")));
  task->setDelegate(taskRecorder);
  task->resume();
  REQUIRE(taskRecorder->waitForCompletions(1));
  CHECK(taskRecorder->body(task->taskIdentifier()) == "Hello, world!");
  CHECK(sessionRecorder->completionCount() == 0);
  // didCreateTask ran on the session delegate, before the task delegate was set.
  CHECK(sessionRecorder->events(task->taskIdentifier()) == std::vector<std::string>{"didCreateTask"});
}

TEST_CASE("the main queue delivers delegate calls on the thread that runs the main run loop") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder, OperationQueue::main());
  std::atomic<bool> onMain{true};
  const auto mainThread = std::this_thread::get_id();
  recorder->onData = [&](URLSessionDataTask&, const Data&) {
    if (std::this_thread::get_id() != mainThread) onMain = false;
  };
  session->dataTask(URL(server.url("/bytes?n=100000")))->resume();
  auto deadline = std::chrono::system_clock::now() + 20s;
  while (recorder->completionCount() == 0 && std::chrono::system_clock::now() < deadline)
    RunLoop::main().runUntil(std::chrono::system_clock::now() + 20ms);
  REQUIRE(recorder->completionCount() == 1);
  CHECK(onMain);
}

TEST_CASE("10,000 queued tasks against a small connection limit all complete") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.httpMaximumConnectionsPerHost = 6;
  auto session = URLSession::make(configuration, recorder);
  std::vector<std::shared_ptr<URLSessionDataTask>> tasks;
  for (int i = 0; i < 10000; ++i) tasks.push_back(session->dataTask(URL(server.url("/hello"))));
  for (auto& task : tasks) task->resume();
  REQUIRE(recorder->waitForCompletions(10000, 120s));
  CHECK(server.maxConcurrentConnections() <= 6);
  int failures = 0;
  for (auto& task : tasks) failures += recorder->completion(task->taskIdentifier()).error ? 1 : 0;
  CHECK(failures == 0);
}

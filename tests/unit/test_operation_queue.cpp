// Unit tests of OperationQueue, RunLoop and the worker pool behind them.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include <foundation_net/OperationQueue.hpp>
#include <foundation_net/RunLoop.hpp>

#include "dispatch/WorkerPool.hpp"

using namespace foundation;
using namespace std::chrono_literals;

namespace {

// How long a test waits for something that should happen: generous for a loaded 2-core CI machine.
constexpr auto patience = 20s;

// A one-shot event that threads can wait on with a time limit.
class Event {
 public:
  // Notifies under the lock: a waiter may destroy the event as soon as it sees it set.
  void set() {
    const std::lock_guard lock(mutex_);
    set_ = true;
    changed_.notify_all();
  }
  bool waitFor(std::chrono::milliseconds limit = patience) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [this] { return set_; });
  }
  bool isSet() {
    const std::lock_guard lock(mutex_);
    return set_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool set_ = false;
};

// Counts concurrently running closures and remembers the most seen at once.
class ConcurrencyProbe {
 public:
  void enter() {
    const int now = ++active_;
    int seen = highest_.load();
    while (now > seen && !highest_.compare_exchange_weak(seen, now)) {
    }
  }
  void leave() { --active_; }
  int active() const { return active_; }
  int highest() const { return highest_; }

 private:
  std::atomic<int> active_{0};
  std::atomic<int> highest_{0};
};

// Polls until the condition holds or the time runs out; for states no one signals.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit = patience) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Sends what is written to stderr (fd 2) to a temporary file while it lives.
class StderrCapture {
 public:
  StderrCapture() : file_(std::tmpfile()), saved_(dup(STDERR_FILENO)) {
    std::fflush(stderr);
    dup2(fileno(file_), STDERR_FILENO);
  }
  ~StderrCapture() {
    std::fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    std::fclose(file_);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  std::string text() {
    std::fflush(stderr);
    std::string result;
    std::rewind(file_);
    for (int c = std::fgetc(file_); c != EOF; c = std::fgetc(file_)) result.push_back(static_cast<char>(c));
    return result;
  }

 private:
  std::FILE* file_;
  int saved_;
};

}  // namespace

TEST_CASE("OperationQueue: a serial queue runs closures in FIFO order") {
  const auto queue = std::make_shared<OperationQueue>();
  queue->setMaxConcurrentOperationCount(1);
  std::vector<int> order;  // written only by the queue's closures, one at a time
  for (int i = 0; i < 500; ++i) queue->addOperation([&order, i] { order.push_back(i); });
  queue->waitUntilAllOperationsAreFinished();
  REQUIRE(order.size() == 500);
  for (int i = 0; i < 500; ++i) CHECK(order[static_cast<std::size_t>(i)] == i);
}

TEST_CASE("OperationQueue: width 1 never runs two closures at once") {
  const auto queue = std::make_shared<OperationQueue>();
  queue->setMaxConcurrentOperationCount(1);
  ConcurrencyProbe probe;
  // Closures added from several threads at once, each lingering briefly so overlaps would show.
  std::vector<std::thread> producers;
  for (int t = 0; t < 4; ++t) {
    producers.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        queue->addOperation([&probe] {
          probe.enter();
          std::this_thread::sleep_for(200us);
          probe.leave();
        });
      }
    });
  }
  for (auto& producer : producers) producer.join();
  queue->waitUntilAllOperationsAreFinished();
  CHECK(probe.highest() == 1);
}

TEST_CASE("OperationQueue: width N runs N closures at once, never more") {
  const auto queue = std::make_shared<OperationQueue>();
  queue->setMaxConcurrentOperationCount(3);
  CHECK(queue->maxConcurrentOperationCount() == 3);
  ConcurrencyProbe probe;
  Event gate;
  for (int i = 0; i < 9; ++i) {
    queue->addOperation([&] {
      probe.enter();
      gate.waitFor();
      probe.leave();
    });
  }
  // Three start and block; a queue ignoring its width would start the other six too.
  REQUIRE(eventually([&] { return probe.active() == 3; }));
  std::this_thread::sleep_for(50ms);
  CHECK(probe.active() == 3);
  CHECK(queue->operationCount() == 9);
  gate.set();
  queue->waitUntilAllOperationsAreFinished();
  CHECK(probe.highest() == 3);
  CHECK(queue->operationCount() == 0);
}

TEST_CASE("OperationQueue: the default width is unlimited") {
  const auto queue = std::make_shared<OperationQueue>();
  CHECK(queue->maxConcurrentOperationCount() == OperationQueue::defaultMaxConcurrentOperationCount);
  CHECK(queue->maxConcurrentOperationCount() == -1);
  // Eight closures that each wait for all eight to have started: only possible when all run at once.
  constexpr int count = 8;
  std::atomic<int> arrived{0};
  std::atomic<int> sawEveryone{0};
  for (int i = 0; i < count; ++i) {
    queue->addOperation([&] {
      ++arrived;
      if (eventually([&] { return arrived.load() == count; })) ++sawEveryone;
    });
  }
  queue->waitUntilAllOperationsAreFinished();
  CHECK(sawEveryone == count);
}

TEST_CASE("OperationQueue: width changes apply to closures not yet started") {
  const auto queue = std::make_shared<OperationQueue>();
  queue->setMaxConcurrentOperationCount(0);  // nothing may start
  std::atomic<int> ran{0};
  for (int i = 0; i < 3; ++i) queue->addOperation([&ran] { ++ran; });
  std::this_thread::sleep_for(50ms);
  CHECK(ran == 0);
  CHECK(queue->operationCount() == 3);
  queue->setMaxConcurrentOperationCount(2);
  queue->waitUntilAllOperationsAreFinished();
  CHECK(ran == 3);
  CHECK_THROWS_AS(queue->setMaxConcurrentOperationCount(-2), std::invalid_argument);
  CHECK_THROWS_AS(queue->addOperation(nullptr), std::invalid_argument);
}

TEST_CASE("OperationQueue: waitUntilAllOperationsAreFinished waits for running and queued closures") {
  const auto queue = std::make_shared<OperationQueue>();
  queue->setMaxConcurrentOperationCount(1);
  Event gate;
  std::atomic<bool> firstDone{false}, secondDone{false};
  queue->addOperation([&] {
    gate.waitFor();
    firstDone = true;
  });
  queue->addOperation([&] { secondDone = true; });
  CHECK(queue->operationCount() == 2);
  std::thread opener([&] {
    std::this_thread::sleep_for(50ms);
    gate.set();
  });
  queue->waitUntilAllOperationsAreFinished();
  CHECK(firstDone);
  CHECK(secondDone);
  CHECK(queue->operationCount() == 0);
  opener.join();
  queue->waitUntilAllOperationsAreFinished();  // returns at once on an empty queue
}

TEST_CASE("OperationQueue: a suspended queue starts nothing until resumed") {
  const auto queue = std::make_shared<OperationQueue>();
  queue->setMaxConcurrentOperationCount(1);
  Event gate, firstStarted;
  std::atomic<int> ran{0};
  queue->addOperation([&] {
    firstStarted.set();
    gate.waitFor();
    ++ran;
  });
  REQUIRE(firstStarted.waitFor());
  queue->setSuspended(true);
  CHECK(queue->isSuspended());
  queue->addOperation([&ran] { ++ran; });
  gate.set();  // the running closure finishes; the queued one must not start
  REQUIRE(eventually([&] { return ran.load() >= 1; }));
  std::this_thread::sleep_for(50ms);
  CHECK(ran == 1);
  CHECK(queue->operationCount() == 1);
  queue->setSuspended(false);
  CHECK_FALSE(queue->isSuspended());
  queue->waitUntilAllOperationsAreFinished();
  CHECK(ran == 2);
}

TEST_CASE("OperationQueue: closures blocking one queue do not starve another") {
  const auto blocked = std::make_shared<OperationQueue>();
  Event gate;
  ConcurrencyProbe probe;
  // More blocked closures than the machine has cores.
  const int blockers = static_cast<int>(std::max(4U, 2 * std::thread::hardware_concurrency()));
  for (int i = 0; i < blockers; ++i) {
    blocked->addOperation([&] {
      probe.enter();
      gate.waitFor();
      probe.leave();
    });
  }
  REQUIRE(eventually([&] { return probe.active() == blockers; }));

  const auto other = std::make_shared<OperationQueue>();
  other->setMaxConcurrentOperationCount(1);
  Event otherRan;
  other->addOperation([&otherRan] { otherRan.set(); });
  CHECK(otherRan.waitFor());
  gate.set();
  blocked->waitUntilAllOperationsAreFinished();
}

TEST_CASE("OperationQueue: current() names the queue running the closure") {
  CHECK(OperationQueue::current() == nullptr);
  const auto queue = std::make_shared<OperationQueue>();
  const auto other = std::make_shared<OperationQueue>();
  std::shared_ptr<OperationQueue> seen, seenInOther;
  queue->addOperation([&] {
    seen = OperationQueue::current();
    // A closure that waits for another queue still reports its own queue afterwards.
    other->addOperation([&] { seenInOther = OperationQueue::current(); });
    other->waitUntilAllOperationsAreFinished();
  });
  queue->waitUntilAllOperationsAreFinished();
  CHECK(seen == queue);
  CHECK(seenInOther == other);
  CHECK(OperationQueue::current() == nullptr);
}

TEST_CASE("OperationQueue: closures still queued when the queue is destroyed run") {
  Event gate;
  std::atomic<int> ran{0};
  std::atomic<bool> currentWasNull{false};
  Event done;
  {
    auto queue = std::make_shared<OperationQueue>();
    queue->setMaxConcurrentOperationCount(1);
    queue->addOperation([&] { gate.waitFor(); });
    for (int i = 0; i < 3; ++i) queue->addOperation([&ran] { ++ran; });
    queue->addOperation([&] {
      currentWasNull = OperationQueue::current() == nullptr;
      done.set();
    });
  }  // the last reference goes here
  gate.set();
  REQUIRE(done.waitFor());
  CHECK(ran == 3);
  CHECK(currentWasNull);
}

TEST_CASE("OperationQueue: an exception escaping a closure is reported and the queue goes on") {
  const auto queue = std::make_shared<OperationQueue>();
  queue->setMaxConcurrentOperationCount(1);
  std::atomic<bool> nextRan{false};
  StderrCapture capture;
  queue->addOperation([] { throw std::runtime_error("boom in a closure"); });
  queue->addOperation([] { throw 42; });
  queue->addOperation([&nextRan] { nextRan = true; });
  queue->waitUntilAllOperationsAreFinished();
  CHECK(nextRan);
  const std::string output = capture.text();
  CHECK(output.find("boom in a closure") != std::string::npos);
  CHECK(output.find(fmt::format("{}", fmt::ptr(queue.get()))) != std::string::npos);
  CHECK(output.find("non-standard exception") != std::string::npos);
}

TEST_CASE("OperationQueue: the main queue runs on the thread running the main run loop") {
  const auto mainQueue = OperationQueue::main();
  REQUIRE(mainQueue != nullptr);
  CHECK(mainQueue == OperationQueue::main());
  CHECK(mainQueue->maxConcurrentOperationCount() == 1);
  mainQueue->setMaxConcurrentOperationCount(4);  // the main queue stays serial
  CHECK(mainQueue->maxConcurrentOperationCount() == 1);

  std::vector<int> order;
  std::thread::id ranOn;
  std::shared_ptr<OperationQueue> current;
  for (int i = 0; i < 3; ++i) mainQueue->addOperation([&order, i] { order.push_back(i); });
  mainQueue->addOperation([&] {
    ranOn = std::this_thread::get_id();
    current = OperationQueue::current();
    RunLoop::main().stop();
  });
  std::this_thread::sleep_for(20ms);
  CHECK(order.empty());  // nothing runs until the run loop does
  CHECK(RunLoop::main().runUntil(std::chrono::system_clock::now() + patience));
  CHECK(order == std::vector<int>{0, 1, 2});
  CHECK(ranOn == std::this_thread::get_id());
  CHECK(current == mainQueue);
  CHECK(mainQueue->operationCount() == 0);
}

TEST_CASE("RunLoop: runUntil returns false when the date passes") {
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(RunLoop::main().runUntil(std::chrono::system_clock::now() + 100ms));
  CHECK(std::chrono::steady_clock::now() - start >= 90ms);

  // A date already past still runs the closures that were waiting.
  bool ran = false;
  OperationQueue::main()->addOperation([&ran] { ran = true; });
  CHECK_FALSE(RunLoop::main().runUntil(std::chrono::system_clock::now() - 1s));
  CHECK(ran);
}

TEST_CASE("RunLoop: closures added from other threads wake the loop, and stop() works from any thread") {
  Event loopRunning;
  std::atomic<int> ran{0};
  std::thread other([&] {
    OperationQueue::main()->addOperation([&] { loopRunning.set(); });
    if (!loopRunning.waitFor()) return;  // the main thread's checks then fail
    for (int i = 0; i < 10; ++i) OperationQueue::main()->addOperation([&ran] { ++ran; });
    OperationQueue::main()->waitUntilAllOperationsAreFinished();  // from a thread other than the loop's
    RunLoop::main().stop();
  });
  const auto start = std::chrono::steady_clock::now();
  CHECK(RunLoop::main().runUntil(std::chrono::system_clock::now() + patience));
  CHECK(std::chrono::steady_clock::now() - start < patience);
  CHECK(ran == 10);
  other.join();
}

TEST_CASE("RunLoop: stop() from a closure ends run()") {
  int ran = 0;
  OperationQueue::main()->addOperation([&ran] { ++ran; });
  OperationQueue::main()->addOperation([&ran] {
    ++ran;
    RunLoop::main().stop();
  });
  OperationQueue::main()->addOperation([&ran] { ++ran; });  // left for the next run
  RunLoop::main().run();
  CHECK(ran == 2);
  CHECK(OperationQueue::main()->operationCount() == 1);
  CHECK_FALSE(RunLoop::main().runUntil(std::chrono::system_clock::now()));
  CHECK(ran == 3);
}

TEST_CASE("WorkerPool: idle workers exit and the pool starts new ones on demand") {
  auto& pool = WorkerPool::shared();
  const auto queue = std::make_shared<OperationQueue>();
  Event gate;
  for (int i = 0; i < 3; ++i) queue->addOperation([&gate] { gate.waitFor(); });
  REQUIRE(eventually([&] { return pool.threadCount() >= 3; }));
  gate.set();
  queue->waitUntilAllOperationsAreFinished();

  pool.setIdleTimeout(50ms);
  CHECK(eventually([&] { return pool.threadCount() == 0; }));

  std::atomic<bool> ran{false};
  queue->addOperation([&ran] { ran = true; });
  queue->waitUntilAllOperationsAreFinished();
  CHECK(ran);
  CHECK(eventually([&] { return pool.threadCount() == 0; }));
  pool.setIdleTimeout(WorkerPool::defaultIdleTimeout);
}

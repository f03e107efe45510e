// Unit tests of DelegateDispatcher's hand-over: calls made on the loop thread wait for the end of
// the loop iteration (coalesced into one operation), unless they ask to go at once.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <foundation_net/OperationQueue.hpp>

#include "engine/Loop.hpp"
#include "session/DelegateDispatcher.hpp"

using namespace foundation;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<detail::DelegateDispatcher> serialDispatcher() {
  auto queue = std::make_shared<OperationQueue>();
  queue->setMaxConcurrentOperationCount(1);
  return std::make_shared<detail::DelegateDispatcher>(queue);
}

// Runs `work` on the loop thread and waits until it returned.
void onLoop(std::function<void()> work) {
  std::promise<void> done;
  engine::Loop::shared().post([&] {
    work();
    done.set_value();
  });
  done.get_future().wait();
}

}  // namespace

TEST_CASE("a call enqueued on the loop thread waits for the end of the loop iteration") {
  auto dispatcher = serialDispatcher();
  std::promise<void> ran;
  auto ranFuture = ran.get_future();
  onLoop([&] {
    dispatcher->enqueue([&] { ran.set_value(); });
    CHECK(ranFuture.wait_for(200ms) == std::future_status::timeout);  // the iteration is not over
  });
  CHECK(ranFuture.wait_for(20s) == std::future_status::ready);
}

TEST_CASE("a call handed over at once runs while the loop iteration goes on, after the calls before it") {
  auto dispatcher = serialDispatcher();
  std::mutex mutex;
  std::vector<std::string> order;
  std::promise<void> ran;
  auto ranFuture = ran.get_future();
  onLoop([&] {
    dispatcher->enqueue([&] {
      std::lock_guard lock(mutex);
      order.push_back("deferred");
    });
    dispatcher->enqueue(
        [&] {
          {
            std::lock_guard lock(mutex);
            order.push_back("now");
          }
          ran.set_value();
        },
        true);
    // A full didReceiveData batch in a long read: the delegate queue takes it meanwhile.
    CHECK(ranFuture.wait_for(20s) == std::future_status::ready);
  });
  ranFuture.wait_for(20s);  // had it waited for the iteration's end, it runs now: not after the test
  std::lock_guard lock(mutex);
  CHECK(order == std::vector<std::string>{"deferred", "now"});
}

TEST_CASE("on a wide queue the calls never overlap, whichever way they were handed over") {
  auto queue = std::make_shared<OperationQueue>();
  queue->setMaxConcurrentOperationCount(4);
  auto dispatcher = std::make_shared<detail::DelegateDispatcher>(queue);
  std::mutex mutex;
  std::vector<std::string> order;
  int running = 0, mostRunning = 0;
  std::promise<void> last;
  auto call = [&](std::string name) {
    return [&, name] {
      {
        std::lock_guard lock(mutex);
        mostRunning = std::max(mostRunning, ++running);
        order.push_back(name);
      }
      std::this_thread::sleep_for(50ms);  // long enough for a second drain to overlap it
      std::lock_guard lock(mutex);
      --running;
      if (name == "d") last.set_value();
    };
  };
  onLoop([&] {
    dispatcher->enqueue(call("a"));        // deferred: its hand-over is posted to the loop
    dispatcher->enqueue(call("b"), true);  // handed over now, with "a" before it
    std::this_thread::sleep_for(300ms);    // both ran; the queue is idle again
    dispatcher->enqueue(call("c"));        // deferred again: the first posted hand-over now finds
    dispatcher->enqueue(call("d"));        // calls waiting, and the second must not add a drain
  });
  CHECK(last.get_future().wait_for(20s) == std::future_status::ready);
  std::lock_guard lock(mutex);
  CHECK(order == std::vector<std::string>{"a", "b", "c", "d"});
  CHECK(mostRunning == 1);
}

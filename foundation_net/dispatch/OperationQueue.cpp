#include <foundation_net/OperationQueue.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <limits>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "dispatch/OperationQueueImpl.hpp"
#include "dispatch/WorkerPool.hpp"

namespace foundation {

// ---- WorkerPool ------------------------------------------------------------------------------

struct WorkerPool::State {
  std::mutex mutex;
  std::condition_variable workAvailable;
  std::deque<std::function<void()>> jobs;
  int idle = 0;  // workers waiting for a job, including ones notified that have not woken yet
  std::unordered_map<std::thread::id, std::thread> workers;
  // The worker that exited last; joined by the next worker to exit, or at process exit.
  std::thread retired;
  std::chrono::milliseconds idleTimeout = defaultIdleTimeout;
};

namespace {

using PoolState = WorkerPool::State;

// Waits until a job is queued (true) or the idle timeout passes without one (false).
bool waitForJob(PoolState& state, std::unique_lock<std::mutex>& lock) {
  const auto idleSince = std::chrono::steady_clock::now();
  ++state.idle;
  while (state.jobs.empty()) {
    // Re-read each time: setIdleTimeout wakes idle workers to apply a new timeout.
    const auto deadline = idleSince + state.idleTimeout;
    if (std::chrono::steady_clock::now() >= deadline) {
      --state.idle;
      return false;
    }
    state.workAvailable.wait_until(lock, deadline);
  }
  --state.idle;
  return true;
}

// Takes the exiting worker out of the table and joins the one that exited before it. The thread
// is joined later by the next worker to exit or at process exit, so none is ever detached.
void retire(PoolState& state, std::unique_lock<std::mutex>& lock) {
  auto self = state.workers.extract(std::this_thread::get_id());
  std::thread previous = std::exchange(state.retired, std::move(self.mapped()));
  lock.unlock();
  if (previous.joinable()) previous.join();
}

// A worker thread: runs jobs as they come and exits once idle for the idle timeout. It holds
// the state by shared_ptr, so nothing it touches can be destroyed under it.
void work(const std::shared_ptr<PoolState>& state) {
  std::unique_lock lock(state->mutex);
  while (waitForJob(*state, lock)) {
    {
      const std::function<void()> job = std::move(state->jobs.front());
      state->jobs.pop_front();
      lock.unlock();
      job();
    }  // the job's captures are released before the lock is taken again
    lock.lock();
  }
  retire(*state, lock);
}

}  // namespace

WorkerPool::WorkerPool() : state_(std::make_shared<State>()) {
  // A worker that exited last has finished: joining it cannot block process exit.
  std::atexit([] {
    std::thread retired;
    {
      const std::lock_guard lock(shared().state_->mutex);
      retired = std::move(shared().state_->retired);
    }
    if (retired.joinable()) retired.join();
  });
}

WorkerPool& WorkerPool::shared() {
  // Never destroyed: workers may still run closures while static destructors run at exit.
  static auto* const pool = new WorkerPool();
  return *pool;
}

void WorkerPool::submit(std::function<void()> job) {
  const std::lock_guard lock(state_->mutex);
  state_->jobs.push_back(std::move(job));
  if (static_cast<std::size_t>(state_->idle) >= state_->jobs.size()) {
    state_->workAvailable.notify_one();
    return;
  }
  try {
    std::thread worker([state = state_] { work(state); });
    const auto id = worker.get_id();
    state_->workers.emplace(id, std::move(worker));
  } catch (const std::system_error& error) {
    // Out of threads: the job stays queued for the next worker that finishes its job.
    fmt::print(stderr, "foundation_net: cannot start a worker thread ({}); the job waits\n", error.what());
  }
}

int WorkerPool::threadCount() const {
  const std::lock_guard lock(state_->mutex);
  return static_cast<int>(state_->workers.size());
}

void WorkerPool::setIdleTimeout(std::chrono::milliseconds timeout) {
  const std::lock_guard lock(state_->mutex);
  state_->idleTimeout = timeout;
  state_->workAvailable.notify_all();
}

// ---- OperationQueue --------------------------------------------------------------------------

namespace {

thread_local OperationQueue::Impl* currentQueue = nullptr;

// Makes current() answer `queue` on this thread for the lifetime of the scope.
class CurrentQueueScope {
 public:
  explicit CurrentQueueScope(OperationQueue::Impl* queue) : previous_(std::exchange(currentQueue, queue)) {}
  ~CurrentQueueScope() { currentQueue = previous_; }
  CurrentQueueScope(const CurrentQueueScope&) = delete;
  CurrentQueueScope& operator=(const CurrentQueueScope&) = delete;

 private:
  OperationQueue::Impl* previous_;
};

// Runs one closure as `queue`'s; an exception escaping it is reported, never fatal to the worker.
void runOperation(OperationQueue::Impl& queue, const std::function<void()>& operation) {
  const CurrentQueueScope scope(&queue);
  try {
    operation();
  } catch (const std::exception& error) {
    fmt::print(stderr, "foundation_net: a closure on OperationQueue {} threw: {}\n", queue.label, error.what());
  } catch (...) {
    fmt::print(stderr, "foundation_net: a closure on OperationQueue {} threw a non-standard exception\n",
               queue.label);
  }
}

// Claims the pool jobs needed so that every closure allowed to start has one to run it; the
// caller holds the queue's mutex and passes the count to startDrainers once it has released it.
int claimDrainers(OperationQueue::Impl& queue) {
  if (queue.isMain || queue.suspended) return 0;
  const long long limit = queue.width < 0 ? std::numeric_limits<int>::max() : queue.width;
  const long long wanted = std::min(limit, queue.running + static_cast<long long>(queue.pending.size()));
  const int claimed = static_cast<int>(std::max(0LL, wanted - queue.drainers));
  queue.drainers += claimed;
  return claimed;
}

// A pool job: runs the queue's closures one after another while the queue allows this drainer to.
void drain(OperationQueue::Impl& queue) {
  std::unique_lock lock(queue.mutex);
  while (!queue.suspended && !queue.pending.empty() && (queue.width < 0 || queue.drainers <= queue.width)) {
    queue.runNext(lock);
  }
  --queue.drainers;
}

void startDrainers(const std::shared_ptr<OperationQueue::Impl>& queue, int count) {
  for (int i = 0; i < count; ++i) WorkerPool::shared().submit([queue] { drain(*queue); });
}

// Changes the queue's state under its mutex, then starts whatever closures the change allows.
template <class Change>
void update(const std::shared_ptr<OperationQueue::Impl>& queue, Change change) {
  int toStart = 0;
  {
    const std::lock_guard lock(queue->mutex);
    change(*queue);
    toStart = claimDrainers(*queue);
    if (queue->isMain) queue->stateChanged.notify_all();  // the run loop may have work now
  }
  startDrainers(queue, toStart);
}

}  // namespace

OperationQueue::Impl::Impl(bool isMain, std::string label)
    : isMain(isMain), label(std::move(label)), width(isMain ? 1 : defaultMaxConcurrentOperationCount) {}

OperationQueue::Impl& OperationQueue::Impl::mainQueue() { return *OperationQueue::main()->impl_; }

void OperationQueue::Impl::runNext(std::unique_lock<std::mutex>& lock) {
  std::function<void()> operation = std::move(pending.front());
  pending.pop_front();
  ++running;
  lock.unlock();
  runOperation(*this, operation);
  operation = nullptr;  // release the closure's captures before the lock is taken again
  lock.lock();
  if (--running == 0 && pending.empty()) stateChanged.notify_all();
}

OperationQueue::OperationQueue() : OperationQueue(false) {}

OperationQueue::OperationQueue(bool isMain)
    : impl_(std::make_shared<Impl>(isMain, isMain ? "main" : fmt::format("{}", fmt::ptr(this)))) {
  impl_->owner = this;
}

OperationQueue::~OperationQueue() {
  const std::lock_guard lock(impl_->mutex);
  impl_->owner = nullptr;
}

std::shared_ptr<OperationQueue> OperationQueue::main() {
  // Never destroyed: closures may be queued on it up to process exit.
  static const auto* const queue = new std::shared_ptr<OperationQueue>(new OperationQueue(true));
  return *queue;
}

std::shared_ptr<OperationQueue> OperationQueue::current() {
  Impl* const queue = currentQueue;
  if (queue == nullptr) return nullptr;
  // While owner is set under the mutex, the destructor has not got past its first statement,
  // so the object's weak self-reference is intact.
  const std::lock_guard lock(queue->mutex);
  return queue->owner ? queue->owner->weak_from_this().lock() : nullptr;
}

void OperationQueue::addOperation(std::function<void()> operation) {
  if (!operation) throw std::invalid_argument("OperationQueue::addOperation: empty closure");
  update(impl_, [&operation](Impl& queue) { queue.pending.push_back(std::move(operation)); });
}

int OperationQueue::maxConcurrentOperationCount() const {
  const std::lock_guard lock(impl_->mutex);
  return impl_->width;
}

void OperationQueue::setMaxConcurrentOperationCount(int count) {
  if (count < defaultMaxConcurrentOperationCount) {
    throw std::invalid_argument(fmt::format("maxConcurrentOperationCount {} is negative", count));
  }
  if (impl_->isMain) return;  // the main queue is serial, as Apple's
  update(impl_, [count](Impl& queue) { queue.width = count; });
}

bool OperationQueue::isSuspended() const {
  const std::lock_guard lock(impl_->mutex);
  return impl_->suspended;
}

void OperationQueue::setSuspended(bool suspended) {
  update(impl_, [suspended](Impl& queue) { queue.suspended = suspended; });
}

int OperationQueue::operationCount() const {
  const std::lock_guard lock(impl_->mutex);
  return static_cast<int>(impl_->pending.size()) + impl_->running;
}

void OperationQueue::waitUntilAllOperationsAreFinished() {
  std::unique_lock lock(impl_->mutex);
  impl_->stateChanged.wait(lock, [this] { return impl_->pending.empty() && impl_->running == 0; });
}

}  // namespace foundation

#include "session/SessionImpl.hpp"

#include <stdexcept>
#include <utility>

#include "background/BackgroundLink.hpp"
#include "protocols/LoadingClient.hpp"
#include "session/CacheTransaction.hpp"
#include "session/TaskImpl.hpp"

namespace foundation {

URLSession::Impl::Impl(URLSession& owner, const URLSessionConfiguration& configuration,
                       std::shared_ptr<URLSessionDelegate> delegate, std::shared_ptr<OperationQueue> queue,
                       bool isShared)
    : owner(owner),
      configuration(configuration),
      isShared(isShared),
      dispatcher(std::make_shared<detail::DelegateDispatcher>(std::move(queue))),
      delegate_(std::move(delegate)) {
  detail::CacheTransaction::prepare(this->configuration.urlCache);
}

URLSession::Impl::~Impl() {
  if (link) link->close();
  // The pool belongs to the loop thread; transfers still running keep their own reference.
  if (pool_) engine::Loop::shared().post([pool = std::move(pool_)] {});
}

std::shared_ptr<URLSessionDelegate> URLSession::Impl::delegate() const {
  std::lock_guard lock(mutex_);
  return delegate_.session;
}

std::string URLSession::Impl::description() const {
  std::lock_guard lock(mutex_);
  return description_;
}

void URLSession::Impl::setDescription(std::string description) {
  std::lock_guard lock(mutex_);
  description_ = std::move(description);
}

void URLSession::Impl::registerTask(const std::shared_ptr<URLSessionTask>& task) {
  std::lock_guard lock(mutex_);
  if (invalidating_) throw std::logic_error("Task created in a session that has been invalidated");
  tasks_.emplace(task->taskIdentifier(), task);
}

void URLSession::Impl::adoptTask(const std::shared_ptr<URLSessionTask>& task) {
  std::lock_guard lock(mutex_);
  tasks_.emplace(task->taskIdentifier(), task);
}

void URLSession::Impl::taskDidFinish(std::uint64_t identifier) {
  std::lock_guard lock(mutex_);
  tasks_.erase(identifier);
  if (isBackground()) {
    finishedHere_.insert(identifier);
    // Needed only until the daemon committed the acknowledgement, a moment later; bounded for
    // a process that never re-attaches. Task ids grow, so the smallest is the oldest.
    if (finishedHere_.size() > kFinishedHereLimit) finishedHere_.erase(finishedHere_.begin());
  }
  if (invalidating_ && tasks_.empty()) deliverInvalidationLocked();
}

std::vector<std::shared_ptr<URLSessionTask>> URLSession::Impl::liveTasks() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<URLSessionTask>> live;
  for (const auto& [id, task] : tasks_)
    if (auto state = task->state(); state == URLSessionTask::State::running || state == URLSessionTask::State::suspended)
      live.push_back(task);
  return live;
}

void URLSession::Impl::finishTasksAndInvalidate() {
  if (isShared) return;
  std::lock_guard lock(mutex_);
  if (invalidating_) return;
  invalidating_ = true;
  if (tasks_.empty()) deliverInvalidationLocked();
}

void URLSession::Impl::invalidateAndCancel() {
  if (isShared) return;
  std::vector<std::shared_ptr<URLSessionTask>> toCancel;
  {
    std::lock_guard lock(mutex_);
    if (!invalidating_) {
      invalidating_ = true;
      if (tasks_.empty()) deliverInvalidationLocked();
    }
    for (const auto& [id, task] : tasks_) toCancel.push_back(task);
  }
  for (const auto& task : toCancel) task->cancel();
}

void URLSession::Impl::deliverInvalidationLocked() {
  if (invalidationDelivered_) return;
  invalidationDelivered_ = true;
  dispatcher->enqueue([session = owner.shared_from_this()] {
    auto& impl = session->impl();
    std::shared_ptr<URLSessionDelegate> delegate;
    {
      // Released before the last message, so nobody sees the session holding it afterwards.
      std::lock_guard lock(impl.mutex_);
      delegate = std::exchange(impl.delegate_, detail::DelegateRoles{}).session;
    }
    if (delegate) {
      detail::trace("urlSession(_:didBecomeInvalidWithError:)");
      delegate->didBecomeInvalidWithError(*session, std::nullopt);
    }
    // A background session lets go of the daemon's session: a new one with the same
    // identifier may attach, in this process or another.
    if (impl.link) impl.link->detach();
  });
}

std::shared_ptr<detail::DefaultHeaderLists> URLSession::Impl::defaultHeaderLists() {
  if (!defaultHeaderLists_) defaultHeaderLists_ = std::make_shared<detail::DefaultHeaderLists>();
  return defaultHeaderLists_;
}

std::shared_ptr<engine::Multi> URLSession::Impl::pool() {
  if (!pool_) {
    engine::Multi::Limits limits;
    limits.maxHostConnections = configuration.httpMaximumConnectionsPerHost;
    limits.maxConnectionCache = std::max(64L, 4L * configuration.httpMaximumConnectionsPerHost);
    pool_ = std::make_shared<engine::Multi>(engine::Loop::shared(), limits);
  }
  return pool_;
}

void URLSession::Impl::retirePool() {
  // Deferred: this may run inside a transfer's callback, and the pool may be the last reference.
  if (pool_) engine::Loop::shared().post([pool = std::move(pool_)] {});
}

bool URLSession::Impl::acquireSlot(const std::string& host, std::weak_ptr<URLSessionTask> waiter) {
  auto& slots = hosts_[host];
  const int limit = std::max(1, configuration.httpMaximumConnectionsPerHost);
  if (slots.active < limit) {
    ++slots.active;
    return true;
  }
  slots.waiting.push_back(std::move(waiter));
  return false;
}

void URLSession::Impl::releaseSlot(const std::string& host) {
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return;
  auto& slots = it->second;
  --slots.active;
  while (!slots.waiting.empty()) {
    auto next = slots.waiting.front().lock();
    slots.waiting.pop_front();
    // Tasks suspended or cancelled while they waited are skipped (and re-queue on resume).
    if (!next || !next->impl().waitsForSlot()) continue;
    ++slots.active;
    next->impl().slotGranted();
    return;
  }
  if (slots.active == 0) hosts_.erase(it);
}

}  // namespace foundation

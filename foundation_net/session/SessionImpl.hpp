// URLSession's state: the task table, invalidation, the delegate dispatcher, and — on the loop
// thread — the connection pool and the per-host limit on concurrent transfers.
#pragma once
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <foundation_net/HTTPCookieStorage.hpp>
#include <foundation_net/URLSession.hpp>
#include <foundation_net/URLSessionDelegate.hpp>
#include <foundation_net/URLSessionTask.hpp>

#include "engine/Multi.hpp"
#include "session/DelegateDispatcher.hpp"
#include "session/DelegateRoles.hpp"

namespace foundation {
namespace background { class BackgroundLink; }
namespace wire { class Message; }
namespace detail { struct DefaultHeaderLists; }

class URLSession::Impl {
 public:
  Impl(URLSession& owner, const URLSessionConfiguration& configuration,
       std::shared_ptr<URLSessionDelegate> delegate, std::shared_ptr<OperationQueue> queue, bool isShared);
  ~Impl();

  URLSession& owner;
  const URLSessionConfiguration configuration;
  const bool isShared;
  const std::shared_ptr<detail::DelegateDispatcher> dispatcher;

  std::shared_ptr<URLSessionDelegate> delegate() const;
  // The delegate as a task-level delegate class D, or null (cast once, when it was set).
  template <class D>
  std::shared_ptr<D> delegateAs() const {
    std::lock_guard lock(mutex_);
    return delegate_.as<D>();
  }
  std::string description() const;
  void setDescription(std::string description);
  std::uint64_t nextTaskIdentifier() { return nextTaskIdentifier_++; }

  // Adds a new task to the table; throws std::logic_error once the session is invalidated.
  void registerTask(const std::shared_ptr<URLSessionTask>& task);
  // Adds a task that continues an existing one (a data task become download), even while the
  // session is being invalidated: it is not a new task.
  void adoptTask(const std::shared_ptr<URLSessionTask>& task);
  // Drops a task that has delivered its last message; may complete a pending invalidation.
  // Called on the delegate queue, after the task's final delegate call.
  void taskDidFinish(std::uint64_t identifier);
  std::vector<std::shared_ptr<URLSessionTask>> liveTasks() const;
  void finishTasksAndInvalidate();
  void invalidateAndCancel();

  // Background sessions: the link to urlsessiond, or why there is none.
  std::shared_ptr<background::BackgroundLink> link;
  std::optional<Error> backgroundFailure;
  bool isBackground() const { return configuration.identifier().has_value(); }
  // Background sessions, before the daemon is told of a task or its resume: the cookies the
  // app stored so far go to the storage's file, where urlsessiond reads them.
  void writeCookiesForDaemon() const {
    if (configuration.httpShouldSetCookies && configuration.httpCookieStorage) configuration.httpCookieStorage->flush();
  }
  // Loop thread: the daemon's list of tasks in flight, on attach and re-attach. Tasks this
  // process does not know become mirrors; for the ones it knows, returns the commands the
  // daemon missed while the link was down (or lost when it died), in task order.
  std::vector<wire::Message> adoptBackgroundTasks(const wire::Message& attached,
                                                  const std::shared_ptr<background::BackgroundLink>& link);
  // Loop thread: an event from the daemon.
  void backgroundEvent(const wire::Message& event);

  // Loop thread: the pool new transfers use.
  std::shared_ptr<engine::Multi> pool();
  // Loop thread: the header lists HTTPProtocol builds once for this session's configuration.
  std::shared_ptr<detail::DefaultHeaderLists> defaultHeaderLists();
  // Loop thread: new transfers get a new pool; the old one lives until its transfers end.
  void retirePool();
  // Loop thread: takes one of the host's transfer slots, or queues `waiter` for one
  // (its Impl::slotGranted runs when one frees up) and returns false.
  bool acquireSlot(const std::string& host, std::weak_ptr<URLSessionTask> waiter);
  void releaseSlot(const std::string& host);

 private:
  // Enqueues didBecomeInvalidWithError and releases the delegate after it. Mutex held.
  void deliverInvalidationLocked();

  mutable std::mutex mutex_;
  detail::DelegateRoles delegate_;
  std::string description_;
  std::map<std::uint64_t, std::shared_ptr<URLSessionTask>> tasks_;
  // Background: tasks that delivered their completion in this process while the daemon may
  // not have committed the acknowledgement yet (a daemon killed meanwhile replays it); kept
  // until an attach no longer lists them.
  std::set<std::uint64_t> finishedHere_;
  static constexpr std::size_t kFinishedHereLimit = 65536;
  bool invalidating_ = false;
  bool invalidationDelivered_ = false;
  std::atomic<std::uint64_t> nextTaskIdentifier_{1};

  // Loop thread only.
  struct HostSlots {
    int active = 0;
    std::deque<std::weak_ptr<URLSessionTask>> waiting;
  };
  std::shared_ptr<engine::Multi> pool_;
  std::shared_ptr<detail::DefaultHeaderLists> defaultHeaderLists_;
  std::unordered_map<std::string, HostSlots> hosts_;
};

}  // namespace foundation

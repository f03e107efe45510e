// The machinery behind Uploader and Downloader: a background session whose tasks are named by
// caller-chosen identifiers (their taskDescription), the callers waiting for each identifier,
// and the results that finished before anybody asked (see docs/operations.md for the rules).
// It uses only the public API.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <foundation_net/NetworkResponse.hpp>
#include <foundation_net/OperationQueue.hpp>
#include <foundation_net/PendingResponse.hpp>
#include <foundation_net/URLRequest.hpp>
#include <foundation_net/URLSession.hpp>
#include <foundation_net/URLSessionDataDelegate.hpp>
#include <foundation_net/URLSessionDownloadDelegate.hpp>

#include "operations/ResultStore.hpp"

namespace foundation::operations {

class OperationCenter : public URLSessionDataDelegate,
                        public URLSessionDownloadDelegate,
                        public std::enable_shared_from_this<OperationCenter> {
 public:
  enum class Kind { upload, download };
  using Handler = std::function<void(const std::string& identifier, NetworkResponse)>;

  // What to start when no task of that identifier exists yet.
  struct Operation {
    URLRequest request;
    std::optional<URL> uploadFile;   // uploads
    std::optional<URL> destination;  // downloads: where the file goes (else the kept-files folder)
  };

  // A background session for `configuration` (std::invalid_argument otherwise), delivering on
  // `queue` (null: a serial queue of its own); held results live in `folder` (empty: the default).
  static std::shared_ptr<OperationCenter> make(Kind kind, const URLSessionConfiguration& configuration,
                                               std::shared_ptr<OperationQueue> queue, std::string folder);

  // Hands `handler` the result of `identifier`: a held one, the one of the task in flight, or
  // the one of a task started now. Runs on the delegate queue, never on the calling thread.
  void begin(std::string identifier, Operation operation, Handler handler);
  // begin(), when the awaitable is co_await-ed.
  PendingResponse awaitable(std::string identifier, Operation operation);
  // Keeps `completionHandler` until the session's events are delivered; false when
  // `sessionIdentifier` is not this session's.
  bool handleBackgroundEvents(const std::string& sessionIdentifier, std::function<void()> completionHandler);
  std::vector<std::string> heldIdentifiers() const;
  // Drops a held result and its kept file; false when there was none.
  bool discardHeld(const std::string& identifier);
  std::shared_ptr<URLSession> session() const { return session_; }
  std::string folder() const { return folder_.string(); }
  // No more operations: lets the tasks in flight finish, then releases the session.
  void close();

  void didFinishDownloadingTo(URLSession&, URLSessionDownloadTask& task, const URL& location) override;
  void didReceiveData(URLSession&, URLSessionDataTask& task, const Data& data) override;
  void didCompleteWithError(URLSession&, URLSessionTask& task, const std::optional<Error>& error) override;
  void didFinishEventsForBackgroundURLSession(URLSession&) override;

 private:
  struct Waiter {
    std::vector<Handler> handlers;
    std::optional<URL> destination;
  };

  OperationCenter(Kind kind, std::filesystem::path folder);
  // On the delegate queue, with the session's live tasks: hand over, join, attach or start.
  void decide(const std::string& identifier, Operation operation, Handler handler,
              const std::vector<std::shared_ptr<URLSessionTask>>& tasks);
  void start(const std::string& identifier, const Operation& operation);
  // Puts a finished download where `waiter` wants it; the outcome's error says when it cannot.
  void place(const std::string& identifier, Outcome& outcome, const std::optional<URL>& destination) const;
  NetworkResponse sorted(Outcome outcome) const;
  // Runs `work` on the delegate queue, after every delegate call already queued.
  void onDelegateQueue(std::function<void()> work) const;

  const Kind kind_;
  const std::filesystem::path folder_;
  const ResultStore store_;
  std::shared_ptr<URLSession> session_;
  std::string sessionIdentifier_;

  mutable std::mutex mutex_;
  std::map<std::string, Waiter> waiting_;
  std::map<std::string, Outcome> held_;
  std::map<std::uint64_t, Outcome> finishing_;  // per task: file and body gathered before completion
  std::set<std::uint64_t> delivered_;           // tasks whose completion was handed on (replays ignored)
  std::function<void()> eventsHandler_;
  bool eventsDelivered_ = false;
};

}  // namespace foundation::operations

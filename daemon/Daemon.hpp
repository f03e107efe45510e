// urlsessiond's core: the background sessions of every app of this user, their tasks, the
// scheduler that decides when a task may use the network, and the transfers themselves —
// run by an in-process URLSession per background session, the same engine apps use.
// Everything here runs on the loop thread; delegate callbacks of the transfers post to it.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include <foundation_net/URLAuthenticationChallenge.hpp>
#include <foundation_net/URLCredential.hpp>
#include <foundation_net/URLSession.hpp>
#include <foundation_net/URLSessionTaskMetrics.hpp>

#include "background/Connection.hpp"
#include "background/Protocol.hpp"
#include "daemon/Conditions.hpp"
#include "daemon/GroupCommit.hpp"
#include "daemon/Store.hpp"
#include "engine/Loop.hpp"

namespace foundation::daemon {

struct Options {
  std::string stateDirectory;
  int maxConcurrentTransfers = 8;                      // daemon-wide
  std::chrono::milliseconds retryBase{1000};           // first retry delay; doubles per attempt
  std::chrono::milliseconds retryMaximum{60000};
  std::chrono::milliseconds progressInterval{100};     // progress events and saved byte counts
  std::chrono::seconds idleExit{30};                   // 0: never exit when idle
  std::chrono::milliseconds launchDelayBase{60000};    // the delay after an app's first launch
  std::chrono::milliseconds launchDelayMaximum{86400000};
  std::int64_t throughputFloor = 64;                   // bytes/s; 0: no floor
  std::chrono::milliseconds throughputWindow{300000};  // measured over this long
  // Reads FOUNDATION_NET_MAX_TRANSFERS, FOUNDATION_NET_RETRY_BASE_MS,
  // FOUNDATION_NET_DAEMON_IDLE_EXIT (seconds), FOUNDATION_NET_LAUNCH_DELAY_MS,
  // FOUNDATION_NET_THROUGHPUT_FLOOR and FOUNDATION_NET_THROUGHPUT_WINDOW_MS over the defaults.
  static Options fromEnvironment(std::string stateDirectory);
};

class TransferDelegate;

class Daemon {
 public:
  Daemon(Options options, std::function<void()> exitWhenIdle);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Loads the saved state and starts what may run. Throws when the store cannot be opened.
  void start();
  void clientConnected(std::shared_ptr<background::Connection> connection);
  void handle(background::Connection& connection, wire::Message message);
  void clientClosed(background::Connection& connection);

  // From the transfers (loop thread).
  struct TransferOutcome;
  void transferProgress(std::uint64_t attempt, std::int64_t bytes, std::int64_t total, std::int64_t expected,
                        bool upload);
  void transferEvent(std::uint64_t attempt, wire::Message event);
  // A download's response arrived: what later attempts need to continue its partial file.
  void transferResponse(std::uint64_t attempt, std::string validator, std::int64_t expected, std::string response);
  // The attempt's upload became resumable (a 104): saved at once, so that a retry or a restarted
  // daemon continues it with HEAD + PATCH instead of sending the body again.
  void transferUploadResource(std::uint64_t attempt, std::string resource, int version);
  void transferFinished(std::uint64_t attempt, TransferOutcome outcome);
  // A task-level challenge (Basic, Digest): asks the attached app; with none, waits for one to be
  // launched (awaitApp) or answers default handling.
  using ChallengeAnswer = std::function<void(URLSession::AuthChallengeDisposition, std::optional<URLCredential>)>;
  void transferChallenge(std::uint64_t attempt, URLAuthenticationChallenge challenge, ChallengeAnswer answer);
  // A data task's response: saved, sent to the attached app, and — when the app answers
  // responses — held until its responseAnswer; otherwise (or with no app) answered at once.
  using ResponseAnswer = std::function<void(URLSession::ResponseDisposition)>;
  void transferDataResponse(std::uint64_t attempt, std::string validator, std::int64_t expected,
                            std::string response, ResponseAnswer answer);

 private:
  using SessionKey = std::pair<std::string, std::string>;             // app id, session id
  using TaskKey = std::tuple<std::string, std::string, std::uint64_t>;  // + task id
  struct Session;
  struct Task;

  // What transferResponse and transferDataResponse record: the response, its validator and the
  // expected length, saved at once. The attempt's task, or null when the attempt was stopped.
  Task* saveResponse(std::uint64_t attempt, std::string validator, std::int64_t expected, std::string response);

  void attach(background::Connection& connection, const wire::Message& message);
  void createTask(background::Connection& connection, Session& session, const wire::Message& message);
  void resumeTask(Task& task, const wire::Message& message);
  void suspendTask(Task& task);
  // Cancels; with produceResumeData, the completion's error carries resume data when the
  // download can be continued, and its partial file stays in staging as "….resumable".
  void cancelTask(Task& task, const wire::Message& message);
  std::optional<Data> produceResumeData(Task& task);
  // At start: removes .resumable files older than a week (resume data nobody came back for).
  void removeAbandonedResumeFiles();
  // createTask from resume data: the partial file it names becomes the new task's.
  void takeOverPartialFile(Task& task, const wire::Message& message);
  void acknowledge(std::int64_t sequence);
  void answerDelayedRequest(Task& task, const wire::Message& message);
  // The app's challengeAnswer goes to the pending challenge of the task's transfer.
  void answerChallenge(Task& task, const wire::Message& message);
  // The app's responseAnswer goes to the transfer waiting for it; becomeDownload turns the task
  // into a download task with the id the app chose, which goes on without the app.
  void answerResponse(background::Connection& connection, Task& task, const wire::Message& message);
  void becomeDownload(background::Connection& connection, Task& task, std::uint64_t downloadId, ResponseAnswer answer);
  // A challenge with no app to answer it: when the session sends launch events and has a launch
  // command, the attempt stops (its transfer slot is free) and the task waits, for at most the
  // request timeout, for an app to attach, which is asked on a new attempt; else default handling.
  void awaitApp(Task& task, ChallengeAnswer answer);
  // sessionSendsLaunchEvents with a launch command: the daemon may start the app for this session.
  static bool launchesApp(const Session& session);
  // Sends finishedEvents once the replay is out and every task the attach found waiting for an
  // app (awaitApp) has completed.
  void finishEventsWhenDone(Session& session);
  void applyProperties(Task& task, const wire::Message& message);
  // The app's foreground flag and launch command, from attach and appState.
  void applyAppState(Session& session, const wire::Message& message);
  // The session's app went away (or let go of it): its data tasks fail with -997.
  void detach(Session& session);
  // Calls `visit(Task&)` for each task of `session`, in task id order (tasks_ is sorted by app
  // id, session id, task id, so they are one range).
  template <typename Visit>
  void forEachTaskOf(const Session& session, Visit visit);

  Session* sessionOf(const background::Connection& connection);
  Task* taskOf(Session& session, const wire::Message& message);
  Session& sessionFor(const Task& task);
  void reply(background::Connection& connection, std::optional<Error> error);
  // The tools' questions (status, listTasks), from any connection, attached or not.
  void report(background::Connection& connection, const wire::Message& message);
  wire::Message listingOf(const Task& task) const;

  // Scheduling. schedule() asks for one scheduleNow() after the current loop callback, so a
  // burst of messages (10,000 resumes) costs one pass over the tasks, not one per message.
  void schedule();
  void scheduleNow();
  void scheduleAt(std::chrono::system_clock::time_point when);
  bool mayStart(const Task& task, Millis now, Millis& wakeAt) const;
  void startTransfer(Task& task);
  void stopTransfer(Task& task);
  // A failed or stopped attempt: the task waits with doubling backoff, then goes again.
  void retryLater(Task& task, const Error& error);
  // Stops (and retries later) the transfers that moved fewer bytes than the floor over the window.
  void checkThroughput();
  // Runs checkThroughput soon, unless it is due already or there is no floor.
  void armThroughputCheck();
  // Launch events: each app with undelivered events for `pending` sessions that send launch
  // events, a launch command, no process attached and no launched process still running is
  // started once its rate limiter allows.
  void launchApps(const std::set<SessionKey>& pending, Millis now, Millis& wakeAt);
  AppRecord& appRecord(const std::string& appId);
  // Ends a task: saves it completed with a durable event, and delivers the event if attached.
  void complete(Task& task, std::optional<Error> error, const std::optional<std::string>& location,
                const std::optional<std::string>& body);
  void deliver(Session& session, const EventRecord& event);
  void save(const Task& task);
  std::string stagingPath(const Task& task, const char* suffix) const;
  background::TaskSummary summaryOf(const Task& task) const;
  void checkIdle();

  Options options_;
  std::function<void()> exitWhenIdle_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<GroupCommit> groupCommit_;
  std::unique_ptr<ConditionsMonitor> conditions_;
  DeviceConditions current_;
  std::map<SessionKey, std::unique_ptr<Session>> sessions_;
  std::map<TaskKey, std::unique_ptr<Task>> tasks_;
  std::map<std::uint64_t, TaskKey> attempts_;  // running transfer → task
  std::uint64_t nextAttempt_ = 1;
  std::set<std::shared_ptr<background::Connection>> clients_;
  int running_ = 0;
  std::map<std::string, AppRecord> apps_;  // launch rate limiters, by app id
  bool launchWaiting_ = false;             // a launch is due later: not idle
  std::map<std::string, int> launchedRunning_;  // app id → processes launched that still run
  std::unique_ptr<engine::Timer> scheduleTimer_, idleTimer_, throughputTimer_;
  Millis startedAt_ = 0;
  bool schedulePending_ = false;
};

struct Daemon::TransferOutcome {
  std::optional<Error> error;
  std::shared_ptr<const URLResponse> response;
  std::string validator;
  std::int64_t bytes = 0;              // the download's file size, or bytes sent
  std::optional<std::string> body;     // upload and data responses
  std::vector<URLSessionTaskTransactionMetrics> transactions;  // the attempt's metrics
  int redirects = 0;
};

}  // namespace foundation::daemon

#include "daemon/Daemon.hpp"

#include <algorithm>
#include <filesystem>
#include <utility>

#include <fmt/format.h>

#include <foundation_net/HTTPCookieStorage.hpp>
#include <foundation_net/OperationQueue.hpp>
#include <foundation_net/URLCredentialStorage.hpp>
#include <foundation_net/URLSessionTask.hpp>

#include "daemon/Transfers.hpp"
#include "model/ResumeData.hpp"
#include "platform/File.hpp"
#include "platform/Process.hpp"

namespace foundation::daemon {

using background::Connection;
using wire::EventKind;
using wire::Message;
namespace tag = wire::tag;
using SystemClock = std::chrono::system_clock;

namespace {

Millis nowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(SystemClock::now().time_since_epoch()).count();
}

std::int64_t environmentNumber(const char* name, std::int64_t fallback) {
  auto value = platform::environment(name);
  if (!value || value->empty()) return fallback;
  try {
    return std::stoll(*value);
  } catch (const std::exception&) {
    return fallback;
  }
}

std::string encoded(const Message& message) { return message.encode(); }

// A protection space as one comparable value.
std::string spaceKey(const URLProtectionSpace& s) {
  return fmt::format("{}\n{}\n{}\n{}\n{}", s.host(), s.port(), s.protocol(), s.realm().value_or(""),
                     s.authenticationMethod());
}

// Apple's rate limiter forgets a delay that passed without a relaunch: once a whole delay went
// by after the last one expired, the delay is zero again. True when it was reset.
bool expireLaunchDelay(AppRecord& app, Millis now) {
  if (app.launchDelay == 0 || now < app.lastLaunchAt + 2 * app.launchDelay) return false;
  app.launchDelay = 0;
  return true;
}

}  // namespace

Options Options::fromEnvironment(std::string stateDirectory) {
  Options options;
  options.stateDirectory = std::move(stateDirectory);
  options.maxConcurrentTransfers =
      static_cast<int>(std::max<std::int64_t>(1, environmentNumber("FOUNDATION_NET_MAX_TRANSFERS", 8)));
  options.retryBase = std::chrono::milliseconds(environmentNumber("FOUNDATION_NET_RETRY_BASE_MS", 1000));
  options.idleExit = std::chrono::seconds(environmentNumber("FOUNDATION_NET_DAEMON_IDLE_EXIT", 30));
  // At least 10 ms: a zero delay would relaunch an app that never attaches without pause.
  options.launchDelayBase =
      std::chrono::milliseconds(std::max<std::int64_t>(10, environmentNumber("FOUNDATION_NET_LAUNCH_DELAY_MS", 60000)));
  options.throughputFloor = std::max<std::int64_t>(0, environmentNumber("FOUNDATION_NET_THROUGHPUT_FLOOR", 64));
  options.throughputWindow = std::chrono::milliseconds(
      std::max<std::int64_t>(100, environmentNumber("FOUNDATION_NET_THROUGHPUT_WINDOW_MS", 300000)));
  return options;
}

struct Daemon::Session {
  SessionRecord record;
  URLSessionConfiguration configuration = URLSessionConfiguration::defaultConfiguration();
  std::weak_ptr<Connection> holder;  // the attached app, if any
  bool holderForeground = true;      // what the attached app last said of its state
  std::shared_ptr<TransferDelegate> delegate;
  std::shared_ptr<URLSession> transfers;  // created on first use
  std::shared_ptr<HTTPCookieStorage> cookies;  // the transfers' cookie storage
  bool replaying = false;                 // attached, finishedEvents not sent yet
  std::set<std::uint64_t> finishAfter;    // tasks that attach found waiting for an app (awaitApp)
  bool answersResponses = false;          // the attached app sends responseAnswer
};

struct Daemon::Task {
  TaskRecord record;
  std::shared_ptr<URLSessionTask> transfer;  // the attempt running now
  std::uint64_t attempt = 0;
  bool delayedAnswered = false;              // willBeginDelayedRequest was answered (or not needed)
  bool awaitingDelayedAnswer = false;
  ChallengeAnswer pendingChallenge;          // the transfer waits for the app's challengeAnswer
  ResponseAnswer pendingDisposition;         // the data task waits for the app's responseAnswer
  Millis awaitingAppUntil = 0;               // > 0: a challenge waits for a launched app (awaitApp)
  bool defaultHandlingNext = false;          // no app came: the next challenge gets default handling
  // Apple counts previousFailureCount per task and protection space, across attempts; and
  // proposes the credential last tried. Memory only: passwords are not written to the store.
  std::string challengeSpace;
  int challengeFailures = 0;
  std::optional<URLCredential> triedCredential;
  // Every attempt's transactions and redirects, for the completion's metrics (also in the
  // record, written when an attempt ends, and read back by a restarted daemon).
  std::vector<URLSessionTaskTransactionMetrics> transactions;
  int redirects = 0;
  Millis windowStart = 0;                    // throughput floor: this attempt's current window
  std::int64_t movedInWindow = 0;            // bytes sent and received in it
};

Daemon::Daemon(Options options, std::function<void()> exitWhenIdle)
    : options_(std::move(options)), exitWhenIdle_(std::move(exitWhenIdle)) {}

Daemon::~Daemon() = default;

void Daemon::start() {
  startedAt_ = nowMillis();
  store_ = std::make_unique<Store>(options_.stateDirectory);
  groupCommit_ = std::make_unique<GroupCommit>(engine::Loop::shared().uv(), *store_);
  std::filesystem::create_directories(options_.stateDirectory + "/staging");
  removeAbandonedResumeFiles();
  for (auto& record : store_->sessions()) {
    auto session = std::make_unique<Session>();
    if (auto message = Message::decode(record.configuration))
      if (auto configuration = wire::decodeConfiguration(*message)) session->configuration = *configuration;
    session->record = std::move(record);
    SessionKey key{session->record.appId, session->record.sessionId};
    sessions_.emplace(key, std::move(session));
  }
  for (auto& app : store_->apps()) apps_[app.appId] = app;
  for (auto& record : store_->allTasks()) {
    auto task = std::make_unique<Task>();
    // An attempt that was running when the daemon stopped continues from its partial file.
    if (record.state == TaskState::running) record.state = TaskState::waiting;
    if (record.kind == TaskKind::download && !record.partialFile.empty()) {
      auto size = platform::fileSize(record.partialFile);
      record.bytesReceived = size > 0 ? size : 0;
    }
    if (auto message = Message::decode(record.metrics))
      if (auto metrics = wire::decodeMetrics(*message)) {
        task->transactions = std::move(metrics->transactionMetrics);
        task->redirects = metrics->redirectCount;
      }
    task->record = std::move(record);
    TaskKey key{task->record.appId, task->record.sessionId, task->record.taskId};
    tasks_.emplace(key, std::move(task));
  }
  scheduleTimer_ = std::make_unique<engine::Timer>(engine::Loop::shared());
  idleTimer_ = std::make_unique<engine::Timer>(engine::Loop::shared());
  throughputTimer_ = std::make_unique<engine::Timer>(engine::Loop::shared());
  conditions_ = std::make_unique<ConditionsMonitor>(engine::Loop::shared(), [this](const DeviceConditions& now) {
    current_ = now;
    schedule();
  });
  current_ = conditions_->current();
  schedule();
  checkIdle();
}

// ---- Clients ------------------------------------------------------------------------------

void Daemon::clientConnected(std::shared_ptr<Connection> connection) {
  clients_.insert(std::move(connection));
  checkIdle();
}

void Daemon::clientClosed(Connection& connection) {
  for (auto it = clients_.begin(); it != clients_.end(); ++it) {
    if (it->get() != &connection) continue;
    clients_.erase(it);
    break;
  }
  for (auto& [key, session] : sessions_)
    if (session->holder.lock().get() == &connection) detach(*session);
  schedule();  // events it left undelivered may launch it again
}

template <typename Visit>
void Daemon::forEachTaskOf(const Session& session, Visit visit) {
  const std::string& appId = session.record.appId;
  const std::string& sessionId = session.record.sessionId;
  for (auto it = tasks_.lower_bound(TaskKey{appId, sessionId, 0});
       it != tasks_.end() && std::get<0>(it->first) == appId && std::get<1>(it->first) == sessionId; ++it)
    visit(*it->second);
}

void Daemon::detach(Session& session) {
  session.holder.reset();
  session.replaying = false;
  session.finishAfter.clear();
  // The app went away: its data tasks cannot go on (Apple: -997); everything else does, and a
  // challenge it left unanswered waits for the app to be launched again.
  forEachTaskOf(session, [&](Task& task) {
    if (task.pendingChallenge) awaitApp(task, std::exchange(task.pendingChallenge, nullptr));
    if (task.record.kind == TaskKind::data && task.record.state != TaskState::completed)
      complete(task, Error::url(URLError::backgroundSessionWasDisconnected, std::nullopt,
                                "the app went away during a background data task"),
               std::nullopt, std::nullopt);
  });
}

void Daemon::handle(Connection& connection, Message message) {
  if (message.type() == wire::Type::attach) return attach(connection, message);
  if (message.type() == wire::Type::status || message.type() == wire::Type::listTasks) return report(connection, message);
  Session* session = sessionOf(connection);
  if (!session) return connection.close();  // every other message needs an attached session
  switch (message.type()) {
    case wire::Type::createTask: return createTask(connection, *session, message);
    case wire::Type::acknowledge: return acknowledge(message.integer(tag::sequence).value_or(0));
    case wire::Type::appState: return applyAppState(*session, message);
    case wire::Type::invalidate:
      detach(*session);
      schedule();
      return reply(connection, std::nullopt);
    default: break;
  }
  Task* task = taskOf(*session, message);
  if (!task) return;  // a task that finished meanwhile
  switch (message.type()) {
    case wire::Type::resumeTask: return resumeTask(*task, message);
    case wire::Type::suspendTask: return suspendTask(*task);
    case wire::Type::cancelTask: return cancelTask(*task, message);
    case wire::Type::setTaskDescription:
      applyProperties(*task, message);
      return save(*task);
    case wire::Type::delayedRequestAnswer: return answerDelayedRequest(*task, message);
    case wire::Type::challengeAnswer: return answerChallenge(*task, message);
    case wire::Type::responseAnswer: return answerResponse(connection, *task, message);
    default: return connection.close();  // not a message a client sends
  }
}

Daemon::Session* Daemon::sessionOf(const Connection& connection) {
  for (auto& [key, session] : sessions_)
    if (session->holder.lock().get() == &connection) return session.get();
  return nullptr;
}

Daemon::Task* Daemon::taskOf(Session& session, const Message& message) {
  auto id = message.integer(tag::taskId);
  if (!id) return nullptr;
  auto it = tasks_.find(TaskKey{session.record.appId, session.record.sessionId, static_cast<std::uint64_t>(*id)});
  return it == tasks_.end() ? nullptr : it->second.get();
}

Daemon::Session& Daemon::sessionFor(const Task& task) {
  return *sessions_.at(SessionKey{task.record.appId, task.record.sessionId});
}

void Daemon::reply(Connection& connection, std::optional<Error> error) {
  Message answer(wire::Type::reply);
  answer.add(tag::ok, static_cast<std::int64_t>(error ? 0 : 1));
  if (error) answer.add(tag::error, wire::encodeError(*error));
  connection.send(answer);
}

void Daemon::report(Connection& connection, const Message& message) {
  if (message.type() == wire::Type::listTasks) {
    auto appId = message.bytes(tag::appId);
    Message list(wire::Type::taskList);
    for (const auto& [key, task] : tasks_)
      if (!appId || std::get<0>(key) == *appId) list.add(tag::task, listingOf(*task));
    connection.send(list);
    return;
  }
  std::int64_t counts[4] = {};
  Message status(wire::Type::statusReport);
  for (const auto& [key, task] : tasks_) {
    ++counts[static_cast<int>(task->record.state)];
    if (task->transfer) status.add(tag::task, listingOf(*task));
  }
  status.add(tag::pid, static_cast<std::int64_t>(platform::processIdentifier()))
      .add(tag::uptimeMs, nowMillis() - startedAt_)
      .add(tag::sessionCount, static_cast<std::int64_t>(sessions_.size()))
      .add(tag::waitingCount, counts[static_cast<int>(TaskState::waiting)])
      .add(tag::runningCount, counts[static_cast<int>(TaskState::running)])
      .add(tag::suspendedCount, counts[static_cast<int>(TaskState::suspended)])
      .add(tag::completedCount, counts[static_cast<int>(TaskState::completed)])
      .add(tag::pendingEventCount, store_->pendingEventCount());
  connection.send(status);
}

// A task as the tools list it: its summary, whose it is, and the daemon's own view of it.
Message Daemon::listingOf(const Task& task) const {
  const auto& r = task.record;
  return background::encodeTaskSummary(summaryOf(task))
      .add(tag::appId, r.appId)
      .add(tag::sessionId, r.sessionId)
      .add(tag::daemonTaskState, static_cast<std::int64_t>(r.state))
      .add(tag::discretionary, static_cast<std::int64_t>(r.discretionary))
      .add(tag::attempts, static_cast<std::int64_t>(r.attempts))
      .add(tag::nextAttemptAt, r.nextAttemptAt);
}

void Daemon::attach(Connection& connection, const Message& message) {
  auto appId = message.bytes(tag::appId);
  auto sessionId = message.bytes(tag::sessionId);
  auto encodedConfiguration = message.nested(tag::configuration);
  auto configuration = encodedConfiguration ? wire::decodeConfiguration(*encodedConfiguration) : std::nullopt;
  if (!appId || !sessionId || sessionId->empty() || !configuration || sessionOf(connection)) {
    return connection.close();
  }
  SessionKey key{*appId, *sessionId};
  auto& slot = sessions_[key];
  if (!slot) {
    slot = std::make_unique<Session>();
    slot->record.appId = *appId;
    slot->record.sessionId = *sessionId;
  }
  Session& session = *slot;
  if (auto holder = session.holder.lock(); holder && holder->isOpen()) {
    return reply(connection, Error::url(URLError::backgroundSessionInUseByAnotherProcess, std::nullopt,
        fmt::format("the background session \"{}\" is attached to another process", *sessionId)));
  }
  session.configuration = *configuration;
  session.record.configuration = encoded(*encodedConfiguration);
  session.record.invalidated = false;
  store_->putSession(session.record);
  for (auto& client : clients_)
    if (client.get() == &connection) session.holder = client;
  session.answersResponses = message.integer(tag::answersResponses).value_or(0) != 0;
  applyAppState(session, message);

  Message attached(wire::Type::attached);
  std::uint64_t next = session.record.nextTaskId;
  forEachTaskOf(session, [&](Task& task) {
    next = std::max(next, task.record.taskId + 1);
    attached.add(tag::task, background::encodeTaskSummary(summaryOf(task)));
  });
  attached.add(tag::nextTaskId, static_cast<std::int64_t>(next));
  connection.send(attached);

  // What happened while no process was attached, in order; then the end-of-replay marker —
  // after the challenges that waited for this app, which go again now and ask it.
  auto pending = store_->pendingEvents(*appId, *sessionId);
  for (const auto& event : pending) deliver(session, event);
  forEachTaskOf(session, [&](Task& task) {
    task.defaultHandlingNext = false;  // an app came after all: it is asked
    if (std::exchange(task.awaitingAppUntil, 0)) session.finishAfter.insert(task.record.taskId);
  });
  // A process launched for this session's events gets the end of the replay even when another
  // instance of the app took them first: its handle-events flow ends there instead of waiting.
  const bool launchedForEvents = message.integer(tag::launchedForEvents).value_or(0) != 0;
  session.replaying = !pending.empty() || !session.finishAfter.empty() || launchedForEvents;
  finishEventsWhenDone(session);
  schedule();  // delayed requests can now ask the app, challenges go again
}

void Daemon::applyAppState(Session& session, const Message& message) {
  session.holderForeground = message.integer(tag::foreground).value_or(1) != 0;
  if (auto command = message.nested(tag::launchCommand)) {
    // Kept encoded; "" when the app unregistered (an empty command).
    session.record.launchCommand = command->allBytes(tag::launchCommand).empty() ? "" : command->encode();
    store_->putSession(session.record);
  }
  // Apple's rate limiter starts again from zero once the app is in the foreground.
  auto& app = appRecord(session.record.appId);
  if (session.holderForeground && app.launchDelay != 0) {
    app.launchDelay = 0;
    store_->putApp(app);
  }
}

AppRecord& Daemon::appRecord(const std::string& appId) {
  auto& app = apps_[appId];
  app.appId = appId;
  return app;
}

// ---- Task commands -------------------------------------------------------------------------

void Daemon::applyProperties(Task& task, const Message& message) {
  auto& r = task.record;
  if (auto v = message.bytes(tag::description)) r.description = *v;
  if (auto v = message.real(tag::priority)) r.priority = std::clamp(*v, 0.0, 1.0);
  if (auto v = message.integer(tag::expectsToSend)) r.expectsToSend = *v;
  if (auto v = message.integer(tag::expectsToReceive)) r.expectsToReceive = *v;
  r.earliestBegin = message.integer(tag::earliestBegin);
}

void Daemon::createTask(Connection& connection, Session& session, const Message& message) {
  auto id = message.integer(tag::taskId);
  auto kind = message.integer(tag::taskKind);
  auto encodedRequest = message.nested(tag::request);
  auto request = encodedRequest ? wire::decodeRequest(*encodedRequest) : std::nullopt;
  if (!id || *id <= 0 || !kind || *kind < 0 || *kind > 2 || !request) return;
  TaskKey key{session.record.appId, session.record.sessionId, static_cast<std::uint64_t>(*id)};
  // An upload's creator waits until its file is copied and the task committed: this answer is
  // held until the store's commit (GroupCommit), like every message.
  // With the size of the copy, when there is one: what the upload will send.
  auto confirm = [&](std::optional<std::int64_t> copied) {
    if (!message.bytes(tag::uploadFile)) return;
    Message reply(wire::Type::reply);
    reply.add(tag::ok, std::int64_t{1}).add(tag::taskId, *id);
    if (copied) reply.add(tag::expectedBytes, *copied);
    connection.send(std::move(reply));
  };
  // Resent after a reconnection: known, or created once and finished since (ids only grow).
  if (auto known = tasks_.find(key); known != tasks_.end()) {
    const auto& record = known->second->record;
    return confirm(record.uploadFile.empty() ? std::nullopt : std::optional(record.bytesExpectedToSend));
  }
  if (static_cast<std::uint64_t>(*id) < session.record.nextTaskId) return confirm(std::nullopt);

  auto task = std::make_unique<Task>();
  auto& r = task->record;
  r.appId = session.record.appId;
  r.sessionId = session.record.sessionId;
  r.taskId = static_cast<std::uint64_t>(*id);
  r.kind = static_cast<TaskKind>(*kind);
  r.state = TaskState::suspended;  // tasks are created suspended
  r.request = r.originalRequest = encoded(*encodedRequest);
  r.createdAt = nowMillis();
  r.resourceDeadline = r.createdAt + static_cast<Millis>(session.configuration.timeoutIntervalForResource * 1000);
  r.discretionary = session.configuration.isDiscretionary;
  if (!session.holderForeground) {
    // Apple: tasks created in the background are discretionary and wait out the rate limiter.
    r.discretionary = true;
    auto& app = appRecord(r.appId);
    if (expireLaunchDelay(app, r.createdAt)) store_->putApp(app);
    r.nextAttemptAt = r.createdAt + app.launchDelay;
  }
  applyProperties(*task, message);

  std::optional<Error> refusal;
  auto scheme = request->url ? request->url->scheme() : std::string();
  if (scheme != "http" && scheme != "https") {
    refusal = Error::url(URLError::unsupportedURL, request->url, "background sessions load http and https only");
  } else if (r.kind == TaskKind::upload) {
    // Snapshot the body now: the app may change or delete its file afterwards.
    auto source = message.bytes(tag::uploadFile).value_or("");
    r.uploadFile = stagingPath(*task, "upload");
    int rc = platform::snapshotFile(source, r.uploadFile);
    if (rc < 0) {
      r.uploadFile.clear();
      const int code = rc == UV_ENOENT ? URLError::fileDoesNotExist
                     : rc == UV_EISDIR ? URLError::fileIsDirectory
                     : (rc == UV_EACCES || rc == UV_EPERM) ? URLError::noPermissionsToReadFile
                                                           : URLError::cannotOpenFile;
      refusal = Error::url(code, request->url,
                           rc == UV_EBUSY ? fmt::format("{} kept changing while it was copied", source)
                                          : fmt::format("{}: {}", source, platform::errorName(rc)));
    } else {
      r.bytesExpectedToSend = platform::fileSize(r.uploadFile);
    }
  } else if (r.kind == TaskKind::download) {
    r.partialFile = stagingPath(*task, "partial");
    takeOverPartialFile(*task, message);
  }
  session.record.nextTaskId = std::max(session.record.nextTaskId, r.taskId + 1);
  Task& created = *task;
  tasks_.emplace(key, std::move(task));
  store_->transaction([&] {
    store_->putSession(session.record);
    save(created);
  });
  confirm(r.uploadFile.empty() ? std::nullopt : std::optional(r.bytesExpectedToSend));
  if (refusal) complete(created, refusal, std::nullopt, std::nullopt);
}

void Daemon::resumeTask(Task& task, const Message& message) {
  if (task.record.state == TaskState::completed) return;
  applyProperties(task, message);
  if (task.record.state == TaskState::suspended) task.record.state = TaskState::waiting;
  save(task);
  schedule();
}

void Daemon::suspendTask(Task& task) {
  if (task.record.state == TaskState::completed) return;
  stopTransfer(task);  // the partial file stays: resuming continues from it
  task.record.state = TaskState::suspended;
  save(task);
  schedule();
}

void Daemon::cancelTask(Task& task, const Message& message) {
  if (task.record.state == TaskState::completed) return;
  stopTransfer(task);
  auto error = Error::url(URLError::cancelled, std::nullopt);
  if (message.integer(tag::produceResumeData).value_or(0) != 0) error.resumeData = produceResumeData(task);
  complete(task, std::move(error), std::nullopt, std::nullopt);
  schedule();
}

void Daemon::removeAbandonedResumeFiles() {
  // Resume data an app never used: its file goes after a week, as temporary files do.
  const auto limit = std::filesystem::file_time_type::clock::now() - std::chrono::hours(24 * 7);
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator(options_.stateDirectory + "/staging", ignored)) {
    if (entry.path().extension() != detail::resumableSuffix) continue;
    if (entry.last_write_time(ignored) < limit) std::filesystem::remove(entry.path(), ignored);
  }
}

std::optional<Data> Daemon::produceResumeData(Task& task) {
  auto& r = task.record;
  if (r.kind != TaskKind::download || r.partialFile.empty()) return std::nullopt;
  auto decodedRequest = [](const std::string& encodedRequest) {
    auto m = Message::decode(encodedRequest);
    return m ? wire::decodeRequest(*m) : std::nullopt;
  };
  auto request = decodedRequest(r.request);
  auto original = decodedRequest(r.originalRequest);
  auto m = Message::decode(r.response);
  auto response = m ? wire::decodeResponse(*m) : std::nullopt;
  const std::int64_t size = platform::fileSize(r.partialFile);
  if (!request || !response || size < 0) return std::nullopt;
  const std::string resumable = stagingPath(task, "resumable");
  auto data = detail::ResumeData::make(original.value_or(*request), *request, *response,
                                       detail::ResumeData::Folder::staging,
                                       resumable.substr(resumable.find_last_of('/') + 1), size);
  // Renamed, so that acknowledging the completion (which removes the task's files) keeps it.
  if (!data || platform::renameFile(r.partialFile, resumable) < 0) return std::nullopt;
  return data->encode();
}

void Daemon::takeOverPartialFile(Task& task, const Message& message) {
  auto source = message.bytes(tag::resumeFile);
  auto validator = message.bytes(tag::resumeValidator);
  if (!source || !validator || validator->empty()) return;
  // Only a file the library named itself: resume data must not move an arbitrary file.
  auto name = std::string_view(*source).substr(source->find_last_of('/') + 1);
  if (!detail::isPartialFileName(detail::ResumeData::Folder::staging, name) &&
      !detail::isPartialFileName(detail::ResumeData::Folder::temporary, name))
    return;
  auto& r = task.record;
  // Across file systems (the app's temporary folder) a rename fails: copy, then remove.
  if (platform::renameFile(*source, r.partialFile) < 0) {
    if (platform::copyFile(*source, r.partialFile) < 0) {
      platform::removeFile(r.partialFile);
      return;
    }
    platform::removeFile(*source);
  }
  r.validator = *validator;
  r.bytesReceived = std::max<std::int64_t>(0, platform::fileSize(r.partialFile));
}

void Daemon::answerDelayedRequest(Task& task, const Message& message) {
  if (!task.awaitingDelayedAnswer) return;
  task.awaitingDelayedAnswer = false;
  task.delayedAnswered = true;
  switch (static_cast<URLSession::DelayedRequestDisposition>(message.integer(tag::disposition).value_or(0))) {
    case URLSession::DelayedRequestDisposition::cancel:
      return complete(task, Error::url(URLError::cancelled, std::nullopt), std::nullopt, std::nullopt);
    case URLSession::DelayedRequestDisposition::useNewRequest:
      if (auto encodedRequest = message.nested(tag::request); encodedRequest && wire::decodeRequest(*encodedRequest))
        task.record.request = encoded(*encodedRequest);
      break;
    case URLSession::DelayedRequestDisposition::continueLoading:
      break;
  }
  save(task);
  schedule();
}

void Daemon::transferChallenge(std::uint64_t attempt, URLAuthenticationChallenge challenge, ChallengeAnswer answer) {
  auto it = attempts_.find(attempt);
  if (it == attempts_.end()) return answer(URLSession::AuthChallengeDisposition::performDefaultHandling, std::nullopt);
  Task& task = *tasks_.at(it->second);
  if (std::exchange(task.defaultHandlingNext, false))
    return answer(URLSession::AuthChallengeDisposition::performDefaultHandling, std::nullopt);
  const auto& space = challenge.protectionSpace();
  if (auto key = spaceKey(space); key != task.challengeSpace) {
    task.challengeSpace = std::move(key);
    task.challengeFailures = 0;
    task.triedCredential.reset();
  }
  auto holder = sessionFor(task).holder.lock();
  if (!holder || !holder->isOpen()) return awaitApp(task, std::move(answer));
  // Unanswered, the transfer's own request timeout ends it with -1001 (see transferFinished).
  task.pendingChallenge = std::move(answer);
  URLAuthenticationChallenge asked(space, task.triedCredential ? task.triedCredential : challenge.proposedCredential(),
                                   task.challengeFailures, challenge.failureResponse());
  holder->send(Message(wire::Type::event)
                   .add(tag::eventKind, static_cast<std::int64_t>(EventKind::challenge))
                   .add(tag::taskId, static_cast<std::int64_t>(task.record.taskId))
                   .append(wire::encodeChallenge(asked)));
}

bool Daemon::launchesApp(const Session& session) {
  // A session id with a newline cannot be named in FOUNDATION_NET_LAUNCH_SESSIONS.
  return session.configuration.sessionSendsLaunchEvents && !session.record.launchCommand.empty() &&
         session.record.sessionId.find('\n') == std::string::npos;
}

void Daemon::awaitApp(Task& task, ChallengeAnswer answer) {
  // Data tasks end with their app (-997); without launch events nobody could come.
  if (task.record.kind == TaskKind::data || !launchesApp(sessionFor(task)))
    return answer(URLSession::AuthChallengeDisposition::performDefaultHandling, std::nullopt);
  // The attempt goes (the app may take long to start); the attached app is asked on a new one.
  stopTransfer(task);
  task.record.state = TaskState::waiting;
  save(task);
  const auto timeout = sessionFor(task).configuration.timeoutIntervalForRequest;
  task.awaitingAppUntil = nowMillis() + std::max<Millis>(1, static_cast<Millis>(timeout * 1000));
  schedule();  // launches the app
}

void Daemon::finishEventsWhenDone(Session& session) {
  auto holder = session.holder.lock();
  if (!session.replaying || !session.finishAfter.empty() || !holder) return;
  session.replaying = false;
  holder->send(Message(wire::Type::event).add(tag::eventKind, static_cast<std::int64_t>(EventKind::finishedEvents)));
}

void Daemon::answerChallenge(Task& task, const Message& message) {
  if (!task.pendingChallenge) return;
  auto answer = std::exchange(task.pendingChallenge, nullptr);
  const auto disposition = static_cast<URLSession::AuthChallengeDisposition>(
      std::clamp<std::int64_t>(message.integer(tag::disposition).value_or(1), 0, 3));  // else default handling
  std::optional<URLCredential> credential;
  if (!wire::readCredential(message, credential)) credential.reset();  // malformed: as none
  if (disposition == URLSession::AuthChallengeDisposition::useCredential && credential) {
    ++task.challengeFailures;  // counted as failed should the server ask again
    task.triedCredential = credential;
  }
  answer(disposition, std::move(credential));
}

void Daemon::answerResponse(Connection& connection, Task& task, const Message& message) {
  if (!task.pendingDisposition) return;
  auto answer = std::exchange(task.pendingDisposition, nullptr);
  using Disposition = URLSession::ResponseDisposition;
  switch (static_cast<Disposition>(std::clamp<std::int64_t>(message.integer(tag::disposition).value_or(1), 0, 3))) {
    case Disposition::cancel: return answer(Disposition::cancel);
    case Disposition::becomeDownload:
      if (auto id = message.integer(tag::downloadTaskId); id && *id > 0)
        return becomeDownload(connection, task, static_cast<std::uint64_t>(*id), std::move(answer));
      return connection.close();  // becomeDownload names the download task's id
    case Disposition::allow:
    case Disposition::becomeStream:  // no stream tasks: loads as allow, as in-process
      return answer(Disposition::allow);
  }
}

void Daemon::becomeDownload(Connection& connection, Task& task, std::uint64_t downloadId, ResponseAnswer answer) {
  Session& session = sessionFor(task);
  const TaskKey from{task.record.appId, task.record.sessionId, task.record.taskId};
  const TaskKey to{task.record.appId, task.record.sessionId, downloadId};
  // The app takes ids from the counter the daemon seeds at attach: a taken one is a broken client.
  if (tasks_.count(to)) {
    answer(URLSession::ResponseDisposition::cancel);
    return connection.close();
  }
  auto node = tasks_.extract(from);
  node.key() = to;
  Task& download = *node.mapped();
  auto& r = download.record;
  const std::uint64_t dataId = r.taskId;
  r.taskId = downloadId;
  r.kind = TaskKind::download;
  r.partialFile = stagingPath(download, "partial");
  tasks_.insert(std::move(node));
  if (download.attempt) attempts_[download.attempt] = to;
  if (session.finishAfter.erase(dataId)) session.finishAfter.insert(downloadId);
  session.record.nextTaskId = std::max(session.record.nextTaskId, downloadId + 1);
  store_->transaction([&] {
    store_->removeTask(r.appId, r.sessionId, dataId);
    store_->putSession(session.record);
    save(download);
  });
  if (auto failure = download.transfer ? session.delegate->becomeDownload(*download.transfer, r.partialFile)
                                       : std::nullopt)
    return complete(download, failure, std::nullopt, std::nullopt);  // cancels the transfer
  answer(URLSession::ResponseDisposition::allow);  // the body flows on, into the file
}

void Daemon::acknowledge(std::int64_t sequence) {
  // The app's delegate has seen the task's last messages: the task and its files go.
  // One row by its key, not the whole queue: every completion is acknowledged.
  auto it = store_->pendingEvent(sequence);
  if (!it) return;
  TaskKey key{it->appId, it->sessionId, it->taskId};
  store_->transaction([&] {
    store_->acknowledge(sequence);
    store_->removeTask(it->appId, it->sessionId, it->taskId);
  });
  if (auto t = tasks_.find(key); t != tasks_.end()) {
    auto& r = t->second->record;
    // Only once the acknowledgement is committed: until then a restart delivers the event again.
    groupCommit_->afterCommit([files = std::vector<std::string>{r.partialFile, r.uploadFile, stagingPath(*t->second, "download")}] {
      for (const auto& path : files) if (!path.empty()) platform::removeFile(path);
    });
    tasks_.erase(t);
  }
  checkIdle();
}

// ---- Scheduling ----------------------------------------------------------------------------

bool Daemon::mayStart(const Task& task, Millis now, Millis& wakeAt) const {
  const auto& r = task.record;
  if (r.state != TaskState::waiting || task.transfer || task.awaitingDelayedAnswer) return false;
  if (task.awaitingAppUntil > now) {
    wakeAt = std::min(wakeAt, task.awaitingAppUntil);
    return false;
  }
  if (r.nextAttemptAt > now) {
    wakeAt = std::min(wakeAt, r.nextAttemptAt);
    return false;
  }
  if (r.earliestBegin && *r.earliestBegin > now) {
    wakeAt = std::min(wakeAt, *r.earliestBegin);
    return false;
  }
  // Background sessions always wait for connectivity; discretionary work waits for good conditions.
  if (!current_.networkAvailable()) return false;
  if (r.discretionary && !current_.goodForDiscretionary()) return false;
  return true;
}

void Daemon::schedule() {
  if (schedulePending_) return;
  schedulePending_ = true;
  engine::Loop::shared().post([this] { scheduleNow(); });
}

void Daemon::scheduleNow() {
  schedulePending_ = false;
  if (!store_) return;
  const Millis now = nowMillis();
  Millis wakeAt = std::numeric_limits<Millis>::max();
  std::vector<Task*> ready;
  std::set<SessionKey> pending;  // sessions with events not yet acknowledged
  for (auto& [key, task] : tasks_) {
    if (task->record.state == TaskState::completed) {
      pending.emplace(std::get<0>(key), std::get<1>(key));
      continue;
    }
    if (task->record.state != TaskState::suspended && now >= task->record.resourceDeadline && !task->transfer) {
      auto error = task->record.lastError.empty() ? std::nullopt : [&]() -> std::optional<Error> {
        auto m = Message::decode(task->record.lastError);
        return m ? wire::decodeError(*m) : std::nullopt;
      }();
      complete(*task, error ? error : Error::url(URLError::timedOut, std::nullopt, "timeoutIntervalForResource"),
               std::nullopt, std::nullopt);
      pending.emplace(std::get<0>(key), std::get<1>(key));
      continue;
    }
    if (task->awaitingAppUntil && now >= task->awaitingAppUntil) {
      // No app came within the request timeout: the challenge gets default handling.
      task->awaitingAppUntil = 0;
      task->defaultHandlingNext = true;
    }
    if (task->awaitingAppUntil) pending.emplace(std::get<0>(key), std::get<1>(key));  // launch the app for it
    if (mayStart(*task, now, wakeAt)) ready.push_back(task.get());
    if (task->record.state != TaskState::suspended && task->record.state != TaskState::completed)
      wakeAt = std::min(wakeAt, task->record.resourceDeadline);
  }
  // Higher priority first, then the hints (smaller transfers first), then age.
  std::stable_sort(ready.begin(), ready.end(), [](const Task* a, const Task* b) {
    if (a->record.priority != b->record.priority) return a->record.priority > b->record.priority;
    auto size = [](const Task* t) {
      auto hint = std::max(t->record.expectsToSend, std::int64_t{0}) + std::max(t->record.expectsToReceive, std::int64_t{0});
      return hint > 0 ? hint : std::numeric_limits<std::int64_t>::max();
    };
    if (size(a) != size(b)) return size(a) < size(b);
    return a->record.createdAt < b->record.createdAt;
  });
  for (Task* task : ready) {
    if (running_ >= options_.maxConcurrentTransfers) break;
    // Due with an earliestBeginDate: an attached app may change or cancel the request first.
    if (task->record.earliestBegin && !task->delayedAnswered) {
      auto holder = sessionFor(*task).holder.lock();
      if (holder && holder->isOpen()) {
        auto request = Message::decode(task->record.request);
        task->awaitingDelayedAnswer = true;
        holder->send(Message(wire::Type::event)
                         .add(tag::eventKind, static_cast<std::int64_t>(EventKind::delayedRequest))
                         .add(tag::taskId, static_cast<std::int64_t>(task->record.taskId))
                         .add(tag::request, request ? *request : Message()));
        continue;
      }
    }
    startTransfer(*task);
  }
  launchApps(pending, now, wakeAt);
  if (wakeAt != std::numeric_limits<Millis>::max())
    scheduleAt(SystemClock::time_point(std::chrono::milliseconds(wakeAt)));
  checkIdle();
}

void Daemon::launchApps(const std::set<SessionKey>& pending, Millis now, Millis& wakeAt) {
  std::map<std::string, std::vector<const Session*>> due;  // app id → the sessions to launch it for
  for (const auto& key : pending) {
    const Session& session = *sessions_.at(key);
    if (launchesApp(session)) due[key.first].push_back(&session);
  }
  for (const auto& [key, session] : sessions_) {
    if (auto holder = session->holder.lock(); holder && holder->isOpen()) due.erase(key.first);  // it runs
  }
  // A launched process that has not attached yet (or any more) is the app running, too.
  for (const auto& [appId, count] : launchedRunning_) due.erase(appId);
  launchWaiting_ = false;
  for (const auto& [appId, sessions] : due) {
    AppRecord& app = appRecord(appId);
    expireLaunchDelay(app, now);  // stored with the launch below
    if (now < app.lastLaunchAt + app.launchDelay) {
      wakeAt = std::min(wakeAt, app.lastLaunchAt + app.launchDelay);
      launchWaiting_ = true;
      continue;
    }
    auto command = Message::decode(sessions.front()->record.launchCommand);
    auto arguments = command ? command->allBytes(tag::launchCommand) : std::vector<std::string>();
    std::string identifiers;
    for (const Session* session : sessions) identifiers += (identifiers.empty() ? "" : "\n") + session->record.sessionId;
    if (!arguments.empty()) {
      auto program = arguments.front();
      arguments.erase(arguments.begin());
      int rc = platform::spawnDetached(program, arguments,
                                       {"FOUNDATION_NET_APP_ID=" + appId,
                                        std::string(background::launchSessionsVariable) + "=" + identifiers},
                                       [this, appId] {
                                         if (--launchedRunning_[appId] <= 0) launchedRunning_.erase(appId);
                                         schedule();  // it may have left events undelivered
                                       });
      if (rc < 0) fmt::print(stderr, "urlsessiond: cannot launch {} for {}: {}\n", program, appId, platform::errorName(rc));
      if (rc == 0) ++launchedRunning_[appId];
    }
    // Counted even when the spawn failed: the limiter is what keeps a broken command from spinning.
    app.lastLaunchAt = now;
    app.launchDelay = app.launchDelay == 0 ? options_.launchDelayBase.count()
                                           : std::min(2 * app.launchDelay, options_.launchDelayMaximum.count());
    store_->putApp(app);
    wakeAt = std::min(wakeAt, now + app.launchDelay);
    launchWaiting_ = true;
  }
}

void Daemon::scheduleAt(SystemClock::time_point when) {
  auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(when - SystemClock::now()).count();
  scheduleTimer_->start(static_cast<std::uint64_t>(std::max<std::int64_t>(delay, 0) + 1), [this] { schedule(); });
}

void Daemon::startTransfer(Task& task) {
  Session& session = sessionFor(task);
  auto message = Message::decode(task.record.request);
  auto request = message ? wire::decodeRequest(*message) : std::nullopt;
  if (!request) return complete(task, Error::url(URLError::badURL, std::nullopt, "unreadable request"), std::nullopt, std::nullopt);
  if (!session.transfers) {
    // The app's settings, less what a daemon must decide itself.
    auto configuration = URLSessionConfiguration::defaultConfiguration();
    configuration.timeoutIntervalForRequest = session.configuration.timeoutIntervalForRequest;
    configuration.httpMaximumConnectionsPerHost = session.configuration.httpMaximumConnectionsPerHost;
    configuration.httpAdditionalHeaders = session.configuration.httpAdditionalHeaders;
    configuration.connectionProxyDictionary = session.configuration.connectionProxyDictionary;
    configuration.resumableUploadInteropVersion = session.configuration.resumableUploadInteropVersion;
    // Cookies: those of the app's storage when it has a file (the shared one has), as Apple's
    // background sessions use the app's cookies; else the session's own, in memory, for as
    // long as this daemon runs. Credentials: the session's own (never another app's).
    configuration.httpShouldSetCookies = session.configuration.httpShouldSetCookies;
    configuration.httpCookieAcceptPolicy = session.configuration.httpCookieAcceptPolicy;
    session.cookies = session.configuration.httpCookieStorage ? session.configuration.httpCookieStorage
                                                               : std::make_shared<HTTPCookieStorage>();
    configuration.httpCookieStorage = session.cookies;
    configuration.urlCredentialStorage = std::make_shared<URLCredentialStorage>();
    configuration.urlCache = nullptr;  // background transfers bypass caches, as Apple's do
    session.delegate = std::make_shared<TransferDelegate>(*this);
    session.transfers = URLSession::make(configuration, session.delegate);
  }
  // What the app stored since (a login just before it made the task) goes with this request.
  detail::refreshCookies(*session.cookies);
  TransferDelegate::Attempt attempt;
  attempt.id = nextAttempt_++;
  attempt.kind = task.record.kind;
  attempt.partialFile = task.record.partialFile;
  attempt.offset = task.record.kind == TaskKind::download ? std::max<std::int64_t>(0, platform::fileSize(task.record.partialFile)) : 0;
  attempt.validator = task.record.validator;
  attempt.uploadResource = task.record.uploadResource;
  attempt.uploadVersion = task.record.uploadVersion;
  attempt.progressInterval = options_.progressInterval;
  task.attempt = attempt.id;
  task.delayedAnswered = true;  // willBeginDelayedRequest is asked before the first attempt only
  attempts_[attempt.id] = TaskKey{task.record.appId, task.record.sessionId, task.record.taskId};
  task.record.state = TaskState::running;
  ++task.record.attempts;
  save(task);
  ++running_;
  task.windowStart = nowMillis();
  task.movedInWindow = 0;
  armThroughputCheck();
  std::optional<std::string> upload;
  if (task.record.kind == TaskKind::upload) upload = task.record.uploadFile;
  task.transfer = session.delegate->begin(*session.transfers, *request, std::move(attempt), upload);
}

void Daemon::stopTransfer(Task& task) {
  task.pendingChallenge = nullptr;  // the cancelled transfer ignores any answer
  task.pendingDisposition = nullptr;
  if (!task.transfer) return;
  attempts_.erase(task.attempt);
  task.transfer->cancel();
  task.transfer.reset();
  task.attempt = 0;
  --running_;
}

void Daemon::retryLater(Task& task, const Error& error) {
  // Continues the partial file where the server allows it.
  auto& r = task.record;
  r.lastError = encoded(wire::encodeError(error));
  auto delay = std::min(options_.retryMaximum.count(), options_.retryBase.count() << std::clamp(r.attempts - 1, 0, 20));
  r.nextAttemptAt = nowMillis() + delay;
  r.state = TaskState::waiting;
  save(task);
}

void Daemon::checkThroughput() {
  const Millis now = nowMillis();
  const Millis window = options_.throughputWindow.count();
  std::vector<Task*> slow;
  for (auto& [key, task] : tasks_) {
    // Data tasks are the app's live connection (a stream may idle on purpose), and a retry would
    // deliver their bytes twice: the floor is for uploads and downloads.
    if (!task->transfer || task->record.kind == TaskKind::data || now - task->windowStart < window) continue;
    if (task->movedInWindow * 1000 < options_.throughputFloor * (now - task->windowStart)) {
      slow.push_back(task.get());
    } else {
      task->windowStart = now;
      task->movedInWindow = 0;
    }
  }
  for (Task* task : slow) {
    stopTransfer(*task);
    retryLater(*task, Error::url(URLError::timedOut, std::nullopt,
                                 fmt::format("slower than {} bytes/s (FOUNDATION_NET_THROUGHPUT_FLOOR)", options_.throughputFloor)));
  }
  if (!slow.empty()) schedule();
  if (running_ > 0) armThroughputCheck();
}

void Daemon::armThroughputCheck() {
  // A quarter window apart: a slow transfer is caught at most a quarter window late.
  if (options_.throughputFloor <= 0 || throughputTimer_->isActive()) return;
  throughputTimer_->start(static_cast<std::uint64_t>(std::max<std::int64_t>(50, options_.throughputWindow.count() / 4)),
                          [this] { checkThroughput(); });
}

void Daemon::transferProgress(std::uint64_t attempt, std::int64_t bytes, std::int64_t total, std::int64_t expected,
                              bool upload) {
  auto it = attempts_.find(attempt);
  if (it == attempts_.end()) return;
  Task& task = *tasks_.at(it->second);
  task.movedInWindow += bytes;
  if (upload) {
    task.record.bytesSent = total;
    task.record.bytesExpectedToSend = expected;
  } else {
    task.record.bytesReceived = total;
    task.record.bytesExpected = expected;
  }
  // Kept in memory only: a commit (an fsync, which also flushes the download's dirty pages) per
  // report would slow the transfer down, and a restart recounts the partial file anyway.
  if (auto holder = sessionFor(task).holder.lock()) {
    holder->send(Message(wire::Type::event)
                     .add(tag::eventKind, static_cast<std::int64_t>(upload ? EventKind::sendProgress : EventKind::writeProgress))
                     .add(tag::taskId, static_cast<std::int64_t>(task.record.taskId))
                     .add(tag::bytes, bytes)
                     .add(tag::totalBytes, total)
                     .add(tag::expectedBytes, expected));
  }
}

Daemon::Task* Daemon::saveResponse(std::uint64_t attempt, std::string validator, std::int64_t expected,
                                   std::string response) {
  auto it = attempts_.find(attempt);
  if (it == attempts_.end()) return nullptr;
  // Saved now, not at the end: a daemon killed mid-transfer must still be able to continue
  // the partial file with If-Range.
  Task& task = *tasks_.at(it->second);
  auto& r = task.record;
  r.validator = std::move(validator);
  r.bytesExpected = expected;
  r.response = std::move(response);
  save(task);
  return &task;
}

void Daemon::transferResponse(std::uint64_t attempt, std::string validator, std::int64_t expected,
                              std::string response) {
  saveResponse(attempt, std::move(validator), expected, std::move(response));
}

void Daemon::transferDataResponse(std::uint64_t attempt, std::string validator, std::int64_t expected,
                                  std::string response, ResponseAnswer answer) {
  // The validator is what a download the task may become continues with.
  Task* task = saveResponse(attempt, std::move(validator), expected, std::move(response));
  if (!task) return answer(URLSession::ResponseDisposition::cancel);  // stopped meanwhile
  auto holder = sessionFor(*task).holder.lock();
  if (holder) {
    holder->send(Message(wire::Type::event)
                     .add(tag::eventKind, static_cast<std::int64_t>(EventKind::response))
                     .add(tag::taskId, static_cast<std::int64_t>(task->record.taskId))
                     .add(tag::response, std::string_view(task->record.response)));  // already encoded
  }
  // An app of an older library never answers; with no app, the task is about to fail (-997).
  if (!holder || !sessionFor(*task).answersResponses) return answer(URLSession::ResponseDisposition::allow);
  task->pendingDisposition = std::move(answer);  // unanswered, the request timeout ends it (-1001)
}

void Daemon::transferUploadResource(std::uint64_t attempt, std::string resource, int version) {
  auto it = attempts_.find(attempt);
  if (it == attempts_.end()) return;
  auto& task = *tasks_.at(it->second);
  task.record.uploadResource = std::move(resource);
  task.record.uploadVersion = version;
  save(task);
}

void Daemon::transferEvent(std::uint64_t attempt, Message event) {
  auto it = attempts_.find(attempt);
  if (it == attempts_.end()) return;
  Task& task = *tasks_.at(it->second);
  auto holder = sessionFor(task).holder.lock();
  if (!holder) return;
  // Re-encode with the task id: events are built by the transfer, which knows only its attempt.
  holder->send(Message(wire::Type::event).add(tag::taskId, static_cast<std::int64_t>(task.record.taskId)).append(event));
}

void Daemon::transferFinished(std::uint64_t attempt, TransferOutcome outcome) {
  auto it = attempts_.find(attempt);
  if (it == attempts_.end()) return;  // stopped on purpose (suspend, cancel)
  Task& task = *tasks_.at(it->second);
  attempts_.erase(it);
  const bool challengeUnanswered = static_cast<bool>(task.pendingChallenge);
  task.pendingChallenge = nullptr;
  task.pendingDisposition = nullptr;
  task.transfer.reset();
  task.attempt = 0;
  --running_;
  // The cookies the attempt's responses set are in the app's file before the app hears of
  // the outcome (an app that then starts reads them).
  if (auto& cookies = sessionFor(task).cookies) cookies->flush();
  auto& r = task.record;
  std::move(outcome.transactions.begin(), outcome.transactions.end(), std::back_inserter(task.transactions));
  task.redirects += outcome.redirects;
  {
    URLSessionTaskMetrics sofar;
    sofar.transactionMetrics = task.transactions;
    sofar.redirectCount = task.redirects;
    r.metrics = encoded(wire::encodeMetrics(sofar));  // saved with the outcome below
  }
  if (auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(outcome.response))
    r.response = encoded(wire::encodeResponse(*http));
  if (r.kind == TaskKind::download) {
    r.bytesReceived = outcome.bytes;
    if (!outcome.validator.empty()) r.validator = outcome.validator;
  }
  // A data task whose response reached the app is not retried: a new attempt would deliver
  // the response and its bytes a second time.
  const bool streamedToApp = r.kind == TaskKind::data && outcome.response;
  // Timed out while the app kept a challenge unanswered: as in-process (-1001), and not retried,
  // since a new attempt would only ask again.
  const bool appTimedOut = challengeUnanswered && outcome.error && outcome.error->code == URLError::timedOut;
  if (outcome.error && detail::isTransientFailure(outcome.error->code) && !streamedToApp && !appTimedOut &&
      nowMillis() < r.resourceDeadline) {
    retryLater(task, *outcome.error);
    return schedule();
  }
  std::optional<std::string> location;
  if (!outcome.error && r.kind == TaskKind::download) {
    location = stagingPath(task, "download");
    if (int rc = platform::renameFile(r.partialFile, *location); rc < 0) {
      outcome.error = Error::url(URLError::cannotMoveFile, std::nullopt, platform::errorName(rc));
      location.reset();
    }
  }
  complete(task, outcome.error, location, outcome.body);
  schedule();
}

// ---- Completion and delivery ------------------------------------------------------------------

void Daemon::complete(Task& task, std::optional<Error> error, const std::optional<std::string>& location,
                      const std::optional<std::string>& body) {
  if (task.record.state == TaskState::completed) return;
  stopTransfer(task);
  task.awaitingAppUntil = 0;
  auto& r = task.record;
  if (error && !error->failingURL) {
    if (auto m = Message::decode(r.request))
      if (auto request = wire::decodeRequest(*m)) error->failingURL = request->url;
  }
  // Out of retries on a transient failure: the bytes so far go to the app as resume data.
  if (error && r.kind == TaskKind::download && !error->resumeData && detail::isTransientFailure(error->code))
    error->resumeData = produceResumeData(task);
  if (error && r.kind == TaskKind::download) platform::removeFile(r.partialFile);
  r.state = TaskState::completed;
  Message payload(wire::Type::event);
  payload.add(tag::eventKind, static_cast<std::int64_t>(EventKind::completed))
      .add(tag::taskId, static_cast<std::int64_t>(r.taskId));
  if (error) payload.add(tag::error, wire::encodeError(*error));
  if (!r.response.empty())
    if (auto response = Message::decode(r.response)) payload.add(tag::response, *response);
  if (location) payload.add(tag::location, *location);
  if (body) payload.add(tag::data, *body);
  URLSessionTaskMetrics metrics;
  metrics.transactionMetrics = std::move(task.transactions);
  metrics.redirectCount = task.redirects;
  metrics.taskIntervalStart = SystemClock::time_point(std::chrono::milliseconds(r.createdAt));
  metrics.taskIntervalDuration = std::max<double>(0, static_cast<double>(nowMillis() - r.createdAt) / 1000);
  payload.add(tag::metrics, wire::encodeMetrics(metrics));
  EventRecord event;
  store_->transaction([&] {
    save(task);
    event.sequence = store_->appendEvent(r.appId, r.sessionId, r.taskId, static_cast<int>(EventKind::completed),
                                         payload.encode());
  });
  event.appId = r.appId;
  event.sessionId = r.sessionId;
  event.taskId = r.taskId;
  event.payload = payload.encode();
  Session& session = sessionFor(task);
  deliver(session, event);
  if (session.finishAfter.erase(r.taskId)) finishEventsWhenDone(session);
}

void Daemon::deliver(Session& session, const EventRecord& event) {
  auto holder = session.holder.lock();
  if (!holder) return;  // replayed on the next attach
  auto payload = Message::decode(event.payload);
  if (!payload) return;
  holder->send(Message(wire::Type::event).append(*payload).add(tag::sequence, event.sequence));
}

void Daemon::save(const Task& task) { store_->putTask(task.record); }

std::string Daemon::stagingPath(const Task& task, const char* suffix) const {
  // Names from the ids alone: app ids and session ids may hold any character.
  std::hash<std::string> hash;
  return fmt::format("{}/staging/{:016x}-{:016x}-{}.{}", options_.stateDirectory, hash(task.record.appId),
                     hash(task.record.sessionId), task.record.taskId, suffix);
}

background::TaskSummary Daemon::summaryOf(const Task& task) const {
  const auto& r = task.record;
  background::TaskSummary s;
  s.taskId = r.taskId;
  s.kind = static_cast<int>(r.kind);
  s.state = r.state == TaskState::suspended ? 1 : r.state == TaskState::completed ? 3 : 0;
  if (auto m = Message::decode(r.originalRequest)) s.originalRequest = wire::decodeRequest(*m);
  if (auto m = Message::decode(r.request)) s.currentRequest = wire::decodeRequest(*m);
  if (auto m = Message::decode(r.response)) s.response = wire::decodeResponse(*m);
  s.description = r.description;
  s.bytesReceived = r.bytesReceived;
  s.bytesExpected = r.bytesExpected;
  s.bytesSent = r.bytesSent;
  s.bytesExpectedToSend = r.bytesExpectedToSend;
  s.priority = r.priority;
  s.earliestBegin = r.earliestBegin;
  s.expectsToSend = r.expectsToSend;
  s.expectsToReceive = r.expectsToReceive;
  return s;
}

void Daemon::checkIdle() {
  if (!idleTimer_ || options_.idleExit.count() == 0) return;
  bool busy = !clients_.empty() || launchWaiting_ || std::any_of(tasks_.begin(), tasks_.end(), [](const auto& entry) {
    auto state = entry.second->record.state;
    return state == TaskState::waiting || state == TaskState::running;
  });
  if (busy) return idleTimer_->stop();
  if (idleTimer_->isActive()) return;
  idleTimer_->start(static_cast<std::uint64_t>(options_.idleExit.count()) * 1000, [this] { exitWhenIdle_(); });
}

}  // namespace foundation::daemon

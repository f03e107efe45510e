#include "operations/OperationCenter.hpp"

#include <stdexcept>

#include <foundation_net/HTTPURLResponse.hpp>
#include <foundation_net/URLSessionDownloadTask.hpp>
#include <foundation_net/URLSessionUploadTask.hpp>

#include "background/Protocol.hpp"

namespace foundation::operations {

namespace fs = std::filesystem;

namespace {

bool isSuccess(const std::shared_ptr<const URLResponse>& response) {
  auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(response);
  return http && NetworkResponse::kindForStatus(http->statusCode()) == NetworkResponse::Kind::success;
}

}  // namespace

OperationCenter::OperationCenter(Kind kind, fs::path folder) : kind_(kind), folder_(folder), store_(std::move(folder)) {}

std::shared_ptr<OperationCenter> OperationCenter::make(Kind kind, const URLSessionConfiguration& configuration,
                                                       std::shared_ptr<OperationQueue> queue, std::string folder) {
  auto identifier = configuration.identifier();
  if (!identifier || identifier->empty())
    throw std::invalid_argument("Uploader and Downloader need a background session configuration");
  if (folder.empty()) {
    folder = (fs::path(background::stateDirectory()) / "operations" / fileName(background::appIdentifier()) /
              fileName(*identifier)).string();
  }
  std::shared_ptr<OperationCenter> center(new OperationCenter(kind, folder));
  center->sessionIdentifier_ = *identifier;
  center->held_ = center->store_.load();
  // The session holds the center as its delegate until invalidated (close()).
  center->session_ = URLSession::make(configuration, center, std::move(queue));
  return center;
}

void OperationCenter::begin(std::string identifier, Operation operation, Handler handler) {
  // getAllTasks answers on the delegate queue after every delegate call queued so far, so a
  // completion the session is replaying is held by then, or its task is still listed.
  session_->getAllTasks([self = shared_from_this(), identifier = std::move(identifier), operation = std::move(operation),
                         handler = std::move(handler)](std::vector<std::shared_ptr<URLSessionTask>> tasks) mutable {
    self->decide(identifier, std::move(operation), std::move(handler), tasks);
  });
}

PendingResponse OperationCenter::awaitable(std::string identifier, Operation operation) {
  return PendingResponse([self = shared_from_this(), identifier = std::move(identifier),
                          operation = std::move(operation)](PendingResponse::Deliver deliver) {
    self->begin(identifier, operation,
                [deliver = std::move(deliver)](const std::string&, NetworkResponse response) { deliver(std::move(response)); });
  });
}

void OperationCenter::decide(const std::string& identifier, Operation operation, Handler handler,
                             const std::vector<std::shared_ptr<URLSessionTask>>& tasks) {
  std::unique_lock lock(mutex_);
  if (auto waiter = waiting_.find(identifier); waiter != waiting_.end()) {
    waiter->second.handlers.push_back(std::move(handler));  // issued twice in this process: both get the result
    return;
  }
  if (auto held = held_.find(identifier); held != held_.end()) {
    Outcome outcome = std::move(held->second);
    held_.erase(held);
    lock.unlock();
    place(identifier, outcome, operation.destination);
    handler(identifier, sorted(std::move(outcome)));
    store_.remove(identifier);  // after the handler returned: a crash inside it hands it over again
    return;
  }
  for (const auto& task : tasks) {
    const bool rightKind = kind_ == Kind::download ? std::dynamic_pointer_cast<URLSessionDownloadTask>(task) != nullptr
                                                   : std::dynamic_pointer_cast<URLSessionUploadTask>(task) != nullptr;
    const auto description = task->taskDescription();
    if (description.empty() && task->state() == URLSessionTask::State::suspended) {
      task->cancel();  // created by a process that died before naming and resuming it
    } else if (rightKind && description == identifier) {
      waiting_[identifier] = Waiter{{std::move(handler)}, operation.destination};
      lock.unlock();
      if (task->state() == URLSessionTask::State::suspended) task->resume();
      return;
    }
  }
  waiting_[identifier] = Waiter{{std::move(handler)}, operation.destination};
  lock.unlock();
  start(identifier, operation);
}

void OperationCenter::start(const std::string& identifier, const Operation& operation) {
  try {
    std::shared_ptr<URLSessionTask> task;
    if (kind_ == Kind::download) {
      task = session_->downloadTask(operation.request);
    } else {
      task = session_->uploadTask(operation.request, operation.uploadFile.value_or(URL("file:///")));
    }
    task->setTaskDescription(identifier);
    task->resume();
  } catch (const std::exception& refused) {  // an invalidated session, a request Apple refuses
    std::unique_lock lock(mutex_);
    auto waiter = waiting_.extract(identifier);
    lock.unlock();
    if (!waiter) return;
    auto response = NetworkResponse::failure(Error::url(URLError::unknown, operation.request.url, refused.what()));
    for (auto& handler : waiter.mapped().handlers) handler(identifier, response);
  }
}

void OperationCenter::place(const std::string& identifier, Outcome& outcome, const std::optional<URL>& destination) const {
  if (!outcome.file) return;
  const fs::path current = outcome.file->path();
  const fs::path target = destination ? fs::path(destination->path()) : store_.keptFile(identifier);
  if (current == target) return;
  if (auto problem = moveFile(current, target)) {
    outcome.error = Error::url(URLError::cannotMoveFile, outcome.response ? outcome.response->url() : std::nullopt,
                               target.string() + ": " + problem.message());
    return;
  }
  outcome.file = URL::fileURLWithPath(target.string());
}

NetworkResponse OperationCenter::sorted(Outcome outcome) const {
  auto file = outcome.file;
  auto response = NetworkResponse::from(outcome.response, std::move(outcome.error), std::move(outcome.file),
                                        std::move(outcome.body), kind_ == Kind::download);
  if (file && !response.isSuccess()) {
    std::error_code ignored;
    fs::remove(file->path(), ignored);  // a file only comes with a success
  }
  return response;
}

void OperationCenter::didFinishDownloadingTo(URLSession&, URLSessionDownloadTask& task, const URL& location) {
  const auto identifier = task.taskDescription();
  if (identifier.empty() || !isSuccess(task.response())) return;  // the session deletes the file
  std::unique_lock lock(mutex_);
  std::optional<URL> destination;
  if (auto waiter = waiting_.find(identifier); waiter != waiting_.end()) destination = waiter->second.destination;
  Outcome& outcome = finishing_[task.taskIdentifier()];
  outcome.file = location;
  // Moved before this method returns, which is when the session deletes it.
  place(identifier, outcome, destination);
}

void OperationCenter::didReceiveData(URLSession&, URLSessionDataTask& task, const Data& data) {
  std::lock_guard lock(mutex_);
  auto& body = finishing_[task.taskIdentifier()].body;
  if (!body) body.emplace();
  body->append(data);
}

void OperationCenter::didCompleteWithError(URLSession&, URLSessionTask& task, const std::optional<Error>& error) {
  const auto identifier = task.taskDescription();
  std::unique_lock lock(mutex_);
  auto gathered = finishing_.extract(task.taskIdentifier());
  if (identifier.empty() || !delivered_.insert(task.taskIdentifier()).second) return;
  Outcome outcome = gathered ? std::move(gathered.mapped()) : Outcome{};
  outcome.taskIdentifier = task.taskIdentifier();
  outcome.response = std::dynamic_pointer_cast<const HTTPURLResponse>(task.response());
  if (error) outcome.error = error;
  if (auto waiter = waiting_.extract(identifier)) {
    lock.unlock();
    place(identifier, outcome, waiter.mapped().destination);
    // Called before this method returns, so before the session acknowledges the completion:
    // an app that dies inside a handler gets the result again on its next launch.
    auto response = sorted(std::move(outcome));
    for (auto& handler : waiter.mapped().handlers) handler(identifier, response);
    return;
  }
  // Nobody asked yet (a replayed completion, or an identifier not re-issued in this launch):
  // on disk before the acknowledgement goes, so it outlives this process too.
  held_.insert_or_assign(identifier, outcome);
  lock.unlock();
  store_.save(identifier, outcome);
}

void OperationCenter::didFinishEventsForBackgroundURLSession(URLSession&) {
  std::unique_lock lock(mutex_);
  eventsDelivered_ = true;
  auto handler = std::exchange(eventsHandler_, nullptr);
  lock.unlock();
  if (handler) handler();
}

bool OperationCenter::handleBackgroundEvents(const std::string& sessionIdentifier, std::function<void()> completionHandler) {
  if (sessionIdentifier != sessionIdentifier_) return false;
  std::unique_lock lock(mutex_);
  if (eventsDelivered_) {
    lock.unlock();
    onDelegateQueue(std::move(completionHandler));  // the replay already ended
    return true;
  }
  if (auto earlier = std::exchange(eventsHandler_, nullptr)) {
    eventsHandler_ = [earlier = std::move(earlier), later = std::move(completionHandler)] {
      earlier();
      later();
    };
  } else {
    eventsHandler_ = std::move(completionHandler);
  }
  return true;
}

void OperationCenter::onDelegateQueue(std::function<void()> work) const {
  session_->getAllTasks([work = std::move(work)](const std::vector<std::shared_ptr<URLSessionTask>>&) { work(); });
}

std::vector<std::string> OperationCenter::heldIdentifiers() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> identifiers;
  for (const auto& [identifier, outcome] : held_) identifiers.push_back(identifier);
  return identifiers;
}

bool OperationCenter::discardHeld(const std::string& identifier) {
  std::unique_lock lock(mutex_);
  auto held = held_.extract(identifier);
  lock.unlock();
  if (!held) return false;
  if (held.mapped().file) {
    std::error_code ignored;
    fs::remove(held.mapped().file->path(), ignored);
  }
  store_.remove(identifier);
  return true;
}

void OperationCenter::close() { session_->finishTasksAndInvalidate(); }

}  // namespace foundation::operations

#include <foundation_net/URLSession.hpp>

#include <stdexcept>

#include <foundation_net/HTTPCookieStorage.hpp>
#include <foundation_net/URLCache.hpp>
#include <foundation_net/OperationQueue.hpp>
#include <foundation_net/URLCredentialStorage.hpp>
#include <foundation_net/URLSessionDataTask.hpp>
#include <foundation_net/URLSessionDownloadTask.hpp>
#include <foundation_net/URLSessionTaskDelegate.hpp>
#include <foundation_net/URLSessionUploadTask.hpp>

#include "background/BackgroundLink.hpp"
#include "engine/Loop.hpp"
#include "session/SessionImpl.hpp"
#include "session/TaskImpl.hpp"

namespace foundation {
namespace {

using Kind = URLSessionTask::Impl::Kind;

void refuseInBackground(const URLSession& session, const char* what) {
  if (session.impl().configuration.identifier())
    throw std::logic_error(std::string(what) + " is not supported in background sessions");
}

detail::BodySource bodyOf(const URLRequest& request) {
  detail::BodySource body;
  if (request.httpBody && !request.httpBody->empty()) body.data = request.httpBody;
  return body;
}

}  // namespace

URLSession::URLSession() = default;
URLSession::~URLSession() = default;

std::shared_ptr<URLSession> URLSession::shared() {
  static const std::shared_ptr<URLSession> session = [] {
    std::shared_ptr<URLSession> s(new URLSession());
    auto queue = std::make_shared<OperationQueue>();
    queue->setMaxConcurrentOperationCount(1);
    s->impl_ = std::make_unique<Impl>(*s, URLSessionConfiguration::defaultConfiguration(), nullptr, queue, true);
    return s;
  }();
  return session;
}

std::shared_ptr<URLSession> URLSession::make(const URLSessionConfiguration& configuration,
                                             std::shared_ptr<URLSessionDelegate> delegate,
                                             std::shared_ptr<OperationQueue> delegateQueue) {
  if (!delegateQueue) {
    delegateQueue = std::make_shared<OperationQueue>();
    delegateQueue->setMaxConcurrentOperationCount(1);
  }
  std::shared_ptr<URLSession> session(new URLSession());
  session->impl_ = std::make_unique<Impl>(*session, configuration, std::move(delegate), std::move(delegateQueue), false);
  if (configuration.identifier()) {
    // Transfers belong to urlsessiond; attaching adopts the ones still in flight.
    std::optional<Error> failure;
    session->impl_->link = background::BackgroundLink::attach(session, configuration, failure);
    session->impl_->backgroundFailure = std::move(failure);
  }
  return session;
}

URLSessionConfiguration URLSession::configuration() const { return impl_->configuration; }
std::shared_ptr<URLSessionDelegate> URLSession::delegate() const { return impl_->delegate(); }
std::shared_ptr<OperationQueue> URLSession::delegateQueue() const { return impl_->dispatcher->queue(); }
std::string URLSession::sessionDescription() const { return impl_->description(); }
void URLSession::setSessionDescription(std::string description) { impl_->setDescription(std::move(description)); }

namespace {

// Creates, registers and announces a task: didCreateTask runs before the factory returns.
template <class T>
std::shared_ptr<T> createTask(URLSession& session, URLSessionTask::Impl::Setup setup) {
  auto& impl = session.impl();
  if (impl.isBackground()) {
    setup.remote = impl.link;
    if (!impl.link) setup.startFailure = impl.backgroundFailure;
  }
  auto task = std::make_shared<T>(std::make_unique<URLSessionTask::Impl>(std::move(setup)));
  task->impl().bind(task);
  impl.registerTask(task);
  if (task->impl().isRemote()) {
    impl.writeCookiesForDaemon();
    if (!task->impl().uploadsFromFile()) {
      impl.link->send(task->impl().creationMessage());
    } else {
      // The app may delete its file once this returns, so the daemon's copy must exist first.
      std::optional<std::int64_t> copied;
      if (!impl.link->sendCreationAndConfirm(task->impl().creationMessage(), task->taskIdentifier(), copied)) {
        engine::Loop::shared().post([task] {
          task->impl().abandonRemote(Error::url(URLError::backgroundSessionWasDisconnected, std::nullopt,
                                                "urlsessiond did not confirm that it copied the file to upload"));
        });
      } else if (copied) {
        task->impl().setBytesExpectedToSend(*copied);  // what goes is the copy, not the app's file
      }
    }
  }
  if (auto delegate = std::dynamic_pointer_cast<URLSessionTaskDelegate>(session.delegate())) {
    detail::trace("urlSession(_:didCreateTask:)", task->taskIdentifier());
    delegate->didCreateTask(session, *task);
  }
  return task;
}

}  // namespace

std::shared_ptr<URLSessionDataTask> URLSession::dataTask(const URLRequest& request) {
  return createTask<URLSessionDataTask>(*this, {shared_from_this(), Kind::data, request, bodyOf(request), {}, {}});
}
std::shared_ptr<URLSessionDataTask> URLSession::dataTask(const URL& url) { return dataTask(URLRequest(url)); }
std::shared_ptr<URLSessionDataTask> URLSession::dataTask(const URLRequest& request, DataCompletionHandler handler) {
  refuseInBackground(*this, "A completion handler");
  return createTask<URLSessionDataTask>(*this, {shared_from_this(), Kind::data, request, bodyOf(request),
                                                std::move(handler), {}});
}
std::shared_ptr<URLSessionDataTask> URLSession::dataTask(const URL& url, DataCompletionHandler handler) {
  return dataTask(URLRequest(url), std::move(handler));
}

std::shared_ptr<URLSessionUploadTask> URLSession::uploadTask(const URLRequest& request, const URL& fromFile) {
  detail::BodySource body;
  body.filePath = fromFile.path();
  return createTask<URLSessionUploadTask>(*this, {shared_from_this(), Kind::upload, request, std::move(body), {}, {}});
}
std::shared_ptr<URLSessionUploadTask> URLSession::uploadTask(const URLRequest& request, const Data& from) {
  refuseInBackground(*this, "Uploading from Data");
  detail::BodySource body;
  body.data = from;
  return createTask<URLSessionUploadTask>(*this, {shared_from_this(), Kind::upload, request, std::move(body), {}, {}});
}
std::shared_ptr<URLSessionUploadTask> URLSession::uploadTask(const URLRequest& request, const URL& fromFile,
                                                             DataCompletionHandler handler) {
  refuseInBackground(*this, "A completion handler");
  detail::BodySource body;
  body.filePath = fromFile.path();
  return createTask<URLSessionUploadTask>(*this, {shared_from_this(), Kind::upload, request, std::move(body),
                                                  std::move(handler), {}});
}
std::shared_ptr<URLSessionUploadTask> URLSession::uploadTask(const URLRequest& request, const Data& from,
                                                             DataCompletionHandler handler) {
  refuseInBackground(*this, "A completion handler");
  detail::BodySource body;
  body.data = from;
  return createTask<URLSessionUploadTask>(*this, {shared_from_this(), Kind::upload, request, std::move(body),
                                                  std::move(handler), {}});
}

std::shared_ptr<URLSessionDownloadTask> URLSession::downloadTask(const URLRequest& request) {
  return createTask<URLSessionDownloadTask>(*this, {shared_from_this(), Kind::download, request, bodyOf(request), {}, {}});
}
std::shared_ptr<URLSessionDownloadTask> URLSession::downloadTask(const URL& url) { return downloadTask(URLRequest(url)); }
std::shared_ptr<URLSessionDownloadTask> URLSession::downloadTask(const URLRequest& request,
                                                                 DownloadCompletionHandler handler) {
  refuseInBackground(*this, "A completion handler");
  return createTask<URLSessionDownloadTask>(*this, {shared_from_this(), Kind::download, request, bodyOf(request),
                                                    {}, std::move(handler)});
}
std::shared_ptr<URLSessionDownloadTask> URLSession::downloadTask(const URL& url, DownloadCompletionHandler handler) {
  return downloadTask(URLRequest(url), std::move(handler));
}

std::shared_ptr<URLSessionDownloadTask> URLSession::downloadTaskWithResumeData(const Data& resumeData) {
  return createTask<URLSessionDownloadTask>(*this, URLSessionTask::Impl::Setup::fromResumeData(
      shared_from_this(), Kind::download, resumeData));
}
std::shared_ptr<URLSessionDownloadTask> URLSession::downloadTaskWithResumeData(const Data& resumeData,
                                                                               DownloadCompletionHandler handler) {
  refuseInBackground(*this, "A completion handler");
  auto setup = URLSessionTask::Impl::Setup::fromResumeData(shared_from_this(), Kind::download, resumeData);
  setup.downloadCompletion = std::move(handler);
  return createTask<URLSessionDownloadTask>(*this, std::move(setup));
}
std::shared_ptr<URLSessionUploadTask> URLSession::uploadTaskWithResumeData(const Data& resumeData) {
  return createTask<URLSessionUploadTask>(*this, URLSessionTask::Impl::Setup::fromResumeData(
      shared_from_this(), Kind::upload, resumeData));
}
std::shared_ptr<URLSessionUploadTask> URLSession::uploadTaskWithResumeData(const Data& resumeData,
                                                                           DataCompletionHandler handler) {
  refuseInBackground(*this, "A completion handler");
  auto setup = URLSessionTask::Impl::Setup::fromResumeData(shared_from_this(), Kind::upload, resumeData);
  setup.dataCompletion = std::move(handler);
  return createTask<URLSessionUploadTask>(*this, std::move(setup));
}

void URLSession::getAllTasks(std::function<void(std::vector<std::shared_ptr<URLSessionTask>>)> completionHandler) {
  impl_->dispatcher->enqueue([tasks = impl_->liveTasks(), handler = std::move(completionHandler)]() mutable {
    handler(std::move(tasks));
  });
}

void URLSession::finishTasksAndInvalidate() { impl_->finishTasksAndInvalidate(); }
void URLSession::invalidateAndCancel() { impl_->invalidateAndCancel(); }

void URLSession::reset(std::function<void()> completionHandler) {
  // Apple empties the session's cookie and credential storages and its cache (the shared ones
  // for a default session) too.
  if (const auto& cache = impl_->configuration.urlCache) cache->removeAllCachedResponses();
  if (const auto& cookies = impl_->configuration.httpCookieStorage) cookies->removeCookies(Date{});
  if (const auto& credentials = impl_->configuration.urlCredentialStorage)
    for (const auto& [space, byUser] : credentials->allCredentials())
      for (const auto& entry : byUser) credentials->remove(entry.second, space);
  flush(std::move(completionHandler));
}

void URLSession::flush(std::function<void()> completionHandler) {
  // New transfers get a fresh pool, so they open new connections; running ones finish on theirs.
  // The cookies go to their file on the delegate queue, before the handler (Apple: "flushes
  // cookies and credentials to disk"), not on the network thread.
  engine::Loop::shared().post([self = shared_from_this(), handler = std::move(completionHandler)]() mutable {
    self->impl_->retirePool();
    self->impl_->dispatcher->enqueue([self, handler = std::move(handler)] {
      if (const auto& cookies = self->impl_->configuration.httpCookieStorage) cookies->flush();
      if (handler) handler();
    });
  });
}

}  // namespace foundation

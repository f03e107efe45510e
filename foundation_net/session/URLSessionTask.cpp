#include <foundation_net/URLSessionDataTask.hpp>
#include <foundation_net/URLSessionDownloadTask.hpp>
#include <foundation_net/URLSessionTask.hpp>
#include <foundation_net/URLSessionUploadTask.hpp>

#include "session/TaskImpl.hpp"

namespace foundation {

URLSessionTask::URLSessionTask(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
URLSessionTask::~URLSessionTask() = default;

std::uint64_t URLSessionTask::taskIdentifier() const { return impl_->identifier(); }
URLSessionTask::State URLSessionTask::state() const { return impl_->state(); }
void URLSessionTask::resume() { impl_->resume(); }
void URLSessionTask::suspend() { impl_->suspend(); }
void URLSessionTask::cancel() { impl_->cancel(); }
std::optional<URLRequest> URLSessionTask::originalRequest() const { return impl_->originalRequest(); }
std::optional<URLRequest> URLSessionTask::currentRequest() const { return impl_->currentRequest(); }
std::shared_ptr<const URLResponse> URLSessionTask::response() const { return impl_->response(); }
std::optional<Error> URLSessionTask::error() const { return impl_->error(); }
std::string URLSessionTask::taskDescription() const { return impl_->taskDescription(); }
void URLSessionTask::setTaskDescription(std::string description) { impl_->setTaskDescription(std::move(description)); }
float URLSessionTask::priority() const { return impl_->priority(); }
void URLSessionTask::setPriority(float priority) { impl_->setPriority(priority); }
std::optional<Date> URLSessionTask::earliestBeginDate() const { return impl_->earliestBeginDate(); }
void URLSessionTask::setEarliestBeginDate(std::optional<Date> date) { impl_->setEarliestBeginDate(date); }
std::int64_t URLSessionTask::countOfBytesClientExpectsToSend() const { return impl_->countOfBytesClientExpectsToSend(); }
void URLSessionTask::setCountOfBytesClientExpectsToSend(std::int64_t count) { impl_->setCountOfBytesClientExpectsToSend(count); }
std::int64_t URLSessionTask::countOfBytesClientExpectsToReceive() const { return impl_->countOfBytesClientExpectsToReceive(); }
void URLSessionTask::setCountOfBytesClientExpectsToReceive(std::int64_t count) { impl_->setCountOfBytesClientExpectsToReceive(count); }
std::int64_t URLSessionTask::countOfBytesSent() const { return impl_->countOfBytesSent(); }
std::int64_t URLSessionTask::countOfBytesReceived() const { return impl_->countOfBytesReceived(); }
std::int64_t URLSessionTask::countOfBytesExpectedToSend() const { return impl_->countOfBytesExpectedToSend(); }
std::int64_t URLSessionTask::countOfBytesExpectedToReceive() const { return impl_->countOfBytesExpectedToReceive(); }
std::shared_ptr<URLSessionTaskDelegate> URLSessionTask::delegate() const { return impl_->delegate(); }
void URLSessionTask::setDelegate(std::shared_ptr<URLSessionTaskDelegate> delegate) { impl_->setDelegate(std::move(delegate)); }

URLSessionDataTask::URLSessionDataTask(std::unique_ptr<Impl> impl) : URLSessionTask(std::move(impl)) {}
URLSessionUploadTask::URLSessionUploadTask(std::unique_ptr<Impl> impl) : URLSessionDataTask(std::move(impl)) {}
URLSessionDownloadTask::URLSessionDownloadTask(std::unique_ptr<Impl> impl) : URLSessionTask(std::move(impl)) {}

void URLSessionUploadTask::cancelByProducingResumeData(std::function<void(std::optional<Data>)> completionHandler) {
  impl().cancelByProducingResumeData(std::move(completionHandler));
}
void URLSessionDownloadTask::cancelByProducingResumeData(std::function<void(std::optional<Data>)> completionHandler) {
  impl().cancelByProducingResumeData(std::move(completionHandler));
}

}  // namespace foundation

#include "session/TaskClient.hpp"

#include "engine/Loop.hpp"
#include "session/TaskImpl.hpp"

namespace foundation::detail {

template <class Event>
void TaskClient::forward(Event&& event) {
  auto& loop = engine::Loop::shared();
  if (loop.isLoopThread()) {
    if (auto task = task_.lock()) event(task->impl());
    return;
  }
  loop.post([self = shared_from_this(), event = std::forward<Event>(event)]() mutable {
    if (auto task = self->task_.lock()) event(task->impl());
  });
}

void TaskClient::wasRedirectedTo(URLProtocol&, const URLRequest& request, std::shared_ptr<const URLResponse> response) {
  forward([request, response](URLSessionTask::Impl& task) mutable {
    task.protocolWasRedirected(std::move(request), std::move(response));
  });
}

void TaskClient::didReceive(URLProtocol&, std::shared_ptr<const URLResponse> response) {
  forward([response](URLSessionTask::Impl& task) mutable { task.protocolDidReceiveResponse(std::move(response)); });
}

void TaskClient::didLoad(URLProtocol&, const Data& data) {
  forward([data](URLSessionTask::Impl& task) {
    task.protocolDidLoad(reinterpret_cast<const char*>(data.bytes()), data.size(), false);
  });
}

void TaskClient::didFinishLoading(URLProtocol&) {
  forward([](URLSessionTask::Impl& task) { task.protocolDidFinish(); });
}

void TaskClient::didFailWithError(URLProtocol&, const Error& error) {
  forward([error](URLSessionTask::Impl& task) mutable { task.protocolDidFail(std::move(error)); });
}

LoadingClient::BodyVerdict TaskClient::receiveBody(URLProtocol&, const char* bytes, std::size_t count) {
  auto task = task_.lock();
  return task ? task->impl().protocolDidLoad(bytes, count, true) : BodyVerdict::abort;
}

void TaskClient::didSendBodyData(URLProtocol&, std::int64_t sent, std::int64_t total, std::int64_t expected) {
  if (auto task = task_.lock()) task->impl().protocolDidSendBodyData(sent, total, expected);
}

void TaskClient::didReceiveInformationalResponse(URLProtocol&, std::shared_ptr<const HTTPURLResponse> response) {
  if (auto task = task_.lock()) task->impl().protocolDidReceiveInformational(std::move(response));
}

void TaskClient::didCollectTransactionMetrics(URLProtocol&, URLSessionTaskTransactionMetrics metrics) {
  if (auto task = task_.lock()) task->impl().protocolDidCollectMetrics(std::move(metrics));
}

bool TaskClient::wantsTransactionMetrics() {
  auto task = task_.lock();
  return task && task->impl().hasMetricsReceiver();
}

void TaskClient::didReceiveAuthenticationChallenge(URLProtocol&, URLProtectionSpace space,
                                                   std::shared_ptr<const HTTPURLResponse> response) {
  if (auto task = task_.lock()) task->impl().protocolDidReceiveChallenge(std::move(space), std::move(response));
}

LoadContext TaskClient::loadContext() {
  auto task = task_.lock();
  return task ? task->impl().loadContext() : LoadContext{};
}

}  // namespace foundation::detail

// The URLProtocolClient a task gives each protocol it runs. It forwards to the task on the
// loop thread (directly when already there, as the http protocol is; posted otherwise) and
// drops whatever a protocol reports after the task detached it (stopped, redirected away).
#pragma once
#include <memory>

#include <foundation_net/URLSessionTask.hpp>

#include "protocols/LoadingClient.hpp"

namespace foundation::detail {

class TaskClient final : public LoadingClient, public std::enable_shared_from_this<TaskClient> {
 public:
  explicit TaskClient(std::weak_ptr<URLSessionTask> task) : task_(std::move(task)) {}

  // Loop thread: the task that receives events from now on (a data task that became a download).
  void retarget(std::weak_ptr<URLSessionTask> task) { task_ = std::move(task); }
  // Loop thread: nothing more is forwarded.
  void detach() { task_.reset(); }

  void wasRedirectedTo(URLProtocol&, const URLRequest&, std::shared_ptr<const URLResponse>) override;
  void didReceive(URLProtocol&, std::shared_ptr<const URLResponse>) override;
  void didLoad(URLProtocol&, const Data&) override;
  void didFinishLoading(URLProtocol&) override;
  void didFailWithError(URLProtocol&, const Error&) override;

  BodyVerdict receiveBody(URLProtocol&, const char* bytes, std::size_t count) override;
  void didSendBodyData(URLProtocol&, std::int64_t, std::int64_t, std::int64_t) override;
  void didReceiveInformationalResponse(URLProtocol&, std::shared_ptr<const HTTPURLResponse>) override;
  void didCollectTransactionMetrics(URLProtocol&, URLSessionTaskTransactionMetrics) override;
  bool wantsTransactionMetrics() override;
  void didReceiveAuthenticationChallenge(URLProtocol&, URLProtectionSpace, std::shared_ptr<const HTTPURLResponse>) override;
  LoadContext loadContext() override;

 private:
  // Runs `event` with the task on the loop thread, unless the client was detached by then.
  template <class Event>
  void forward(Event&& event);
  std::weak_ptr<URLSessionTask> task_;  // loop thread only
};

}  // namespace foundation::detail

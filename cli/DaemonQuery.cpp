#include "cli/DaemonQuery.hpp"

#include <future>
#include <memory>
#include <utility>

#include "background/Connection.hpp"
#include "background/Protocol.hpp"
#include "engine/Loop.hpp"

namespace foundation::cli {

namespace {

using Clock = std::chrono::steady_clock;

// The exchange, on the loop thread: connect (starting the daemon once if asked), send, wait.
struct Exchange : std::enable_shared_from_this<Exchange> {
  wire::Message request;
  bool startDaemon = false;
  Clock::time_point deadline;
  std::promise<std::optional<wire::Message>> answer;
  std::string failure;
  bool answered = false;
  std::shared_ptr<background::Connection> connection;
  std::unique_ptr<engine::Timer> limit;

  void finish(std::optional<wire::Message> message, std::string why) {
    if (answered) return;
    answered = true;
    failure = std::move(why);
    limit.reset();
    if (connection) std::exchange(connection, nullptr)->close();  // drops the handlers' hold on us
    answer.set_value(std::move(message));
  }

  void connect() {
    background::connectToDaemon(startDaemon, deadline, [self = shared_from_this()](uv_pipe_t* pipe, std::string why) {
      if (self->answered) {
        if (pipe) uv_close(reinterpret_cast<uv_handle_t*>(pipe), [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
        return;
      }
      if (pipe) return self->exchange(pipe);
      self->finish(std::nullopt, std::move(why));
    });
  }

  void exchange(uv_pipe_t* pipe) {
    auto self = shared_from_this();
    connection = background::Connection::adopt(
        pipe, [self](background::Connection&, wire::Message message) { self->finish(std::move(message), ""); },
        [self](background::Connection&) { self->finish(std::nullopt, "urlsessiond closed the connection"); });
    connection->send(request);
  }
};

}  // namespace

std::optional<wire::Message> askDaemon(const wire::Message& request, bool startDaemon, std::string& failure,
                                       std::chrono::milliseconds timeout) {
  auto exchange = std::make_shared<Exchange>();
  exchange->request = request;
  exchange->startDaemon = startDaemon;
  exchange->deadline = Clock::now() + timeout;
  auto answer = exchange->answer.get_future();
  engine::Loop::shared().post([exchange, timeout] {
    exchange->limit = std::make_unique<engine::Timer>(engine::Loop::shared());
    exchange->limit->start(static_cast<std::uint64_t>(timeout.count()),
                           [exchange] { exchange->finish(std::nullopt, "urlsessiond did not answer in time"); });
    exchange->connect();
  });
  auto message = answer.get();
  if (!message) {
    // Written on the loop thread before the promise was fulfilled.
    failure = exchange->failure;
  }
  return message;
}

}  // namespace foundation::cli

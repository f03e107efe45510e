#include "background/BackgroundLink.hpp"

#include <chrono>
#include <future>

#include <foundation_net/URLSession.hpp>

#include "background/ApplicationState.hpp"
#include "background/Protocol.hpp"
#include "engine/Loop.hpp"
#include "platform/Process.hpp"
#include "session/SessionImpl.hpp"

namespace foundation::background {

using Clock = std::chrono::steady_clock;
namespace {
constexpr auto attachTimeout = std::chrono::seconds(10);
}  // namespace

// One attempt to reach and attach the daemon, retried until its deadline (loop thread).
struct Attempt : std::enable_shared_from_this<Attempt> {
  std::shared_ptr<BackgroundLink> link;
  Clock::time_point deadline;
  std::function<void(std::shared_ptr<Connection>, std::optional<Error>)> done;
  std::unique_ptr<engine::Timer> retry;

  void run();
  void connected(uv_pipe_t* pipe);
  void finish(std::shared_ptr<Connection> connection, std::optional<Error> error) {
    auto self = shared_from_this();
    if (auto callback = std::move(done)) callback(std::move(connection), std::move(error));
  }
};

void Attempt::run() {
  // A link closed meanwhile (its session let go) must not start daemons nobody will use.
  if (link->closed_) return finish(nullptr, Error::url(URLError::backgroundSessionWasDisconnected));
  connectToDaemon(true, deadline, [self = shared_from_this()](uv_pipe_t* pipe, std::string failure) {
    if (pipe) return self->connected(pipe);
    self->finish(nullptr, Error::url(URLError::backgroundSessionWasDisconnected, std::nullopt,
                                     "urlsessiond is not running and could not be started: " + failure));
  });
}

std::shared_ptr<BackgroundLink> BackgroundLink::attach(const std::shared_ptr<URLSession>& session,
                                                       const URLSessionConfiguration& configuration,
                                                       std::optional<Error>& failure) {
  std::shared_ptr<BackgroundLink> link(new BackgroundLink());
  link->session_ = session;
  wire::Message& request = link->attachRequest_;
  request = wire::Message(wire::Type::attach);
  request.add(wire::tag::appId, appIdentifier())
      .add(wire::tag::sessionId, configuration.identifier().value_or(""))
      .add(wire::tag::configuration, wire::encodeConfiguration(configuration))
      .add(wire::tag::pid, static_cast<std::int64_t>(platform::processIdentifier()))
      .add(wire::tag::answersResponses, std::int64_t{1});

  link->launchedForEvents_ = claimLaunchedFor(configuration.identifier().value_or(""));
  watchApplicationState(link);
  auto outcome = std::make_shared<std::promise<std::optional<Error>>>();
  auto result = outcome->get_future();
  engine::Loop::shared().post([link, outcome] {
    auto attempt = std::make_shared<Attempt>();
    attempt->link = link;
    attempt->deadline = Clock::now() + attachTimeout;
    attempt->done = [link, outcome](std::shared_ptr<Connection> connection, std::optional<Error> error) {
      link->setConnection(std::move(connection));
      outcome->set_value(std::move(error));
    };
    attempt->run();
  });
  if (result.wait_for(attachTimeout + std::chrono::seconds(5)) != std::future_status::ready) {
    failure = Error::url(URLError::backgroundSessionWasDisconnected, std::nullopt, "urlsessiond did not answer");
    return nullptr;
  }
  failure = result.get();
  return failure ? nullptr : link;
}

void Attempt::connected(uv_pipe_t* pipe) {
  auto self = shared_from_this();
  auto waiting = std::make_shared<bool>(true);
  auto link = this->link;
  auto connection = Connection::adopt(pipe,
      [self, waiting, link](Connection& c, wire::Message message) {
        if (!*waiting) return link->onMessage(std::move(message));
        *waiting = false;
        if (message.type() == wire::Type::attached) {
          link->launchedForEvents_ = false;
          std::vector<wire::Message> missed;
          if (auto session = link->session_.lock()) missed = session->impl().adoptBackgroundTasks(message, link);
          // What the daemon missed goes before anything sent later; whoever waited for the
          // link goes once it is in the kernel.
          for (std::size_t i = 0; i < missed.size(); ++i)
            c.send(missed[i], i + 1 == missed.size() ? std::function<void()>([link] { link->releaseParked(); })
                                                     : std::function<void()>());
          self->finish(c.shared_from_this(), std::nullopt);
          if (missed.empty()) link->releaseParked();
          return;
        }
        auto error = message.nested(wire::tag::error);
        auto decoded = error ? wire::decodeError(*error) : std::nullopt;
        c.close();
        self->finish(nullptr, decoded ? *decoded : Error::url(URLError::backgroundSessionWasDisconnected));
      },
      [self, waiting, link](Connection&) {
        if (*waiting) {
          *waiting = false;
          // Gone before it answered (a daemon killed while it attached us): the next one may be
          // up in a moment, so try again until the deadline instead of failing the session.
          if (Clock::now() < self->deadline) {
            if (!self->retry) self->retry = std::make_unique<engine::Timer>(engine::Loop::shared());
            self->retry->start(50, [self] { self->run(); });
            return;
          }
          self->finish(nullptr, Error::url(URLError::backgroundSessionWasDisconnected, std::nullopt,
                                           "urlsessiond closed the connection"));
          return;
        }
        link->setConnection(nullptr);
        if (!link->closed_) link->reconnect();
      });
  // The app's state as it is now, not as it was when the session was made.
  auto request = link->attachRequest_;
  background::addApplicationState(request);
  if (link->launchedForEvents_) request.add(wire::tag::launchedForEvents, static_cast<std::int64_t>(1));
  connection->send(request);
}

void BackgroundLink::reconnect() {
  auto attempt = std::make_shared<Attempt>();
  attempt->link = shared_from_this();
  attempt->deadline = Clock::now() + attachTimeout;
  attempt->done = [link = shared_from_this()](std::shared_ptr<Connection> connection, std::optional<Error> error) {
    if (link->closed_) {
      if (connection) connection->close();  // attached after the session let go: hang up
      return;
    }
    link->setConnection(std::move(connection));
    if (!error) return;
    // Still unreachable: the tasks are safe in the daemon's store; keep trying.
    if (!link->reconnectTimer_) link->reconnectTimer_ = std::make_unique<engine::Timer>(engine::Loop::shared());
    link->reconnectTimer_->start(1000, [link] { link->reconnect(); });
  };
  attempt->run();
}

BackgroundLink::~BackgroundLink() {
  if (connection_) engine::Loop::shared().post([connection = std::move(connection_)] { connection->close(); });
}

void BackgroundLink::send(wire::Message message) {
  auto& loop = engine::Loop::shared();
  if (loop.isLoopThread()) return deliver(message, {});
  auto handedOver = std::make_shared<std::promise<void>>();
  auto written = [handedOver] { handedOver->set_value(); };
  std::shared_ptr<Connection> connection;
  {
    std::lock_guard lock(connectionMutex_);
    connection = connection_;
  }
  if (connection) {
    // Usually written right here, on the caller's thread, without waking the loop.
    if (!connection->send(message, written)) handedOver->get_future().wait_for(attachTimeout);
    return;
  }
  loop.post([self = shared_from_this(), message = std::move(message), written] { self->deliver(message, written); });
  handedOver->get_future().wait_for(attachTimeout);
}

void BackgroundLink::setConnection(std::shared_ptr<Connection> connection) {
  std::lock_guard lock(connectionMutex_);
  connection_ = std::move(connection);
}

bool BackgroundLink::sendCreationAndConfirm(wire::Message creation, std::uint64_t taskId,
                                            std::optional<std::int64_t>& copiedBytes) {
  auto& loop = engine::Loop::shared();
  if (loop.isLoopThread()) {
    deliver(creation, {});
    return true;
  }
  auto answered = std::make_shared<std::promise<std::optional<std::int64_t>>>();
  auto answer = answered->get_future();
  loop.post([self = shared_from_this(), creation = std::move(creation), answered, taskId] {
    self->confirmations_[taskId] = [answered](const wire::Message& reply) {
      answered->set_value(reply.integer(wire::tag::expectedBytes));
    };
    self->deliver(creation, {});
  });
  if (answer.wait_for(confirmTimeout) == std::future_status::ready) {
    copiedBytes = answer.get();
    return true;
  }
  loop.post([self = shared_from_this(), taskId] { self->confirmations_.erase(taskId); });
  return false;
}

void BackgroundLink::deliver(const wire::Message& message, std::function<void()> written) {
  if (connection_ && connection_->isOpen()) {
    if (connection_->send(message, written) && written) written();
    return;
  }
  if (closed_) {
    if (written) written();
    return;
  }
  if (written) parked_.push_back(std::move(written));
}

void BackgroundLink::releaseParked() {
  for (auto& release : std::exchange(parked_, {})) release();
}

void BackgroundLink::close() {
  engine::Loop::shared().post([self = shared_from_this()] {
    self->closed_ = true;
    self->reconnectTimer_.reset();
    self->releaseParked();
    if (self->connection_) self->connection_->close();
  });
}

void BackgroundLink::detach() {
  auto answered = std::make_shared<std::promise<void>>();
  auto answer = answered->get_future();
  engine::Loop::shared().post([self = shared_from_this(), answered] {
    self->closed_ = true;  // letting go: a connection lost now is not made again
    if (!self->connection_) return answered->set_value();
    self->detachAnswer_ = answered;
    self->connection_->send(wire::Message(wire::Type::invalidate));
  });
  answer.wait_for(std::chrono::seconds(2));
  close();
}

void BackgroundLink::onMessage(wire::Message message) {
  if (auto id = message.integer(wire::tag::taskId); message.type() == wire::Type::reply && id) {
    // The daemon copied an upload's file and committed its task.
    if (auto it = confirmations_.find(static_cast<std::uint64_t>(*id)); it != confirmations_.end()) {
      auto confirm = std::move(it->second);
      confirmations_.erase(it);
      confirm(message);
    }
    return;
  }
  if (message.type() == wire::Type::reply && detachAnswer_) {
    detachAnswer_->set_value();
    detachAnswer_.reset();
    return;
  }
  if (auto session = session_.lock()) session->impl().backgroundEvent(message);
}

}  // namespace foundation::background

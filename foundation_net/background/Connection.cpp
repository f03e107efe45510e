#include "background/Connection.hpp"

#include <optional>

#include "platform/LocalSocket.hpp"

#include "background/Protocol.hpp"
#include "engine/Loop.hpp"
#include "platform/Process.hpp"

namespace foundation::background {
namespace {

void closePipe(uv_pipe_t* pipe) {
  uv_close(reinterpret_cast<uv_handle_t*>(pipe), [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
}

}  // namespace

std::shared_ptr<Connection> Connection::adopt(uv_pipe_t* pipe, MessageHandler onMessage, CloseHandler onClose) {
  std::shared_ptr<Connection> connection(new Connection());
  connection->pipe_ = pipe;
  connection->handle_ = platform::socketHandle(pipe);
  connection->onMessage_ = std::move(onMessage);
  connection->onClose_ = std::move(onClose);
  connection->self_ = connection;
  pipe->data = connection.get();
  uv_read_start(reinterpret_cast<uv_stream_t*>(pipe),
      [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
        buf->base = new char[suggested];
        buf->len = suggested;
      },
      [](uv_stream_t* stream, ssize_t count, const uv_buf_t* buf) {
        auto* self = static_cast<Connection*>(stream->data);
        self->onRead(count, buf);
        delete[] buf->base;
      });
  return connection;
}

Connection::~Connection() = default;

void Connection::onRead(ssize_t count, const uv_buf_t* buffer) {
  if (count < 0) return close();
  if (count == 0) return;
  if (!reader_.feed(std::string_view(buffer->base, static_cast<std::size_t>(count)))) return close();
  auto keep = shared_from_this();  // a handler may close us
  while (pipe_) {
    auto message = reader_.next();
    if (!message) break;
    onMessage_(*this, std::move(*message));
  }
}

namespace {

// Frames queued while writes are held (loop thread only).
struct HeldWrites {
  bool holding = false;
  struct Frame {
    std::weak_ptr<Connection> connection;
    std::string bytes;
    std::function<void()> written;
  };
  std::vector<Frame> frames;
};
HeldWrites& heldWrites() {
  static HeldWrites held;
  return held;
}

}  // namespace

void Connection::holdWrites() { heldWrites().holding = true; }

void Connection::releaseWrites() {
  auto& held = heldWrites();
  held.holding = false;
  auto frames = std::move(held.frames);
  held.frames.clear();
  for (auto& frame : frames) {
    auto open = frame.connection.lock();
    if ((!open || open->write(std::move(frame.bytes), frame.written)) && frame.written) frame.written();
  }
}

bool Connection::send(const wire::Message& message, std::function<void()> written) {
  if (auto& held = heldWrites(); held.holding) {
    held.frames.push_back({weak_from_this(), wire::frame(message), std::move(written)});
    return false;
  }
  return write(wire::frame(message), std::move(written));
}

bool Connection::write(std::string frame, std::function<void()> written) {
  std::size_t offset = 0;
  {
    std::lock_guard lock(writeMutex_);
    if (handle_ < 0) return true;
    if (queuedWrites_ == 0) {
      // With nothing queued the frame usually fits the socket's buffer at once: written on the
      // caller's thread, no request. libuv is not touched (it is not thread-safe), and while
      // nothing is queued it writes nothing itself, so the two never interleave.
      const long sent = platform::writeNonBlocking(handle_, frame.data(), frame.size());
      if (sent == static_cast<long>(frame.size())) return true;
      if (sent > 0) offset = static_cast<std::size_t>(sent);  // an error: uv_write reports it below
    }
    // The rest goes behind every frame queued before it; posting under the lock keeps the order.
    ++queuedWrites_;
    engine::Loop::shared().post([self = shared_from_this(), frame = std::move(frame), offset,
                                 written = std::move(written)]() mutable {
      self->writeQueued(std::move(frame), offset, std::move(written));
    });
  }
  return false;
}

void Connection::writeQueued(std::string frame, std::size_t offset, std::function<void()> written) {
  struct Write {
    uv_write_t request;
    std::string bytes;
    std::function<void()> written;
    std::shared_ptr<Connection> connection;
  };
  if (!pipe_) return finishQueued(written);
  auto* write = new Write{{}, std::move(frame), std::move(written), shared_from_this()};
  uv_buf_t rest = uv_buf_init(write->bytes.data() + offset, static_cast<unsigned>(write->bytes.size() - offset));
  int rc = uv_write(&write->request, reinterpret_cast<uv_stream_t*>(pipe_), &rest, 1, [](uv_write_t* request, int) {
    std::unique_ptr<Write> done(reinterpret_cast<Write*>(request));
    done->connection->finishQueued(done->written);
  });
  if (rc != 0) {
    std::unique_ptr<Write> failed(write);
    close();
    finishQueued(failed->written);
  }
}

void Connection::finishQueued(const std::function<void()>& written) {
  {
    std::lock_guard lock(writeMutex_);
    --queuedWrites_;
  }
  if (written) written();
}

void Connection::close() {
  if (!pipe_) return;
  {
    std::lock_guard lock(writeMutex_);
    handle_ = -1;
  }
  auto* pipe = std::exchange(pipe_, nullptr);
  uv_read_stop(reinterpret_cast<uv_stream_t*>(pipe));
  closePipe(pipe);
  auto keep = std::move(self_);
  // Reported from the loop, not from inside whatever called close().
  engine::Loop::shared().post([keep] {
    if (keep->onClose_) keep->onClose_(*keep);
  });
}


namespace {

// Connects to the socket at `path`; `done` gets the pipe or a libuv error.
void connectPipe(const std::string& path, std::function<void(uv_pipe_t*, int)> done) {
  auto* pipe = new uv_pipe_t;
  uv_pipe_init(engine::Loop::shared().uv(), pipe, 0);
  struct Connect {
    uv_connect_t request;
    uv_pipe_t* pipe;
    std::function<void(uv_pipe_t*, int)> done;
  };
  auto* connect = new Connect{{}, pipe, std::move(done)};
  uv_pipe_connect(&connect->request, pipe, path.c_str(), [](uv_connect_t* request, int status) {
    auto* c = reinterpret_cast<Connect*>(request);
    if (status < 0) {
      closePipe(c->pipe);
      c->done(nullptr, status);
    } else {
      c->done(c->pipe, 0);
    }
    delete c;
  });
}

// One connectToDaemon call: its retries share the deadline, and start the daemon at most
// every half second.
struct DaemonConnect : std::enable_shared_from_this<DaemonConnect> {
  bool startDaemon = false;
  std::chrono::steady_clock::time_point deadline;
  std::optional<std::chrono::steady_clock::time_point> nextSpawn;  // none yet: at once
  std::function<void(uv_pipe_t*, std::string)> done;
  std::unique_ptr<engine::Timer> retry;

  void run() {
    connectPipe(socketPath(), [self = shared_from_this()](uv_pipe_t* pipe, int status) {
      if (pipe) return self->done(pipe, "");
      const std::string reason = " (" + std::string(uv_strerror(status)) + ")";
      if (!self->startDaemon) return self->done(nullptr, "no urlsessiond is serving " + socketPath() + reason);
      const auto now = std::chrono::steady_clock::now();
      if (!self->nextSpawn || now >= *self->nextSpawn) {
        // Nobody serves the socket: start the daemon (it exits at once if another one holds
        // the lock). Again every half second: the one holding it may die before it serves.
        self->nextSpawn = now + std::chrono::milliseconds(500);
        if (int rc = platform::spawnDetached(daemonExecutable(), {"--foreground"}); rc != 0)
          return self->done(nullptr, "cannot start " + daemonExecutable() + ": " + uv_strerror(rc));
      }
      if (std::chrono::steady_clock::now() >= self->deadline)
        return self->done(nullptr, "urlsessiond was started but does not answer on " + socketPath() + reason);
      if (!self->retry) self->retry = std::make_unique<engine::Timer>(engine::Loop::shared());
      self->retry->start(20, [self] { self->run(); });
    });
  }
};

}  // namespace

void connectToDaemon(bool startDaemon, std::chrono::steady_clock::time_point deadline,
                     std::function<void(uv_pipe_t*, std::string)> done) {
  auto attempt = std::make_shared<DaemonConnect>();
  attempt->startDaemon = startDaemon;
  attempt->deadline = deadline;
  attempt->done = std::move(done);
  attempt->run();
}

}  // namespace foundation::background

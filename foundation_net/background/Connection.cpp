#include "background/Connection.hpp"

#include "engine/Loop.hpp"

namespace foundation::background {
namespace {

void closePipe(uv_pipe_t* pipe) {
  uv_close(reinterpret_cast<uv_handle_t*>(pipe), [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
}

}  // namespace

std::shared_ptr<Connection> Connection::adopt(uv_pipe_t* pipe, MessageHandler onMessage, CloseHandler onClose) {
  std::shared_ptr<Connection> connection(new Connection());
  connection->pipe_ = pipe;
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
    if (auto open = frame.connection.lock()) {
      open->write(std::move(frame.bytes), std::move(frame.written));
    } else if (frame.written) {
      frame.written();
    }
  }
}

void Connection::send(const wire::Message& message, std::function<void()> written) {
  if (!pipe_) {
    if (written) written();
    return;
  }
  if (auto& held = heldWrites(); held.holding) {
    held.frames.push_back({weak_from_this(), wire::frame(message), std::move(written)});
    return;
  }
  write(wire::frame(message), std::move(written));
}

void Connection::write(std::string frame, std::function<void()> written) {
  auto report = [&written] {
    if (written) written();
  };
  if (!pipe_) return report();
  auto* stream = reinterpret_cast<uv_stream_t*>(pipe_);
  // With nothing queued the frame usually fits the socket's buffer at once: no request, and
  // the caller hears of it before send() returns.
  uv_buf_t whole = uv_buf_init(frame.data(), static_cast<unsigned>(frame.size()));
  const int sent = uv_try_write(stream, &whole, 1);
  if (sent == static_cast<int>(frame.size())) return report();
  if (sent < 0 && sent != UV_EAGAIN) {
    close();
    return report();
  }
  struct Write {
    uv_write_t request;
    std::string bytes;
    std::function<void()> written;
  };
  const std::size_t offset = sent > 0 ? static_cast<std::size_t>(sent) : 0;
  auto* write = new Write{{}, std::move(frame), std::move(written)};
  uv_buf_t rest = uv_buf_init(write->bytes.data() + offset, static_cast<unsigned>(write->bytes.size() - offset));
  int rc = uv_write(&write->request, stream, &rest, 1, [](uv_write_t* request, int) {
    auto* done = reinterpret_cast<Write*>(request);
    if (done->written) done->written();
    delete done;
  });
  if (rc != 0) {
    written = std::move(write->written);
    delete write;
    close();
    report();
  }
}

void Connection::close() {
  if (!pipe_) return;
  auto* pipe = std::exchange(pipe_, nullptr);
  uv_read_stop(reinterpret_cast<uv_stream_t*>(pipe));
  closePipe(pipe);
  auto keep = std::move(self_);
  // Reported from the loop, not from inside whatever called close().
  engine::Loop::shared().post([keep] {
    if (keep->onClose_) keep->onClose_(*keep);
  });
}

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

}  // namespace foundation::background

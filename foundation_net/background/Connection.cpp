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
  std::vector<std::pair<std::weak_ptr<Connection>, std::string>> frames;
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
  for (auto& [connection, frame] : frames)
    if (auto open = connection.lock()) open->write(std::move(frame));
}

void Connection::send(const wire::Message& message) {
  if (!pipe_) return;
  if (auto& held = heldWrites(); held.holding) {
    held.frames.emplace_back(weak_from_this(), wire::frame(message));
    return;
  }
  write(wire::frame(message));
}

void Connection::write(std::string frame) {
  if (!pipe_) return;
  struct Write {
    uv_write_t request;
    std::string bytes;
  };
  auto* write = new Write{{}, std::move(frame)};
  uv_buf_t buf = uv_buf_init(write->bytes.data(), static_cast<unsigned>(write->bytes.size()));
  int rc = uv_write(&write->request, reinterpret_cast<uv_stream_t*>(pipe_), &buf, 1,
                    [](uv_write_t* request, int) { delete reinterpret_cast<Write*>(request); });
  if (rc != 0) {
    delete write;
    close();
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

// A framed wire::Message connection over a libuv pipe (a Unix socket; a named pipe on
// Windows), on the loop thread. Both the library's link to the daemon and the daemon's
// clients use it. A malformed or oversized frame closes the connection and nothing else.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <uv.h>

#include "background/Wire.hpp"

namespace foundation::background {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using MessageHandler = std::function<void(Connection&, wire::Message)>;
  using CloseHandler = std::function<void(Connection&)>;

  // Takes an accepted or connected pipe (allocated with new) and starts reading.
  static std::shared_ptr<Connection> adopt(uv_pipe_t* pipe, MessageHandler onMessage, CloseHandler onClose);
  ~Connection();

  // Any thread. Returns true when the kernel already has the whole frame, or never will (the
  // connection is closed). Otherwise the frame waits behind the ones queued before it and
  // `written` runs on the loop thread once the kernel has it, or once it never will. A peer
  // reads what the kernel has even after this process died.
  bool send(const wire::Message& message, std::function<void()> written = {});
  // Loop thread. While writes are held, every connection's send() queues its frame; release
  // sends what was queued, in order, to the connections still open. The daemon holds writes
  // until the store has committed what those messages report.
  static void holdWrites();
  static void releaseWrites();
  // Closes the pipe; onClose runs once, later, on the loop thread.
  void close();
  bool isOpen() const { return pipe_ != nullptr; }
  uv_pipe_t* pipe() const { return pipe_; }

 private:
  Connection() = default;
  void onRead(ssize_t count, const uv_buf_t* buffer);
  bool write(std::string frame, std::function<void()> written);
  // Loop thread: writes what the direct write left of `frame` (from `offset`) with uv_write.
  void writeQueued(std::string frame, std::size_t offset, std::function<void()> written);
  // Loop thread: a queued frame is in the kernel, or never will be.
  void finishQueued(const std::function<void()>& written);

  uv_pipe_t* pipe_ = nullptr;
  std::mutex writeMutex_;
  int handle_ = -1;                  // writeMutex_: the pipe's OS handle while open, else -1
  int queuedWrites_ = 0;             // writeMutex_: frames posted to or waiting in uv_write
  wire::FrameReader reader_;
  MessageHandler onMessage_;
  CloseHandler onClose_;
  std::shared_ptr<Connection> self_;  // alive while the pipe is open
};

// Loop thread: connects to urlsessiond's socket. When nobody answers and `startDaemon` is set,
// starts the daemon (again every half second while still nobody answers: one that holds the
// lock may die before it serves) and retries until `deadline`. `done` runs once, with the pipe (owned by
// the caller, for Connection::adopt) or with nullptr and why no daemon could be reached.
void connectToDaemon(bool startDaemon, std::chrono::steady_clock::time_point deadline,
                     std::function<void(uv_pipe_t* pipe, std::string failure)> done);

}  // namespace foundation::background

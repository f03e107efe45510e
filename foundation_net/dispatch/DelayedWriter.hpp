// DelayedWriter: a thread that runs a store's write a while after a change first asks for it,
// so a burst of changes costs one write, made off the thread that changed things (often the
// network thread). The URL cache's disk and persistent cookie storages use one each.
#pragma once
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace foundation::detail {

class DelayedWriter {
 public:
  // `write` runs on the writer's thread, never twice at once.
  DelayedWriter(std::chrono::milliseconds delay, std::function<void()> write)
      : delay_(delay), write_(std::move(write)) {}
  ~DelayedWriter() { stop(); }
  DelayedWriter(const DelayedWriter&) = delete;
  DelayedWriter& operator=(const DelayedWriter&) = delete;

  // Any thread: `write` runs `delay` from now, or with the run already asked for. The thread
  // starts with the first request, so a store that never changes costs none.
  void request();
  // Runs the write asked for, if any, at once, and ends the thread. Later requests are ignored.
  void stop();

 private:
  void run();
  const std::chrono::milliseconds delay_;
  const std::function<void()> write_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool requested_ = false, stopping_ = false;
  std::thread thread_;
};

}  // namespace foundation::detail

// The library's side of a background session: one connection to urlsessiond per background
// URLSession. It attaches the session (starting the daemon when none answers), forwards the
// tasks' commands, and routes the daemon's events to the session on the loop thread.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <foundation_net/Error.hpp>
#include <foundation_net/URLSessionConfiguration.hpp>

#include "background/Connection.hpp"
#include "engine/Loop.hpp"
#include "background/Wire.hpp"

namespace foundation {
class URLSession;
}

namespace foundation::background {

class BackgroundLink : public std::enable_shared_from_this<BackgroundLink> {
 public:
  // Connects and attaches `session` (blocking the caller up to a few seconds). On the loop
  // thread, before anything else the daemon sends is handled, the session adopts the tasks
  // still in flight. Returns the link, or an error when the session cannot be served
  // (another process holds it: -996; no daemon could be started: -997).
  static std::shared_ptr<BackgroundLink> attach(const std::shared_ptr<URLSession>& session,
                                                const URLSessionConfiguration& configuration,
                                                std::optional<Error>& failure);
  ~BackgroundLink();

  // Sends a command from any thread and returns once its frame is in the kernel, so that the
  // daemon reads it even if this process dies right after. While the link is down the command
  // is not kept: the re-attach brings the daemon's tasks in line with the app's (see
  // URLSession::Impl::adoptBackgroundTasks), and the caller waits for that, at most a few
  // seconds. On the loop thread it never waits.
  void send(wire::Message message);
  // Sends the createTask of an upload from a file and waits (up to `confirmTimeout`) until the
  // daemon answered that it has copied the file and committed the task; false when it did not.
  // On the loop thread it cannot wait and answers true.
  // `copiedBytes` gets the size of the daemon's copy when it said.
  bool sendCreationAndConfirm(wire::Message creation, std::uint64_t taskId, std::optional<std::int64_t>& copiedBytes);
  static constexpr auto confirmTimeout = std::chrono::seconds(15);
  void close();
  // Lets go of the daemon's session for good (the session was invalidated): tells the daemon and
  // waits for its answer (up to 2 s), so that a new session with the same identifier attaches
  // at once, without -996; then closes. Not on the loop thread.
  void detach();
  // Loop thread: reaches the daemon again after it went away (it restarts from its saved
  // state), retrying until it answers; the session then adopts the tasks afresh.
  void reconnect();

 private:
  friend struct Attempt;
  BackgroundLink() = default;
  void onMessage(wire::Message message);
  // Loop thread: writes `message` if connected (`written` once it is in the kernel); else keeps
  // `written` until the re-attach has resent what the daemon missed.
  void deliver(const wire::Message& message, std::function<void()> written);
  // Loop thread: the connection other threads write to (null while the link is down).
  void setConnection(std::shared_ptr<Connection> connection);
  // Loop thread: lets the callers waiting for the link go.
  void releaseParked();

  std::weak_ptr<URLSession> session_;
  wire::Message attachRequest_;
  // Loop thread after attach(): this process was launched for the session's events, and no
  // attach has told the daemon yet (it then finishes the replay even when there is nothing).
  bool launchedForEvents_ = false;
  std::mutex connectionMutex_;
  std::shared_ptr<Connection> connection_;  // set on the loop thread, under connectionMutex_
  bool closed_ = false;                     // loop thread: closed on purpose, no reconnection
  std::unique_ptr<engine::Timer> reconnectTimer_;
  std::shared_ptr<std::promise<void>> detachAnswer_;  // loop thread: detach() waits on it
  std::vector<std::function<void()>> parked_;         // loop thread: senders waiting for the link
  std::map<std::uint64_t, std::function<void(const wire::Message&)>> confirmations_;  // loop thread: by task id
};

}  // namespace foundation::background

// The library's side of a background session: one connection to urlsessiond per background
// URLSession. It attaches the session (starting the daemon when none answers), forwards the
// tasks' commands, and routes the daemon's events to the session on the loop thread.
#pragma once
#include <cstdint>
#include <future>
#include <memory>
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

  // Sends a message from any thread (dropped while the connection is down).
  void send(wire::Message message);
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

  std::weak_ptr<URLSession> session_;
  wire::Message attachRequest_;
  std::shared_ptr<Connection> connection_;  // loop thread
  bool closed_ = false;                     // loop thread: closed on purpose, no reconnection
  std::unique_ptr<engine::Timer> reconnectTimer_;
  std::shared_ptr<std::promise<void>> detachAnswer_;  // loop thread: detach() waits on it
};

}  // namespace foundation::background

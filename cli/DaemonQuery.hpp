// One question to urlsessiond over its socket (status, listTasks), answered by one message.
// Used by the urlsession tool and the background benchmark.
#pragma once
#include <chrono>
#include <optional>
#include <string>

#include "background/Wire.hpp"

namespace foundation::cli {

// Connects to the daemon's socket, sends `request`, and returns the first message it answers
// with. With `startDaemon`, a daemon is started when nobody serves the socket (as the library
// does) and waited for. nullopt with `failure` set when no daemon answers within `timeout`.
std::optional<wire::Message> askDaemon(const wire::Message& request, bool startDaemon, std::string& failure,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace foundation::cli

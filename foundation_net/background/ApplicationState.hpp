// What background sessions tell urlsessiond about their app (Application's state), kept here so
// that every link to the daemon carries it on attach and hears of its changes.
#pragma once
#include <memory>
#include <string>

#include "background/Wire.hpp"

namespace foundation::background {

class BackgroundLink;

// Adds the app's state to an attach or appState message: the foreground flag, and the launch
// command (one nested message of repeated launchCommand fields) once the app has set one.
void addApplicationState(wire::Message& message);
// True the first time it is asked about a session this process was launched for (urlsessiond
// starts a launch command for named sessions' events): that session's first attach says so.
bool claimLaunchedFor(const std::string& sessionIdentifier);
// Sends an appState message to `link` whenever the state changes, for as long as the link lives.
void watchApplicationState(const std::shared_ptr<BackgroundLink>& link);

}  // namespace foundation::background

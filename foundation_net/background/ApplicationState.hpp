// What background sessions tell urlsessiond about their app (Application's state), kept here so
// that every link to the daemon carries it on attach and hears of its changes.
#pragma once
#include <memory>

#include "background/Wire.hpp"

namespace foundation::background {

class BackgroundLink;

// Adds the app's state to an attach or appState message: the foreground flag, and the launch
// command (one nested message of repeated launchCommand fields) once the app has set one.
void addApplicationState(wire::Message& message);
// Sends an appState message to `link` whenever the state changes, for as long as the link lives.
void watchApplicationState(const std::shared_ptr<BackgroundLink>& link);

}  // namespace foundation::background

// The device conditions that gate background transfers: power source and network.
// FOUNDATION_NET_CONDITIONS_FILE, when set, replaces probing: lines `power=ac|battery` and
// `network=unmetered|metered|none`, re-read at least every second.
#pragma once
#include <functional>
#include <memory>
#include <string>

namespace foundation::engine { class Loop; }

namespace foundation::daemon {

struct DeviceConditions {
  enum class Power { ac, battery };
  enum class Network { unmetered, metered, none };
  Power power = Power::ac;
  Network network = Network::unmetered;

  bool networkAvailable() const { return network != Network::none; }
  // Discretionary transfers start only on AC power and an unmetered network.
  bool goodForDiscretionary() const { return power == Power::ac && network == Network::unmetered; }
  bool operator==(const DeviceConditions&) const = default;
};

// Parses a conditions file's text; lines it does not understand are ignored, missing keys
// keep the defaults (ac, unmetered).
DeviceConditions parseConditions(const std::string& text);

// Watches the conditions on the loop thread and reports changes there.
class ConditionsMonitor {
 public:
  // Starts watching (a timer on `loop`, ≤ 1 s period for the file, slower for probing).
  // Must be created and destroyed on the loop thread.
  ConditionsMonitor(engine::Loop& loop, std::function<void(const DeviceConditions&)> onChange);
  ~ConditionsMonitor();
  DeviceConditions current() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Probes the system once: /sys/class/power_supply (AC online, or a battery discharging),
// /sys/class/net (an interface other than loopback up), and NetworkManager's metered flag
// through `nmcli` when it is installed (otherwise unmetered).
DeviceConditions probeSystemConditions();

}  // namespace foundation::daemon

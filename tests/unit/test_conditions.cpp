// Unit tests of the daemon's device conditions: the conditions file, the monitor, probing.
#include <doctest/doctest.h>

#include "TempFolder.hpp"

#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "daemon/Conditions.hpp"
#include "engine/Loop.hpp"

using namespace foundation;
using namespace foundation::daemon;
using namespace std::chrono_literals;

namespace {

using Power = DeviceConditions::Power;
using Network = DeviceConditions::Network;

struct TempFolder : fntest::TempFolder {
  TempFolder() : fntest::TempFolder("test_conditions") {}
};

// Sets an environment variable for the scope of a test, restoring the old value after.
class ScopedEnvironment {
 public:
  ScopedEnvironment(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnvironment() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// Replaces a file's content at once (rename), as a careful writer would.
void writeAtomically(const std::filesystem::path& path, const std::string& text) {
  const auto temporary = path.string() + ".tmp";
  std::ofstream(temporary, std::ios::trunc) << text;
  std::filesystem::rename(temporary, path);
}

// Runs `work` on the loop thread and waits for it.
template <typename Work>
auto onLoop(Work work) -> decltype(work()) {
  std::promise<decltype(work())> done;
  auto result = done.get_future();
  engine::Loop::shared().post([&] {
    if constexpr (std::is_void_v<decltype(work())>) {
      work();
      done.set_value();
    } else {
      done.set_value(work());
    }
  });
  return result.get();
}

// What the monitor reported, and on which thread.
struct Reports {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<DeviceConditions> seen;
  bool allOnLoopThread = true;

  void add(const DeviceConditions& conditions) {
    const std::lock_guard lock(mutex);
    if (!engine::Loop::shared().isLoopThread()) allOnLoopThread = false;
    seen.push_back(conditions);
    changed.notify_all();
  }
  // Waits until there are `count` reports; true when they came in time.
  bool waitFor(std::size_t count, std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, limit, [&] { return seen.size() >= count; });
  }
  std::size_t size() {
    const std::lock_guard lock(mutex);
    return seen.size();
  }
  DeviceConditions at(std::size_t i) {
    const std::lock_guard lock(mutex);
    return seen.at(i);
  }
};

// Makes a monitor on the loop; `initial`, when given, gets its conditions read in that same loop
// turn, before anything the monitor started (an nmcli run) can have answered.
std::unique_ptr<ConditionsMonitor> startMonitor(const std::shared_ptr<Reports>& reports,
                                                DeviceConditions* initial = nullptr) {
  return onLoop([&] {
    auto monitor = std::make_unique<ConditionsMonitor>(engine::Loop::shared(),
                                                       [reports](const DeviceConditions& c) { reports->add(c); });
    if (initial) *initial = monitor->current();
    return monitor;
  });
}

void stopMonitor(std::unique_ptr<ConditionsMonitor>& monitor) {
  onLoop([&] { monitor.reset(); });
}

DeviceConditions currentOf(const ConditionsMonitor& monitor) {
  return onLoop([&] { return monitor.current(); });
}

// Writes an executable `nmcli` into `folder` that prints `output`, counting its runs.
void writeFakeNmcli(const std::filesystem::path& folder, const std::string& output) {
  const auto script = folder / "nmcli";
  std::ofstream(script) << "#!/bin/sh\n"
                        << "echo run >> '" << (folder / "runs").string() << "'\n"
                        << "echo \"$LC_ALL $*\" > '" << (folder / "arguments").string() << "'\n"
                        << "printf '" << output << "'\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
}

int runsOf(const std::filesystem::path& folder) {
  std::ifstream in(folder / "runs");
  int runs = 0;
  for (std::string line; std::getline(in, line);) ++runs;
  return runs;
}

}  // namespace

TEST_CASE("parseConditions reads power and network lines") {
  SUBCASE("defaults for empty text") {
    const auto c = parseConditions("");
    CHECK(c.power == Power::ac);
    CHECK(c.network == Network::unmetered);
    CHECK(c.networkAvailable());
    CHECK(c.goodForDiscretionary());
  }
  SUBCASE("every value") {
    CHECK(parseConditions("power=battery").power == Power::battery);
    CHECK(parseConditions("power=battery\npower=ac").power == Power::ac);
    CHECK(parseConditions("network=metered").network == Network::metered);
    CHECK(parseConditions("network=none").network == Network::none);
    CHECK(parseConditions("network=none\nnetwork=unmetered").network == Network::unmetered);
    const auto c = parseConditions("power=battery\nnetwork=none\n");
    CHECK(c.power == Power::battery);
    CHECK(c.network == Network::none);
    CHECK_FALSE(c.networkAvailable());
    CHECK_FALSE(c.goodForDiscretionary());
  }
  SUBCASE("whitespace, case and CRLF") {
    const auto c = parseConditions("  Power =  BATTERY  \r\n\tnetwork\t=\tMetered\r\n");
    CHECK(c.power == Power::battery);
    CHECK(c.network == Network::metered);
    CHECK(c.networkAvailable());
    CHECK_FALSE(c.goodForDiscretionary());
  }
  SUBCASE("unknown lines and values are ignored; a missing key keeps its default") {
    const auto c = parseConditions(
        "# comment\nhello\n=\npower\npower=solar\nvolume=11\nnetwork=metered=yes\nnetwork=metered\n");
    CHECK(c.power == Power::ac);
    CHECK(c.network == Network::metered);
    CHECK(parseConditions("network=wifi").network == Network::unmetered);
    CHECK(parseConditions("power=battery").network == Network::unmetered);
  }
  SUBCASE("equality") {
    CHECK(parseConditions("power=battery") == parseConditions("POWER=Battery\n"));
    CHECK_FALSE(parseConditions("power=battery") == parseConditions("power=ac"));
  }
}

TEST_CASE("ConditionsMonitor follows FOUNDATION_NET_CONDITIONS_FILE") {
  TempFolder temp;
  const auto file = temp.path() / "conditions";
  writeAtomically(file, "power=ac\nnetwork=unmetered\n");
  ScopedEnvironment environment("FOUNDATION_NET_CONDITIONS_FILE", file.string());
  auto reports = std::make_shared<Reports>();
  auto monitor = startMonitor(reports);
  CHECK(currentOf(*monitor) == DeviceConditions{Power::ac, Network::unmetered});

  // A change is reported within 1.5 s, on the loop thread.
  auto started = std::chrono::steady_clock::now();
  writeAtomically(file, "power=battery\nnetwork=metered\n");
  REQUIRE(reports->waitFor(1, 1500ms));
  MESSAGE("change seen after "
          << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count()
          << " ms");
  CHECK(reports->at(0) == DeviceConditions{Power::battery, Network::metered});
  CHECK(currentOf(*monitor) == DeviceConditions{Power::battery, Network::metered});

  // And back. A plain rewrite (truncate, then write) is fine too.
  std::ofstream(file, std::ios::trunc) << "power=ac\nnetwork=unmetered\n";
  REQUIRE(reports->waitFor(2, 1500ms));
  CHECK(reports->at(1) == DeviceConditions{Power::ac, Network::unmetered});

  // Only changes are reported: rewriting the same conditions says nothing.
  writeAtomically(file, "network = UNMETERED\npower = AC\n");
  std::this_thread::sleep_for(1200ms);
  CHECK(reports->size() == 2);

  writeAtomically(file, "network=none\n");
  REQUIRE(reports->waitFor(3, 1500ms));
  CHECK(reports->at(2) == DeviceConditions{Power::ac, Network::none});

  // A missing file keeps the last known conditions.
  std::filesystem::remove(file);
  std::this_thread::sleep_for(1200ms);
  CHECK(reports->size() == 3);
  CHECK(currentOf(*monitor) == DeviceConditions{Power::ac, Network::none});
  writeAtomically(file, "power=battery\n");
  REQUIRE(reports->waitFor(4, 1500ms));
  CHECK(reports->at(3) == DeviceConditions{Power::battery, Network::unmetered});

  {
    const std::lock_guard lock(reports->mutex);
    CHECK(reports->allOnLoopThread);
  }
  stopMonitor(monitor);

  // Nothing is reported once the monitor is gone.
  writeAtomically(file, "power=ac\n");
  std::this_thread::sleep_for(1200ms);
  CHECK(reports->size() == 4);
}

TEST_CASE("ConditionsMonitor starts from the file, or the defaults when it is missing") {
  TempFolder temp;
  const auto file = temp.path() / "conditions";
  ScopedEnvironment environment("FOUNDATION_NET_CONDITIONS_FILE", file.string());
  auto reports = std::make_shared<Reports>();
  {
    auto monitor = startMonitor(reports);
    CHECK(currentOf(*monitor) == DeviceConditions{});
    stopMonitor(monitor);
  }
  writeAtomically(file, "power=battery\nnetwork=none\n");
  auto monitor = startMonitor(reports);
  CHECK(currentOf(*monitor) == DeviceConditions{Power::battery, Network::none});
  stopMonitor(monitor);
  CHECK(reports->size() == 0);
}

TEST_CASE("ConditionsMonitor may be destroyed from its own onChange") {
  TempFolder temp;
  const auto file = temp.path() / "conditions";
  writeAtomically(file, "power=ac\n");
  ScopedEnvironment environment("FOUNDATION_NET_CONDITIONS_FILE", file.string());
  auto monitor = std::make_shared<std::unique_ptr<ConditionsMonitor>>();
  std::promise<DeviceConditions> reported;
  onLoop([&] {
    *monitor = std::make_unique<ConditionsMonitor>(engine::Loop::shared(), [&, monitor](const DeviceConditions& c) {
      monitor->reset();
      reported.set_value(c);
    });
  });
  writeAtomically(file, "power=battery\n");
  auto future = reported.get_future();
  REQUIRE(future.wait_for(1500ms) == std::future_status::ready);
  CHECK(future.get().power == Power::battery);
  CHECK(onLoop([&] { return *monitor == nullptr; }));
}

TEST_CASE("probeSystemConditions and the probing monitor work on this machine") {
  ::unsetenv("FOUNDATION_NET_CONDITIONS_FILE");
  const auto started = std::chrono::steady_clock::now();
  DeviceConditions probed;
  CHECK_NOTHROW(probed = probeSystemConditions());
  const auto took = std::chrono::steady_clock::now() - started;
  const std::string power = probed.power == Power::ac ? "ac" : "battery";
  const std::string network = probed.network == Network::none      ? "none"
                              : probed.network == Network::metered ? "metered"
                                                                   : "unmetered";
  MESSAGE("probed power=" << power << " network=" << network << " in "
          << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  CHECK(took < 3s);
  CHECK_NOTHROW(onLoop([] { return probeSystemConditions(); }));

  auto reports = std::make_shared<Reports>();
  auto monitor = startMonitor(reports);
  CHECK_NOTHROW(currentOf(*monitor));
  stopMonitor(monitor);
}

TEST_CASE("probeSystemConditions asks nmcli for the metered flag, at most every 30 s") {
  if (probeSystemConditions().network == Network::none) {
    MESSAGE("no network interface is up here: nmcli is not consulted, skipping");
    return;
  }
  TempFolder metered, unmetered;
  writeFakeNmcli(metered.path(), "unknown\\n\\nyes (guessed)\\n\\nunknown\\n");
  writeFakeNmcli(unmetered.path(), "no (guessed)\\n\\nunknown\\n");
  const std::string path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";

  SUBCASE("from another thread it waits for the answer") {
    {
      ScopedEnvironment environment("PATH", metered.path().string() + ":" + path);
      CHECK(probeSystemConditions().network == Network::metered);
      CHECK(probeSystemConditions().network == Network::metered);
      CHECK(runsOf(metered.path()) == 1);
      std::ifstream arguments(metered.path() / "arguments");
      std::string line;
      std::getline(arguments, line);
      CHECK(line == "C -t -g GENERAL.METERED device show");
    }
    {
      ScopedEnvironment environment("PATH", unmetered.path().string() + ":" + path);
      CHECK(probeSystemConditions().network == Network::unmetered);
      CHECK(runsOf(unmetered.path()) == 1);
    }
  }
  SUBCASE("the probing monitor never waits on the loop and reports nmcli's answer when it comes") {
    ScopedEnvironment environment("PATH", unmetered.path().string() + ":" + path);
    auto reports = std::make_shared<Reports>();
    // Until nmcli has answered, a network counts as metered (read before it can have answered,
    // however slow this thread is on a loaded machine).
    DeviceConditions initial;
    auto monitor = startMonitor(reports, &initial);
    CHECK(initial.network == Network::metered);
    REQUIRE(reports->waitFor(1, 2000ms));
    CHECK(reports->at(0).network == Network::unmetered);
    CHECK(reports->at(0).power == initial.power);
    CHECK(currentOf(*monitor).network == Network::unmetered);
    stopMonitor(monitor);
    CHECK(runsOf(unmetered.path()) == 1);
    const std::lock_guard lock(reports->mutex);
    CHECK(reports->allOnLoopThread);
  }
}

TEST_CASE("probeSystemConditions kills an nmcli that hangs, and counts the network as unmetered") {
  if (probeSystemConditions().network == Network::none) {
    MESSAGE("no network interface is up here: nmcli is not consulted, skipping");
    return;
  }
  TempFolder hanging;
  const auto script = hanging.path() / "nmcli";
  std::ofstream(script) << "#!/bin/sh\necho $$ > '" << (hanging.path() / "pid").string() << "'\nexec sleep 30\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  const std::string path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  ScopedEnvironment environment("PATH", hanging.path().string() + ":" + path);

  const auto started = std::chrono::steady_clock::now();
  CHECK(probeSystemConditions().network == Network::unmetered);
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(took >= 1400ms);
  CHECK(took < 2500ms);

  // Killed and reaped: no zombie stays behind.
  std::string pid;
  std::ifstream(hanging.path() / "pid") >> pid;
  REQUIRE_FALSE(pid.empty());
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = !std::filesystem::exists("/proc/" + pid);
    if (!gone) std::this_thread::sleep_for(20ms);
  }
  CHECK(gone);
}

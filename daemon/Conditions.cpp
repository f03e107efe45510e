#include "daemon/Conditions.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <unistd.h>

#include <uv.h>

#include "engine/Loop.hpp"

extern char** environ;

namespace foundation::daemon {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto fileInterval = std::chrono::milliseconds(500);
constexpr auto probeInterval = std::chrono::milliseconds(5000);
constexpr auto nmcliInterval = std::chrono::seconds(30);   // at most one nmcli run per period
constexpr std::uint64_t nmcliTimeoutMs = 1500;             // then it is killed
constexpr auto nmcliWaitOffLoop = std::chrono::milliseconds(2000);

std::string_view trim(std::string_view text) {
  const auto isSpace = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && isSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && isSpace(text.back())) text.remove_suffix(1);
  return text;
}

std::string lowercase(std::string_view text) {
  std::string result(text);
  for (char& c : result) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return result;
}

// The first line of a small sysfs file, trimmed; "" when it cannot be read.
std::string readAttribute(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return {};
  return std::string(trim(line));
}

std::vector<std::filesystem::path> entries(const char* folder) {
  std::vector<std::filesystem::path> result;
  std::error_code error;
  for (std::filesystem::directory_iterator it(folder, error), end; !error && it != end; it.increment(error)) {
    result.push_back(it->path());
  }
  return result;
}

DeviceConditions::Power probePower() {
  bool batteryDischarging = false;
  for (const auto& supply : entries("/sys/class/power_supply")) {
    // A peripheral's battery (a wireless mouse) says nothing about the computer's power.
    if (readAttribute(supply / "scope") == "Device") continue;
    const std::string type = readAttribute(supply / "type");
    if (type == "Mains" && readAttribute(supply / "online") == "1") return DeviceConditions::Power::ac;
    if (type == "Battery" && readAttribute(supply / "status") == "Discharging") batteryDischarging = true;
  }
  return batteryDischarging ? DeviceConditions::Power::battery : DeviceConditions::Power::ac;
}

bool probeNetworkUp() {
  for (const auto& interface : entries("/sys/class/net")) {
    if (interface.filename() == "lo" || readAttribute(interface / "type") == "772") continue;  // ARPHRD_LOOPBACK
    const std::string state = readAttribute(interface / "operstate");
    if (state == "up" || (state == "unknown" && readAttribute(interface / "carrier") == "1")) return true;
  }
  return false;
}

// The nmcli executable that PATH finds, or "" when there is none.
std::string findNmcli() {
  const char* path = std::getenv("PATH");
  std::string_view folders = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const auto colon = folders.find(':');
    std::string folder(folders.substr(0, colon));
    if (folder.empty()) folder = ".";
    const std::string candidate = folder + "/nmcli";
    std::error_code error;
    if (std::filesystem::is_regular_file(candidate, error) && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    if (colon == std::string_view::npos) return {};
    folders.remove_prefix(colon + 1);
  }
}

// True when nmcli's `GENERAL.METERED` values name a metered device. Disconnected devices
// report "unknown", so any "yes" belongs to a connected one.
bool parseNmcliMetered(const std::string& output) {
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    const std::string value = lowercase(trim(line));
    if (value == "yes" || value == "yes (guessed)") return true;
  }
  return false;
}

// NetworkManager's metered flag, from `nmcli -t -g GENERAL.METERED device show` run with
// uv_spawn on the loop and read asynchronously: the loop never waits for nmcli. The answer is
// cached process-wide for 30 s per nmcli path (a different nmcli on PATH asks again).
class MeteredProbe {
 public:
  static MeteredProbe& shared() {
    static auto* probe = new MeteredProbe();  // leaked: a run may finish during static destruction
    return *probe;
  }

  // The metered flag for the nmcli on PATH (false when there is none); a stale answer starts a
  // run on `loop`. On the loop thread this never waits: until nmcli has answered once, a
  // network counts as metered (the cautious guess: discretionary work waits a moment), and
  // `refreshed` is called on the loop thread when the run ends. On another thread it waits up
  // to 2 s for a fresh answer.
  bool metered(engine::Loop& loop, std::function<void()> refreshed) {
    const std::string nmcli = findNmcli();
    if (nmcli.empty()) return false;
    const bool onLoop = loop.isLoopThread();
    const auto giveUp = Clock::now() + nmcliWaitOffLoop;
    std::unique_lock lock(mutex_);
    for (;;) {
      const bool recent = nmcli_ == nmcli && Clock::now() - askedAt_ < nmcliInterval;
      if (!recent && !running_) {
        if (nmcli_ != nmcli) answered_ = false;
        nmcli_ = nmcli;
        askedAt_ = Clock::now();
        running_ = true;
        // Posted even from the loop thread, so that the run (and a spawn failure) never
        // calls back into the caller's stack.
        loop.post([this, &loop, nmcli] { start(loop, nmcli); });
      }
      const bool known = answered_ && nmcli_ == nmcli;
      if (onLoop) {
        if (refreshed && running_) waiters_.push_back(std::move(refreshed));
        return known ? metered_ : true;
      }
      if ((known && !running_) || Clock::now() >= giveUp) return known ? metered_ : true;
      done_.wait_until(lock, giveUp, [&] { return !running_; });
    }
  }

 private:
  // One nmcli run: the process, its stdout pipe and a kill timer, freed once all three closed.
  struct Run {
    MeteredProbe* probe = nullptr;
    uv_process_t process{};
    uv_pipe_t output{};
    uv_timer_t deadline{};
    std::string text;
    bool spawned = false, exited = false, eof = false, finished = false, succeeded = false;
    bool processClosing = false;
    int open = 0;
    char buffer[4096];
  };

  // On the loop thread: spawns nmcli with LC_ALL=C (its values are translated otherwise).
  void start(engine::Loop& loop, const std::string& nmcli) {
    auto* run = new Run{};
    run->probe = this;
    uv_pipe_init(loop.uv(), &run->output, 0);
    uv_timer_init(loop.uv(), &run->deadline);
    run->output.data = run->process.data = run->deadline.data = run;

    std::vector<std::string> environment;
    for (char** entry = environ; entry && *entry; ++entry) {
      if (std::strncmp(*entry, "LC_ALL=", 7) != 0 && std::strncmp(*entry, "LANGUAGE=", 9) != 0) {
        environment.emplace_back(*entry);
      }
    }
    environment.emplace_back("LC_ALL=C");
    std::vector<char*> env;
    for (auto& entry : environment) env.push_back(entry.data());
    env.push_back(nullptr);
    std::vector<std::string> arguments = {nmcli, "-t", "-g", "GENERAL.METERED", "device", "show"};
    std::vector<char*> args;
    for (auto& argument : arguments) args.push_back(argument.data());
    args.push_back(nullptr);

    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
    stdio[1].data.stream = reinterpret_cast<uv_stream_t*>(&run->output);
    stdio[2].flags = UV_IGNORE;
    uv_process_options_t options{};
    options.exit_cb = &MeteredProbe::onExit;
    options.file = nmcli.c_str();
    options.args = args.data();
    options.env = env.data();
    options.stdio_count = 3;
    options.stdio = stdio;

    // uv_spawn initialises the process handle even when it fails, so all three get closed.
    run->open = 3;
    if (uv_spawn(loop.uv(), &run->process, &options) != 0) {
      finish(run);
      return;
    }
    run->spawned = true;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&run->output), &MeteredProbe::onAlloc, &MeteredProbe::onRead);
    uv_timer_start(&run->deadline, &MeteredProbe::onDeadline, nmcliTimeoutMs, 0);
  }

  static void onAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
    auto* run = static_cast<Run*>(handle->data);
    *buf = uv_buf_init(run->buffer, sizeof run->buffer);
  }

  static void onRead(uv_stream_t* stream, ssize_t size, const uv_buf_t*) {
    auto* run = static_cast<Run*>(stream->data);
    if (size > 0) {
      if (run->text.size() < 65536) run->text.append(run->buffer, static_cast<std::size_t>(size));
    } else if (size < 0) {
      uv_read_stop(stream);
      run->eof = true;
      if (run->exited) finish(run);
    }
  }

  static void onExit(uv_process_t* process, int64_t status, int signal) {
    auto* run = static_cast<Run*>(process->data);
    run->exited = true;
    if (run->finished) {
      closeProcess(run);  // killed at the deadline: reaped now, so no zombie stays behind
      return;
    }
    run->succeeded = status == 0 && signal == 0;
    if (run->eof) finish(run);
  }

  static void onDeadline(uv_timer_t* timer) {
    auto* run = static_cast<Run*>(timer->data);
    if (!run->exited) uv_process_kill(&run->process, SIGKILL);
    run->succeeded = false;
    finish(run);
  }

  static void onClosed(uv_handle_t* handle) {
    auto* run = static_cast<Run*>(handle->data);
    if (--run->open == 0) delete run;
  }

  static void closeProcess(Run* run) {
    if (run->processClosing) return;
    run->processClosing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&run->process), &MeteredProbe::onClosed);
  }

  // Records the answer (a failed or killed nmcli means "not metered"), closes the handles and
  // calls the waiters. A process still running (killed at the deadline) keeps its handle
  // until libuv reaps it.
  static void finish(Run* run) {
    if (run->finished) return;
    run->finished = true;
    MeteredProbe& probe = *run->probe;
    std::vector<std::function<void()>> waiters;
    {
      const std::lock_guard lock(probe.mutex_);
      probe.metered_ = run->succeeded && parseNmcliMetered(run->text);
      probe.answered_ = true;
      probe.running_ = false;
      waiters.swap(probe.waiters_);
    }
    probe.done_.notify_all();
    uv_timer_stop(&run->deadline);
    uv_close(reinterpret_cast<uv_handle_t*>(&run->output), &MeteredProbe::onClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&run->deadline), &MeteredProbe::onClosed);
    if (!run->spawned || run->exited) closeProcess(run);
    for (auto& waiter : waiters) waiter();
  }

  std::mutex mutex_;
  std::condition_variable done_;
  std::string nmcli_;          // the nmcli the answer (or the run) belongs to
  Clock::time_point askedAt_;  // when that run started
  bool answered_ = false, metered_ = false, running_ = false;
  std::vector<std::function<void()>> waiters_;
};

DeviceConditions probe(engine::Loop& loop, std::function<void()> refreshed) {
  DeviceConditions conditions;
  conditions.power = probePower();
  if (!probeNetworkUp()) {
    conditions.network = DeviceConditions::Network::none;
  } else if (MeteredProbe::shared().metered(loop, std::move(refreshed))) {
    conditions.network = DeviceConditions::Network::metered;
  }
  return conditions;
}

// The conditions file's text, or nullopt when it cannot be read or holds nothing: a missing
// file, or one caught empty halfway through being rewritten, keeps the last known conditions.
std::optional<std::string> readConditionsFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  std::string result = text.str();
  if (trim(result).empty()) return std::nullopt;
  return result;
}

}  // namespace

DeviceConditions parseConditions(const std::string& text) {
  DeviceConditions conditions;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const auto equals = line.find('=');
    if (equals == std::string::npos) continue;
    const std::string key = lowercase(trim(std::string_view(line).substr(0, equals)));
    const std::string value = lowercase(trim(std::string_view(line).substr(equals + 1)));
    if (key == "power") {
      if (value == "ac") conditions.power = DeviceConditions::Power::ac;
      if (value == "battery") conditions.power = DeviceConditions::Power::battery;
    } else if (key == "network") {
      if (value == "unmetered") conditions.network = DeviceConditions::Network::unmetered;
      if (value == "metered") conditions.network = DeviceConditions::Network::metered;
      if (value == "none") conditions.network = DeviceConditions::Network::none;
    }
  }
  return conditions;
}

// Probes from any thread. On the loop thread it never waits for nmcli (see MeteredProbe).
DeviceConditions probeSystemConditions() { return probe(engine::Loop::shared(), nullptr); }

struct ConditionsMonitor::State {
  State(engine::Loop& loop, std::function<void(const DeviceConditions&)> onChange)
      : loop(loop), onChange(std::move(onChange)), timer(loop) {
    const char* path = std::getenv("FOUNDATION_NET_CONDITIONS_FILE");
    if (path && *path) file = path;
  }

  // Reads the conditions now; nullopt when the file gives nothing new to go on.
  std::optional<DeviceConditions> read() {
    if (file) {
      auto text = readConditionsFile(*file);
      if (!text) return std::nullopt;
      return parseConditions(*text);
    }
    // When nmcli answers later, check again at once rather than at the next tick.
    return probe(loop, [this, alive = std::weak_ptr<bool>(alive)] {
      if (alive.lock()) check();
    });
  }

  void schedule() {
    const auto interval = file ? fileInterval : probeInterval;
    timer.start(static_cast<std::uint64_t>(interval.count()), [this] {
      schedule();
      check();
    });
  }

  // Calls a copy of onChange, last: it may destroy the monitor (and the original with it).
  void check() {
    const auto now = read();
    if (!now) return;
    {
      const std::lock_guard lock(mutex);
      if (*now == conditions) return;
      conditions = *now;
    }
    const auto callback = onChange;
    callback(*now);
  }

  engine::Loop& loop;
  std::function<void(const DeviceConditions&)> onChange;
  engine::Timer timer;
  std::optional<std::string> file;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);  // for nmcli answers after destruction
  mutable std::mutex mutex;  // current() may be called from any thread
  DeviceConditions conditions;
};

// A missing conditions file at start means the defaults (ac, unmetered).
ConditionsMonitor::ConditionsMonitor(engine::Loop& loop, std::function<void(const DeviceConditions&)> onChange)
    : state_(std::make_unique<State>(loop, std::move(onChange))) {
  if (auto initial = state_->read()) state_->conditions = *initial;
  state_->schedule();
}

ConditionsMonitor::~ConditionsMonitor() = default;

DeviceConditions ConditionsMonitor::current() const {
  const std::lock_guard lock(state_->mutex);
  return state_->conditions;
}

}  // namespace foundation::daemon

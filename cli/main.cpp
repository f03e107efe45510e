// urlsession: look at and use the background-transfer daemon from the command line.
//
//   urlsession daemon status          is a daemon serving the socket; what it is doing
//   urlsession tasks [--app ID]       every task the daemon keeps (starts the daemon if needed)
//   urlsession download URL --background ID [--earliest-begin WHEN] [--discretionary] [-o FILE]
//
// Status and listing ask the daemon over its socket (wire types status/listTasks); the
// download is an ordinary app of the library: a background URLSession with a delegate.
#include <uv.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include <foundation_net/foundation_net.hpp>

#include "background/Protocol.hpp"
#include "cli/DaemonQuery.hpp"
#include "operations/ResultStore.hpp"

using namespace foundation;
namespace tag = wire::tag;
namespace fs = std::filesystem;
using SystemClock = std::chrono::system_clock;

namespace {

const char* mainUsage =
    "usage: urlsession COMMAND [OPTIONS]\n"
    "Commands:\n"
    "  daemon status    whether urlsessiond serves this user's socket, and what it is doing\n"
    "  tasks            every task urlsessiond keeps: state, bytes, next attempt\n"
    "  download URL     a background download through urlsessiond, saved when it is done\n"
    "Run `urlsession COMMAND --help` for a command's options.\n"
    "Environment: FOUNDATION_NET_RUNTIME_DIR (socket), FOUNDATION_NET_STATE_DIR,\n"
    "  FOUNDATION_NET_DAEMON (urlsessiond to start), FOUNDATION_NET_APP_ID (download's app id).\n";

const char* statusUsage =
    "usage: urlsession daemon status\n"
    "Asks the urlsessiond serving this user's socket for its pid, uptime, sessions, tasks by\n"
    "state and running transfers. Does not start a daemon. Exit status 0 when a daemon\n"
    "answered, 1 when none serves the socket.\n";

const char* tasksUsage =
    "usage: urlsession tasks [--app ID]\n"
    "Lists every task urlsessiond keeps — waiting, scheduled, retrying, running, suspended,\n"
    "and completed but not yet delivered to its app — one line each: app, session, task id,\n"
    "kind, state, bytes received/expected, bytes sent/expected, retries, next attempt\n"
    "(earliestBeginDate or retry time), description.\n"
    "  --app ID   only the tasks of this app id\n"
    "The tasks live in urlsessiond's store, so when no daemon runs one is started, as the\n"
    "library does; it resumes what it stored and exits again when idle.\n";

const char* downloadUsage =
    "usage: urlsession download URL --background ID [--earliest-begin WHEN] [--discretionary] [-o FILE]\n"
    "Downloads URL in the background session ID (URLSessionConfiguration::background) of\n"
    "app \"urlsession\" (or $FOUNDATION_NET_APP_ID), shows its progress, and moves the file\n"
    "to FILE when it is done. If this command is interrupted, urlsessiond carries on: the same\n"
    "command again waits for the same task, and saves what finished meanwhile.\n"
    "  --background ID        the background session identifier (required)\n"
    "  --earliest-begin WHEN  not before WHEN: +30s, +5m, +1h, +2d, or an ISO 8601 time\n"
    "                         (2026-12-01T09:30:00Z, 2026-12-01T10:30:00+01:00; no zone: local)\n"
    "  --discretionary        only on AC power and an unmetered network (isDiscretionary)\n"
    "  -o FILE                where to put the file (default: the URL's last path component)\n"
    "Exit status 0 when the file is saved; 1 on a transfer error or an HTTP status >= 400.\n";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

bool isHelp(const std::string& argument) { return argument == "--help" || argument == "-h"; }

std::string formatBytes(std::int64_t bytes) {
  if (bytes < 0) return "?";
  if (bytes < 1024) return fmt::format("{} B", bytes);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  int unit = 0;
  for (; value >= 1024 && unit < 3; ++unit) value /= 1024;
  return fmt::format("{:.1f} {}", value, units[unit]);
}

std::string formatDuration(std::int64_t milliseconds) {
  auto seconds = milliseconds / 1000;
  if (seconds < 60) return fmt::format("{}s", seconds);
  if (seconds < 3600) return fmt::format("{}m{:02}s", seconds / 60, seconds % 60);
  if (seconds < 86400) return fmt::format("{}h{:02}m", seconds / 3600, seconds / 60 % 60);
  return fmt::format("{}d{:02}h", seconds / 86400, seconds / 3600 % 24);
}

std::int64_t nowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(SystemClock::now().time_since_epoch()).count();
}

// A point in time as local ISO 8601 with the distance from now: "2026-12-01T10:30:00 (in 59m58s)".
std::string formatTime(std::int64_t millis) {
  std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", std::localtime(&seconds));  // main thread only
  auto delta = millis - nowMillis();
  return fmt::format("{} ({} {})", text, delta >= 0 ? "in" : "since", formatDuration(delta >= 0 ? delta : -delta));
}

// "+30s" / "+5m" / "+1h" / "+2d" from now, or ISO 8601 with Z, ±HH:MM or no zone (local time).
Date parseWhen(const std::string& text) {
  if (!text.empty() && text[0] == '+') {
    char* end = nullptr;
    errno = 0;
    double amount = std::strtod(text.c_str() + 1, &end);
    std::string unit = end ? end : "";
    double scale = unit == "s" || unit.empty() ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : -1;
    if (errno != 0 || end == text.c_str() + 1 || scale < 0 || amount < 0)
      throw UsageError("--earliest-begin: not a delay like +30s, +5m, +1h, +2d: " + text);
    return SystemClock::now() + std::chrono::milliseconds(static_cast<std::int64_t>(amount * scale * 1000));
  }
  // YYYY-MM-DD[T ]HH:MM[:SS][Z|±HH:MM], read by hand (no strptime/timegm: not on every platform).
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, used = 0;
  char separator = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%c%2d:%2d%n", &year, &month, &day, &separator, &hour, &minute, &used) < 6 ||
      (separator != 'T' && separator != ' '))
    throw UsageError("--earliest-begin: not +DELAY or an ISO 8601 time: " + text);
  std::string zone = text.substr(static_cast<std::size_t>(used));
  if (!zone.empty() && zone[0] == ':') {
    int more = 0;
    if (std::sscanf(zone.c_str(), ":%2d%n", &second, &more) < 1) throw UsageError("--earliest-begin: bad seconds in " + text);
    zone.erase(0, static_cast<std::size_t>(more));
  }
  const std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok() || hour > 23 || minute > 59 || second > 60) throw UsageError("--earliest-begin: no such time: " + text);
  if (zone.empty()) {  // local time
    std::tm parts{};
    parts.tm_year = year - 1900;
    parts.tm_mon = month - 1;
    parts.tm_mday = day;
    parts.tm_hour = hour;
    parts.tm_min = minute;
    parts.tm_sec = second;
    parts.tm_isdst = -1;
    return SystemClock::from_time_t(std::mktime(&parts));
  }
  std::chrono::seconds offset{0};
  if (zone != "Z") {
    int hours = 0, minutes = 0;
    char sign = 0;
    if (std::sscanf(zone.c_str(), "%c%2d:%2d", &sign, &hours, &minutes) != 3 || (sign != '+' && sign != '-'))
      throw UsageError("--earliest-begin: bad time zone in " + text);
    offset = std::chrono::seconds((sign == '+' ? 1 : -1) * (hours * 3600 + minutes * 60));
  }
  return std::chrono::sys_days(date) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
         std::chrono::seconds(second) - offset;
}

// ---- daemon status, tasks ---------------------------------------------------------------------

const char* kindName(std::int64_t kind) { return kind == 0 ? "data" : kind == 1 ? "upload" : "download"; }

// The daemon's state of a task, with "waiting" told apart by what it waits for.
std::string stateName(const wire::Message& task) {
  switch (task.integer(tag::daemonTaskState).value_or(0)) {
    case 1: return "running";
    case 2: return "suspended";
    case 3: return "completed";
    default: break;
  }
  auto now = nowMillis();
  if (auto at = task.integer(tag::earliestBegin); at && *at > now) return "scheduled";
  if (task.integer(tag::nextAttemptAt).value_or(0) > now) return "retrying";
  return "waiting";
}

std::string urlOf(const wire::Message& task) {
  auto request = task.nested(tag::request);
  auto decoded = request ? wire::decodeRequest(*request) : std::nullopt;
  return decoded && decoded->url ? decoded->url->absoluteString() : "?";
}

// The next time the daemon will consider the task: its earliestBeginDate or its retry time.
std::string nextAttempt(const wire::Message& task, const std::string& state) {
  if (state == "scheduled") return formatTime(*task.integer(tag::earliestBegin));
  if (state == "retrying") return formatTime(*task.integer(tag::nextAttemptAt));
  return "-";
}

std::string ofExpected(std::int64_t bytes, std::int64_t expected) {
  return fmt::format("{}/{}", bytes, expected >= 0 ? std::to_string(expected) : std::string("?"));
}

int daemonStatus(const std::vector<std::string>& arguments) {
  for (const auto& a : arguments) {
    if (isHelp(a)) return std::fputs(statusUsage, stdout), 0;
    throw UsageError("daemon status: unknown argument " + a);
  }
  std::string failure;
  auto report = cli::askDaemon(wire::Message(wire::Type::status), false, failure);
  if (!report || report->type() != wire::Type::statusReport) {
    fmt::print(stderr, "urlsession: {}\n", report ? "unexpected answer from urlsessiond" : failure);
    return 1;
  }
  auto count = [&](std::uint16_t t) { return report->integer(t).value_or(0); };
  fmt::print("urlsessiond is running: pid {}, socket {}\n", count(tag::pid), background::socketPath());
  fmt::print("uptime: {}\n", formatDuration(count(tag::uptimeMs)));
  fmt::print("sessions: {}\n", count(tag::sessionCount));
  fmt::print("tasks: {} waiting, {} running, {} suspended, {} completed ({} events not yet acknowledged)\n",
             count(tag::waitingCount), count(tag::runningCount), count(tag::suspendedCount),
             count(tag::completedCount), count(tag::pendingEventCount));
  auto running = report->allBytes(tag::task);
  fmt::print("running transfers: {}\n", running.size());
  for (const auto& bytes : running) {
    auto task = wire::Message::decode(bytes);
    if (!task) continue;
    fmt::print("  {} {} #{} {} received {} sent {} {}\n", task->bytes(tag::appId).value_or("?"),
               task->bytes(tag::sessionId).value_or("?"), task->integer(tag::taskId).value_or(0),
               kindName(task->integer(tag::taskKind).value_or(2)),
               ofExpected(task->integer(tag::bytes).value_or(0), task->integer(tag::expectedBytes).value_or(-1)),
               ofExpected(task->integer(tag::bytesSent).value_or(0), task->integer(tag::bytesExpectedToSend).value_or(0)),
               urlOf(*task));
  }
  return 0;
}

int listTasks(const std::vector<std::string>& arguments) {
  wire::Message request(wire::Type::listTasks);
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    if (isHelp(arguments[i])) return std::fputs(tasksUsage, stdout), 0;
    if (arguments[i] == "--app" && i + 1 < arguments.size()) {
      request.add(tag::appId, arguments[++i]);
    } else {
      throw UsageError("tasks: unknown argument " + arguments[i]);
    }
  }
  std::string failure;
  auto list = cli::askDaemon(request, true, failure);
  if (!list || list->type() != wire::Type::taskList) {
    fmt::print(stderr, "urlsession: {}\n", list ? "unexpected answer from urlsessiond" : failure);
    return 1;
  }
  auto tasks = list->allBytes(tag::task);
  if (tasks.empty()) {
    fmt::print("no tasks\n");
    return 0;
  }
  fmt::print("{:<14} {:<14} {:>5} {:<8} {:<10} {:>23} {:>23} {:>7}  {:<36} {}\n", "APP", "SESSION", "TASK", "KIND",
             "STATE", "RECEIVED/EXPECTED", "SENT/EXPECTED", "RETRIES", "NEXT ATTEMPT", "DESCRIPTION / URL");
  bool anyDiscretionary = false;
  for (const auto& bytes : tasks) {
    auto task = wire::Message::decode(bytes);
    if (!task) continue;
    auto state = stateName(*task);
    anyDiscretionary |= task->integer(tag::discretionary).value_or(0) != 0;
    auto description = task->bytes(tag::description).value_or("");
    fmt::print("{:<14} {:<14} {:>5} {:<8} {:<10} {:>23} {:>23} {:>7}  {:<36} {}\n",
               task->bytes(tag::appId).value_or("?"), task->bytes(tag::sessionId).value_or("?"),
               task->integer(tag::taskId).value_or(0), kindName(task->integer(tag::taskKind).value_or(2)),
               state + (task->integer(tag::discretionary).value_or(0) ? "*" : ""),
               ofExpected(task->integer(tag::bytes).value_or(0), task->integer(tag::expectedBytes).value_or(-1)),
               ofExpected(task->integer(tag::bytesSent).value_or(0), task->integer(tag::bytesExpectedToSend).value_or(0)),
               std::max<std::int64_t>(0, task->integer(tag::attempts).value_or(0) - 1), nextAttempt(*task, state),
               description.empty() ? urlOf(*task) : description + "  " + urlOf(*task));
  }
  if (anyDiscretionary) fmt::print("(* discretionary: waits for AC power and an unmetered network)\n");
  return 0;
}

// ---- download ---------------------------------------------------------------------------------

// Every download this command starts carries its destination in its taskDescription, so a run
// that attaches the session later can still save what an interrupted run started.
constexpr std::string_view destinationPrefix = "urlsession download to ";

std::optional<std::string> destinationOf(const URLSessionTask& task) {
  auto description = task.taskDescription();
  if (description.rfind(destinationPrefix, 0) != 0) return std::nullopt;
  return description.substr(destinationPrefix.size());
}

class DownloadDelegate final : public URLSessionDownloadDelegate {
 public:
  DownloadDelegate(std::string destination, bool terminal)
      : ours_(std::string(destinationPrefix) + destination), terminal_(terminal) {}

  std::promise<int> done;  // the exit status, once our task completed

  void didWriteData(URLSession&, URLSessionDownloadTask& task, std::int64_t, std::int64_t total,
                    std::int64_t expected) override {
    if (task.taskDescription() != ours_) return;
    auto now = std::chrono::steady_clock::now();
    if (now - lastShown_ < (terminal_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(1000))) return;
    lastShown_ = now;
    showProgress(total, expected);
  }

  void didFinishDownloadingTo(URLSession&, URLSessionDownloadTask& task, const URL& location) override {
    auto destination = destinationOf(task);
    if (!destination) return;  // not one of ours: the app that made it gets it
    auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(task.response());
    std::lock_guard lock(mutex_);
    auto& outcome = outcomes_[task.taskIdentifier()];
    if (http && http->statusCode() >= 400) {
      outcome = fmt::format("the server answered HTTP {}; nothing saved", http->statusCode());
    } else if (auto failure = operations::moveFile(location.path(), *destination)) {
      outcome = fmt::format("cannot save {}: {}", *destination, failure.message());
    } else {
      outcome = "";
      saved_[task.taskIdentifier()] = fs::file_size(*destination);
    }
  }

  void didCompleteWithError(URLSession&, URLSessionTask& task, const std::optional<Error>& error) override {
    auto destination = destinationOf(task);
    if (!destination) return;
    std::string failure;
    std::uint64_t size = 0;
    {
      std::lock_guard lock(mutex_);
      auto outcome = outcomes_.find(task.taskIdentifier());
      failure = error ? fmt::format("{} ({})", error->localizedDescription, error->code)
                      : outcome == outcomes_.end() ? "the transfer ended without a file" : outcome->second;
      size = saved_[task.taskIdentifier()];
    }
    bool mine = task.taskDescription() == ours_;
    if (terminal_ && mine) std::fputs("\r\033[K", stdout);
    if (failure.empty()) {
      fmt::print("{} {} bytes to {}\n", mine ? "downloaded" : "saved an earlier download:", size, *destination);
    } else {
      fmt::print(stderr, "urlsession: {}{}\n", mine ? "" : "an earlier download to " + *destination + ": ", failure);
    }
    std::fflush(stdout);
    if (mine) {
      finishedTask_ = task.taskIdentifier();
      if (!signalled_.exchange(true)) done.set_value(failure.empty() ? 0 : 1);
    }
  }

  std::uint64_t finishedTask() const { return finishedTask_; }

 private:
  void showProgress(std::int64_t total, std::int64_t expected) {
    if (!terminal_) {
      fmt::print("progress {} of {}\n", total, expected >= 0 ? std::to_string(expected) : std::string("?"));
    } else if (expected > 0) {
      constexpr int width = 30;
      int filled = static_cast<int>(std::min<std::int64_t>(width, total * width / expected));
      fmt::print("\r\033[K[{}{}] {:3}%  {} of {}", std::string(static_cast<std::size_t>(filled), '#'),
                 std::string(static_cast<std::size_t>(width - filled), '.'), total * 100 / expected,
                 formatBytes(total), formatBytes(expected));
    } else {
      fmt::print("\r\033[K{} received", formatBytes(total));
    }
    std::fflush(stdout);
  }

  const std::string ours_;
  const bool terminal_;
  std::chrono::steady_clock::time_point lastShown_{};
  std::mutex mutex_;
  std::map<std::uint64_t, std::string> outcomes_;  // "" saved, else why not
  std::map<std::uint64_t, std::uint64_t> saved_;
  std::atomic<bool> signalled_{false};
  std::atomic<std::uint64_t> finishedTask_{0};
};

// Waits until the daemon has forgotten the task, i.e. our acknowledgement of its completion
// arrived: leaving earlier would have the daemon deliver it again on the next attach.
void waitForAcknowledgement(const std::string& sessionId, std::uint64_t taskId) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string failure;
    auto list = cli::askDaemon(wire::Message(wire::Type::listTasks).add(tag::appId, background::appIdentifier()),
                               false, failure, std::chrono::seconds(2));
    if (!list) return;
    bool present = false;
    for (const auto& bytes : list->allBytes(tag::task)) {
      auto task = wire::Message::decode(bytes);
      present |= task && task->bytes(tag::sessionId) == sessionId &&
                 task->integer(tag::taskId) == static_cast<std::int64_t>(taskId);
    }
    if (!present) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int download(const std::vector<std::string>& arguments) {
  std::optional<std::string> url, sessionId, output;
  std::optional<Date> earliest;
  bool discretionary = false;
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    const auto& a = arguments[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= arguments.size()) throw UsageError("download: " + a + " needs a value");
      return arguments[++i];
    };
    if (isHelp(a)) return std::fputs(downloadUsage, stdout), 0;
    if (a == "--background") sessionId = value();
    else if (a == "--earliest-begin") earliest = parseWhen(value());
    else if (a == "--discretionary") discretionary = true;
    else if (a == "-o" || a == "--output") output = value();
    else if (!a.empty() && a[0] == '-') throw UsageError("download: unknown option " + a);
    else if (!url) url = a;
    else throw UsageError("download: more than one URL");
  }
  if (!url) throw UsageError("download: no URL");
  if (!sessionId || sessionId->empty()) throw UsageError("download: --background ID is required");
  auto parsed = URL::fromString(*url);
  if (!parsed) throw UsageError("download: not an absolute URL: " + *url);
  const URL source = *parsed;
  if (source.scheme() != "http" && source.scheme() != "https")
    throw UsageError("download: background sessions load http and https URLs only: " + *url);
  if (!output) {
    auto name = source.lastPathComponent();
    if (name.empty() || name == "/") throw UsageError("download: " + *url + " has no file name; pass -o FILE");
    output = name;
  }
  std::error_code ignored;
  const std::string destination = fs::absolute(*output, ignored).lexically_normal().string();

  auto configuration = URLSessionConfiguration::background(*sessionId);
  configuration.isDiscretionary = discretionary;
  auto delegate = std::make_shared<DownloadDelegate>(destination, uv_guess_handle(1) == UV_TTY);
  auto session = URLSession::make(configuration, delegate);

  // The same download from an interrupted run: wait for that task instead of starting another.
  std::promise<std::shared_ptr<URLSessionTask>> found;
  session->getAllTasks([&](std::vector<std::shared_ptr<URLSessionTask>> tasks) {
    std::shared_ptr<URLSessionTask> same;
    for (auto& task : tasks) {
      auto request = task->originalRequest();
      if (destinationOf(*task) == destination && request && request->url && request->url->absoluteString() == source.absoluteString())
        same = task;
    }
    found.set_value(same);
  });
  auto task = found.get_future().get();
  if (task) {
    fmt::print("continuing task {} of session {}\n", task->taskIdentifier(), *sessionId);
    task->resume();
  } else {
    task = session->downloadTask(source);
    task->setTaskDescription(std::string(destinationPrefix) + destination);
    if (earliest) task->setEarliestBeginDate(*earliest);
    task->resume();
    fmt::print("task {} of session {}: {} -> {}\n", task->taskIdentifier(), *sessionId, *url, destination);
  }
  if (auto at = task->earliestBeginDate(); at && *at > SystemClock::now()) {
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(at->time_since_epoch()).count();
    fmt::print("scheduled: not before {}; interrupting this command leaves the task to urlsessiond\n", formatTime(millis));
  }
  std::fflush(stdout);
  int status = delegate->done.get_future().get();
  waitForAcknowledgement(*sessionId, delegate->finishedTask());
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> arguments(argv + 1, argv + argc);
  try {
    if (arguments.empty()) throw UsageError("no command");
    const std::string command = arguments[0];
    if (isHelp(command)) return std::fputs(mainUsage, stdout), 0;
    std::vector<std::string> rest(arguments.begin() + 1, arguments.end());
    if (command == "daemon") {
      if (!rest.empty() && isHelp(rest[0])) return std::fputs(statusUsage, stdout), 0;
      if (rest.empty() || rest[0] != "status") throw UsageError("daemon: the only subcommand is status");
      return daemonStatus({rest.begin() + 1, rest.end()});
    }
    if (command == "tasks") return listTasks(rest);
    if (command == "download") return download(rest);
    throw UsageError("unknown command " + command);
  } catch (const UsageError& error) {
    fmt::print(stderr, "urlsession: {}\nRun `urlsession --help` for usage.\n", error.what());
    return 2;
  } catch (const std::exception& error) {
    fmt::print(stderr, "urlsession: {}\n", error.what());
    return 1;
  }
}

// bench-background: issue 3's targets for background sessions, against a urlsessiond of its own
// (private runtime and state folders under $TMPDIR) and the out-of-process fntest-server.
//
//   enqueue   an app (a fresh child process) creates N background download tasks due in a day
//             and resumes them; timed until the daemon reports all N stored (status request)
//   memory    the daemon's peak RSS (VmHWM of its /proc/PID/status) after that, after a
//             restart with the N tasks attached, and after the large downloads
//   restart   SIGKILL the daemon, start it again, time until it answers an attach of the
//             session with all N tasks
//   download  one large body through a background session (the daemon downloads, the app gets
//             didFinishDownloadingTo) and through a default session in-process, each in a fresh
//             child process, rounds interleaved; resume() → didFinishDownloadingTo
//
//   bench-background [--tasks 10000] [--size 536870912] [--rounds 3] [--server PATH] [--daemon PATH]
//   bench-background --variant enqueue --url URL --tasks N                (child)
//   bench-background --variant background|default --url URL --size BYTES (child)
#include <sys/stat.h>

#include <filesystem>
#include <iterator>
#include <sstream>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include <foundation_net/foundation_net.hpp>

#include "background/Protocol.hpp"
#include "bench_util.hpp"
#include "cli/DaemonQuery.hpp"

using namespace foundation;
namespace tag = wire::tag;

namespace {

constexpr const char* manyTasksSession = "bench-many";

// The daemon's status answer, or nullopt when none serves the socket yet.
std::optional<wire::Message> status() {
  std::string failure;
  return cli::askDaemon(wire::Message(wire::Type::status), false, failure, std::chrono::seconds(10));
}

// ---- child side ----------------------------------------------------------------------------

int enqueue(const std::string& url, std::uint64_t count) {
  auto session = URLSession::make(URLSessionConfiguration::background(manyTasksSession), nullptr);
  const auto start = bench::Clock::now();
  const auto due = std::chrono::system_clock::now() + std::chrono::hours(24);
  for (std::uint64_t i = 0; i < count; ++i) {
    auto task = session->downloadTask(URL(url + "&i=" + std::to_string(i)));
    task->setTaskDescription("bench task " + std::to_string(i));
    task->setEarliestBeginDate(due);
    task->resume();
  }
  const double created = bench::secondsSince(start);
  // Stored: the daemon counts them (it commits a task before it counts it).
  std::int64_t stored = 0;
  while (stored < static_cast<std::int64_t>(count)) {
    auto report = status();
    if (!report) {
      fmt::print(stderr, "enqueue: the daemon stopped answering\n");
      return 1;
    }
    stored = report->integer(tag::waitingCount).value_or(0);
    if (stored < static_cast<std::int64_t>(count)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (bench::secondsSince(start) > 600) {
      fmt::print(stderr, "enqueue: only {} of {} tasks stored after 600 s\n", stored, count);
      return 1;
    }
  }
  fmt::print("RESULT created_seconds={:.6f} stored_seconds={:.6f}\n", created, bench::secondsSince(start));
  std::fflush(stdout);
  return 0;
}

class DownloadDelegate final : public URLSessionDownloadDelegate {
 public:
  bench::Clock::time_point start;
  std::promise<void> done;
  double seconds = -1;
  std::uint64_t bytes = 0;
  bool ok = false;

  void didFinishDownloadingTo(URLSession&, URLSessionDownloadTask& task, const URL& location) override {
    seconds = bench::secondsSince(start);
    struct stat st {};
    if (::stat(location.path().c_str(), &st) == 0) bytes = static_cast<std::uint64_t>(st.st_size);
    auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(task.response());
    ok = http && http->statusCode() == 200;
  }
  void didCompleteWithError(URLSession&, URLSessionTask&, const std::optional<Error>& error) override {
    if (error) {
      fmt::print(stderr, "download: {} ({})\n", error->localizedDescription, error->code);
      ok = false;
    }
    done.set_value();
  }
};

int download(const std::string& variant, const std::string& url, std::uint64_t size) {
  auto delegate = std::make_shared<DownloadDelegate>();
  auto configuration = variant == "background"
                           ? URLSessionConfiguration::background("bench-big-" + std::to_string(::getpid()))
                           : URLSessionConfiguration::defaultConfiguration();
  auto session = URLSession::make(configuration, delegate);
  auto finished = delegate->done.get_future();
  auto task = session->downloadTask(URL(url));
  delegate->start = bench::Clock::now();
  task->resume();
  bench::waitOrDie(finished, "download");
  bool ok = delegate->ok && delegate->bytes == size;
  fmt::print("RESULT ok={} seconds={:.6f}\n", ok ? 1 : 0, delegate->seconds);
  std::fflush(stdout);
  // Let the acknowledgement reach the daemon, so that it removes the staged file now.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return ok ? 0 : 1;
}

// ---- parent side ---------------------------------------------------------------------------

// urlsessiond --foreground as our child, so that we can SIGKILL and reap it.
class DaemonProcess {
 public:
  explicit DaemonProcess(const std::string& path) {
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      execl(path.c_str(), path.c_str(), "--foreground", static_cast<char*>(nullptr));
      std::perror("exec urlsessiond");
      _exit(127);
    }
  }
  ~DaemonProcess() { kill(SIGTERM); }
  void kill(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  // A field of the daemon's /proc/PID/status in KiB.
  long statusKiB(std::string_view field) const {
    return bench::statusKiB(field, "/proc/" + std::to_string(pid_) + "/status");
  }
  // The daemon's CPU time so far (user + system, from /proc/PID/stat), in seconds.
  double cpuSeconds() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::istringstream fields(text.substr(text.rfind(')') + 2));  // after "pid (name) "
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i)
      if (i >= 14) ticks += std::stod(field);  // utime, stime
    return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
  }

 private:
  pid_t pid_ = -1;
};

void waitUntilServing() {
  const auto start = bench::Clock::now();
  while (!status()) {
    if (bench::secondsSince(start) > 10) throw std::runtime_error("urlsessiond does not answer");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// Attaches the many-tasks session once the daemon answers; the number of tasks it reports.
std::size_t attachManyTasks() {
  wire::Message attach(wire::Type::attach);
  attach.add(tag::appId, background::appIdentifier())
      .add(tag::sessionId, std::string(manyTasksSession))
      .add(tag::configuration, wire::encodeConfiguration(URLSessionConfiguration::background(manyTasksSession)));
  const auto start = bench::Clock::now();
  for (;;) {
    std::string failure;
    auto answer = cli::askDaemon(attach, false, failure, std::chrono::seconds(10));
    if (answer && answer->type() == wire::Type::attached) return answer->allBytes(tag::task).size();
    if (answer || bench::secondsSince(start) > 10) throw std::runtime_error("attach failed: " + failure);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

std::optional<double> childField(const bench::ChildResult& r, const char* key) {
  auto at = r.output.find("RESULT");
  if (r.exitStatus != 0 || at == std::string::npos) return std::nullopt;
  return bench::field(r.output.substr(at + 6), key);
}

const char* verdict(bool met) { return met ? "met" : "MISSED"; }

int parent(bench::Args& args) {
  const std::uint64_t count = args.number("--tasks", 10000);
  const std::uint64_t size = args.number("--size", 512ull << 20);
  const std::uint64_t rounds = args.number("--rounds", 3);
  const std::string serverPath = bench::serverPath(args);
  std::string daemonPath = args.take("--daemon").value_or(URLSESSIOND_PATH);
  args.finish();

  namespace fs = std::filesystem;
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/fn-bench-background-XXXXXX";
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  const fs::path root = pattern;
  std::ofstream(root / "conditions") << "power=ac\nnetwork=unmetered\n";
  setenv("FOUNDATION_NET_RUNTIME_DIR", (root / "run").c_str(), 1);
  setenv("FOUNDATION_NET_STATE_DIR", (root / "state").c_str(), 1);
  setenv("FOUNDATION_NET_CONDITIONS_FILE", (root / "conditions").c_str(), 1);
  setenv("FOUNDATION_NET_DAEMON", daemonPath.c_str(), 1);
  setenv("FOUNDATION_NET_DAEMON_IDLE_EXIT", "0", 1);
  setenv("FOUNDATION_NET_APP_ID", "bench-background", 1);
  setenv("TMPDIR", root.c_str(), 1);  // the default session's file and the daemon's staging share a file system

  bench::ServerProcess server(serverPath);
  fmt::print("bench-background: {} tasks, {} MiB download x {} rounds, folders in {}\nload: {}", count, size >> 20,
             rounds, root.string(), bench::loadAverage());
  const std::string self = bench::selfPath();
  int failures = 0;

  auto daemon = std::make_unique<DaemonProcess>(daemonPath);
  waitUntilServing();
  const long idleKiB = daemon->statusKiB("VmRSS");

  // 1. Enqueue.
  auto enqueued = bench::runChild({self, "--variant", "enqueue", "--tasks", std::to_string(count), "--url",
                                   server.url("/bytes?n=1000")});
  auto created = childField(enqueued, "created_seconds"), stored = childField(enqueued, "stored_seconds");
  if (!created || !stored) {
    fmt::print(stderr, "enqueue failed (exit {})\n", enqueued.exitStatus);
    return 1;
  }
  const long enqueueHwm = daemon->statusKiB("VmHWM"), enqueueRss = daemon->statusKiB("VmRSS");
  fmt::print("enqueue {} tasks: created and resumed in {:.3f} s, all stored by the daemon after {:.3f} s "
             "({:.0f} tasks/s)\n",
             count, *created, *stored, static_cast<double>(count) / *stored);
  fmt::print("daemon RSS: {:.1f} MiB idle, {:.1f} MiB with the tasks, peak {:.1f} MiB\n", bench::mib(idleKiB),
             bench::mib(enqueueRss), bench::mib(enqueueHwm));

  // 2. Restart to ready.
  daemon->kill(SIGKILL);
  const auto restartStart = bench::Clock::now();
  daemon = std::make_unique<DaemonProcess>(daemonPath);
  waitUntilServing();
  const double servingSeconds = bench::secondsSince(restartStart);
  const std::size_t attached = attachManyTasks();
  const double restartSeconds = bench::secondsSince(restartStart);
  const long restartHwm = daemon->statusKiB("VmHWM");
  fmt::print("restart after SIGKILL: serving after {:.3f} s, attach answered with {} tasks after {:.3f} s; "
             "daemon peak {:.1f} MiB\n",
             servingSeconds, attached, restartSeconds, bench::mib(restartHwm));
  if (attached != count) ++failures;

  // 3. One large download: background session against a default session, interleaved.
  // CPU: the child's (wait4) plus, for the background variant, the daemon's during the round.
  std::vector<double> background, local, backgroundCpu, localCpu;
  const std::string url = server.url("/bytes?n=" + std::to_string(size));
  for (std::uint64_t round = 0; round < rounds; ++round) {
    for (const char* variant : {"default", "background"}) {
      const bool isDefault = std::string(variant) == "default";
      const double daemonBefore = daemon->cpuSeconds();
      auto r = bench::runChild({self, "--variant", variant, "--url", url, "--size", std::to_string(size)});
      const double cpu = r.cpuSeconds + (isDefault ? 0 : daemon->cpuSeconds() - daemonBefore);
      auto seconds = childField(r, "seconds");
      if (!seconds || childField(r, "ok").value_or(0) != 1) {
        fmt::print(stderr, "{} download failed (exit {})\n", variant, r.exitStatus);
        ++failures;
        continue;
      }
      double rate = static_cast<double>(size) / *seconds / 1e6;
      (isDefault ? local : background).push_back(rate);
      (isDefault ? localCpu : backgroundCpu).push_back(cpu);
      fmt::print("round {} {:<10} {:8.1f} MB/s ({:.3f} s, CPU {:.2f} s)\n", round + 1, variant, rate, *seconds, cpu);
    }
  }
  const long finalHwm = daemon->statusKiB("VmHWM");
  daemon.reset();

  const double peak = bench::mib(std::max({enqueueHwm, restartHwm, finalHwm}));
  const double ratio = bench::median(local) > 0 ? bench::median(background) / bench::median(local) : 0;
  fmt::print("\nsummary ({} tasks; {} MiB download, median of {} rounds)\n", count, size >> 20, rounds);
  fmt::print("enqueue {} tasks:               {:.3f} s ({:.0f} tasks/s)\n", count, *stored,
             static_cast<double>(count) / *stored);
  fmt::print("background download:            {:.1f} MB/s; default session {:.1f} MB/s\n",
             bench::median(background), bench::median(local));
  fmt::print("CPU per download:               background {:.2f} s (app + daemon); default {:.2f} s\n",
             bench::median(backgroundCpu), bench::median(localCpu));
  fmt::print("daemon peak RSS: {:.1f} MiB after enqueue, {:.1f} MiB after restart, {:.1f} MiB after the downloads\n",
             bench::mib(enqueueHwm), bench::mib(restartHwm), bench::mib(finalHwm));
  fmt::print("target daemon peak RSS           <= 64 MiB: {:.1f} MiB -> {}\n", peak, verdict(peak <= 64));
  fmt::print("target restart-to-ready          <= 1 s:    {:.3f} s -> {}\n", restartSeconds,
             verdict(restartSeconds <= 1.0));
  fmt::print("target background/default        >= 0.90x: {:.3f}x -> {}\n", ratio, verdict(ratio >= 0.9));
  std::error_code ignored;
  fs::remove_all(root, ignored);
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) try {
  bench::Args args(argc, argv);
  if (auto variant = args.take("--variant")) {
    auto url = args.take("--url").value_or("");
    auto count = args.number("--tasks", 0);
    auto size = args.number("--size", 0);
    args.finish();
    if (*variant == "enqueue") return enqueue(url, count);
    if (*variant == "background" || *variant == "default") return download(*variant, url, size);
    throw std::invalid_argument("unknown variant " + *variant);
  }
  return parent(args);
} catch (const std::exception& error) {
  fmt::print(stderr, "bench-background: {}\n", error.what());
  return 2;
}

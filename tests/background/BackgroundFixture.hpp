// Helpers for the background-session tests: a private daemon folder per test, the app
// process (bg_app) with its output read line by line, and the daemon's pid for killing it.
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "TestServer.hpp"

extern char** environ;

namespace fntest {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline std::vector<std::string> logLines(const fs::path& file);

// A daemon of the test's own: its folders, its conditions file; killed at the end.
struct BackgroundEnvironment {
  fs::path root;
  TestServer server;

  explicit BackgroundEnvironment(const std::string& appId = "bgtest") {
    static std::atomic<int> counter{0};
    root = fs::temp_directory_path() / ("fnbg-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(root);
    fs::create_directories(root);
    ::setenv("FOUNDATION_NET_RUNTIME_DIR", (root / "run").c_str(), 1);
    ::setenv("FOUNDATION_NET_STATE_DIR", (root / "state").c_str(), 1);
    ::setenv("FOUNDATION_NET_DAEMON", URLSESSIOND_PATH, 1);
    ::setenv("FOUNDATION_NET_APP_ID", appId.c_str(), 1);
    ::setenv("FOUNDATION_NET_CONDITIONS_FILE", (root / "conditions").c_str(), 1);
    ::setenv("FOUNDATION_NET_RETRY_BASE_MS", "100", 1);
    ::setenv("FOUNDATION_NET_DAEMON_IDLE_EXIT", "60", 1);  // a test that dies leaves no daemon behind for long
    // Tests that want these set them after this; the defaults here keep one test's from the next.
    ::setenv("FOUNDATION_NET_LAUNCH_DELAY_MS", "200", 1);
    ::setenv("FOUNDATION_NET_THROUGHPUT_FLOOR", "0", 1);  // the slow test bodies are slow on purpose
    ::unsetenv("FOUNDATION_NET_THROUGHPUT_WINDOW_MS");
    setConditions("power=ac\nnetwork=unmetered\n");
  }
  ~BackgroundEnvironment() {
    // Launched apps first: one left alive would start a new daemon when this one goes. Then
    // those the daemon may have launched meanwhile.
    killLaunchedApps();
    killDaemon();
    killLaunchedApps();
    std::error_code ignored;
    fs::remove_all(root, ignored);
  }
  void setConditions(const std::string& text) {
    auto temporary = root / "conditions.new";
    std::ofstream(temporary) << text;
    fs::rename(temporary, root / "conditions");  // atomic: the daemon never reads half a file
  }
  pid_t daemonPid() const {
    std::ifstream in(root / "run" / "urlsessiond.pid");
    pid_t pid = 0;
    in >> pid;
    return pid;
  }
  // Apps the daemon launched (bg_app launched*, with a log in this folder) list their pids.
  void killLaunchedApps() {
    for (const auto& entry : fs::directory_iterator(root)) {
      if (entry.path().extension() != ".pids") continue;
      for (const auto& line : logLines(entry.path())) {
        killAndWait(std::stoi(line));
      }
    }
  }
  // Runs `urlsessiond` as a user would (it detaches and serves the folders of the environment).
  void startDaemon() {
    pid_t pid = 0;
    char* argv[] = {const_cast<char*>(URLSESSIOND_PATH), nullptr};
    if (posix_spawn(&pid, URLSESSIOND_PATH, nullptr, nullptr, argv, environ) != 0)
      throw std::runtime_error("cannot start urlsessiond");
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
  void killDaemon() {
    pid_t pid = daemonPid();
    if (pid <= 0) return;
    killAndWait(pid);
    // Only its own: an app may have started the next daemon meanwhile, which wrote its pid.
    std::error_code ignored;
    if (daemonPid() == pid) fs::remove(root / "run" / "urlsessiond.pid", ignored);
  }
  // Alive and not a zombie (a detached daemon's zombie lingers where nobody reaps orphans).
  static bool isRunning(pid_t pid) {
    if (::kill(pid, 0) != 0) return false;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    auto end = line.rfind(')');
    return end == std::string::npos || line.size() < end + 3 || line[end + 2] != 'Z';
  }
  // SIGKILL, then up to 1 s for it to be gone.
  static void killAndWait(pid_t pid) {
    ::kill(pid, SIGKILL);
    for (int i = 0; i < 100 && isRunning(pid); ++i) std::this_thread::sleep_for(10ms);
  }
};

// A resumable body (ETag, ranges) sent `chunk` bytes every `paceMs`.
inline std::string slowBody(BackgroundEnvironment& env, std::size_t size, int paceMs = 40, std::size_t chunk = 32768) {
  return env.server.url("/bytes?n=" + std::to_string(size) + "&ranges=1&etag=v1&pace_ms=" + std::to_string(paceMs) +
                        "&chunk=" + std::to_string(chunk));
}

// How many requests the server got with a Range header (continuations).
inline int rangeRequests(BackgroundEnvironment& env) {
  int n = 0;
  for (const auto& r : env.server.requests()) n += r.header("Range").has_value();
  return n;
}

// The lines an app launched by the daemon (no stdout) appended to its --log file.
inline std::vector<std::string> logLines(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}
// Waits until the log has `count` lines starting with `prefix`; returns the log.
inline std::vector<std::string> waitForLog(const fs::path& file, const std::string& prefix, int count = 1,
                                           std::chrono::milliseconds limit = 20s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto lines = logLines(file);
    int n = 0;
    for (const auto& line : lines) n += line.rfind(prefix, 0) == 0;
    if (n >= count || std::chrono::steady_clock::now() >= deadline) return lines;
    std::this_thread::sleep_for(20ms);
  }
}

// bg_app (or another test app) running as a child process; its stdout lines are collected as they come.
class App {
 public:
  explicit App(std::vector<std::string> arguments, std::string program = BG_APP_PATH) {
    int fds[2];
    // Close-on-exec: the daemon that bg_app starts must not inherit the write end and keep it open.
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    arguments.insert(arguments.begin(), program);
    std::vector<char*> argv;
    for (auto& a : arguments) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv.data(), environ) != 0)
      throw std::runtime_error("cannot start " + program);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    reader_ = std::thread([this, fd = fds[0]] {
      std::string pending;
      char buffer[4096];
      for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) {
        pending.append(buffer, static_cast<std::size_t>(n));
        for (std::size_t end; (end = pending.find('\n')) != std::string::npos; pending.erase(0, end + 1)) {
          std::lock_guard lock(mutex_);
          lines_.push_back(pending.substr(0, end));
          changed_.notify_all();
        }
      }
      ::close(fd);
      std::lock_guard lock(mutex_);
      closed_ = true;
      changed_.notify_all();
    });
  }
  ~App() {
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      wait();
    }
    reader_.join();
  }
  // Waits for a line that starts with `prefix`; returns it, or "" on time-out or exit.
  std::string waitFor(const std::string& prefix, std::chrono::milliseconds limit = 20s) {
    std::unique_lock lock(mutex_);
    std::string found;
    changed_.wait_for(lock, limit, [&] {
      for (const auto& line : lines_)
        if (line.rfind(prefix, 0) == 0) {
          found = line;
          return true;
        }
      return closed_;
    });
    return found;
  }
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }
  int count(const std::string& prefix) {
    int n = 0;
    for (const auto& line : lines()) n += line.rfind(prefix, 0) == 0;
    return n;
  }
  void kill9() {
    ::kill(pid_, SIGKILL);
    wait();
  }
  pid_t pid() const { return pid_; }
  // False once the process has exited (it is reaped then).
  bool running() {
    if (reaped_) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return true;
    reaped_ = true;
    return false;
  }
  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    return status;
  }

 private:
  pid_t pid_ = 0;
  bool reaped_ = false;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> lines_;
  bool closed_ = false;
};

}  // namespace fntest

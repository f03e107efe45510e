// Small helpers shared by the benchmarks: timing, /proc/self/status, statistics, command-line
// options, and child processes (the out-of-process fntest-server, re-executing the benchmark
// itself in a fresh process, running the curl tool).
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

inline double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A field of /proc/self/status (or another process's status file) in KiB ("VmHWM", "VmRSS");
// -1 when absent.
inline long statusKiB(std::string_view field, const std::string& statusFile = "/proc/self/status") {
  std::ifstream in(statusFile);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 && line[field.size()] == ':')
      return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
  }
  return -1;
}

// /proc/loadavg as it reads (with its newline): other work on the machine skews the numbers.
inline std::string loadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string line;
  std::getline(in, line);
  return line + "\n";
}

inline double mib(long kib) { return static_cast<double>(kib) / 1024.0; }

inline double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

inline double best(const std::vector<double>& values) {
  return values.empty() ? 0 : *std::max_element(values.begin(), values.end());
}

// Waits for a benchmark's future; a stalled run (a task that never completes) ends the process
// with status 3 instead of hanging until meson's timeout.
template <class Future>
void waitOrDie(Future& future, const char* what, std::chrono::seconds limit = std::chrono::seconds(300)) {
  if (future.wait_for(limit) == std::future_status::ready) return;
  std::fprintf(stderr, "%s: no completion after %lld s: stalled\n", what, static_cast<long long>(limit.count()));
  std::_Exit(3);
}

// "--name value" options; anything unknown is an error.
class Args {
 public:
  Args(int argc, char** argv) : args_(argv + 1, argv + argc) {}
  std::optional<std::string> take(std::string_view name) {
    for (std::size_t i = 0; i < args_.size(); ++i) {
      if (args_[i] != name) continue;
      if (i + 1 >= args_.size()) throw std::invalid_argument(std::string(name) + " needs a value");
      std::string value = args_[i + 1];
      args_.erase(args_.begin() + static_cast<long>(i), args_.begin() + static_cast<long>(i) + 2);
      return value;
    }
    return std::nullopt;
  }
  std::uint64_t number(std::string_view name, std::uint64_t fallback) {
    auto value = take(name);
    if (!value) return fallback;
    char* end = nullptr;
    errno = 0;
    auto n = std::strtoull(value->c_str(), &end, 10);
    if (errno != 0 || end == value->c_str() || *end != '\0')
      throw std::invalid_argument(std::string(name) + ": not a number: " + *value);
    return n;
  }
  bool flag(std::string_view name) {
    auto it = std::find(args_.begin(), args_.end(), name);
    if (it == args_.end()) return false;
    args_.erase(it);
    return true;
  }
  void finish() const {
    if (!args_.empty()) throw std::invalid_argument("unknown argument: " + args_.front());
  }

 private:
  std::vector<std::string> args_;
};

// The fntest-server executable: --server PATH, else $FNTEST_SERVER, else the path meson built.
inline std::string serverPath(Args& args) {
  if (auto path = args.take("--server")) return *path;
  if (const char* env = std::getenv("FNTEST_SERVER"); env && *env) return env;
#ifdef FNTEST_SERVER_PATH
  return FNTEST_SERVER_PATH;
#else
  throw std::invalid_argument("pass --server PATH to fntest-server");
#endif
}

// fntest-server in a child process; stops it (closing its stdin, then SIGTERM) when destroyed.
class ServerProcess {
 public:
  // `niceness` is added to the server's nice value (nice(2)), so that on a machine with few
  // CPUs the server yields to the client's threads as a server on another machine would.
  explicit ServerProcess(const std::string& path, int niceness = 0) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      dup2(in[0], STDIN_FILENO);
      dup2(out[1], STDOUT_FILENO);
      errno = 0;
      if (niceness != 0 && nice(niceness) == -1 && errno != 0) std::perror("nice");
      execl(path.c_str(), path.c_str(), "--stdin-eof-stops", static_cast<char*>(nullptr));
      std::perror("exec fntest-server");
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    char c;
    while (read(out[0], &c, 1) == 1 && c != '\n') url_ += c;
    close(out[0]);
    if (url_.rfind("http://", 0) != 0) {
      stop();
      throw std::runtime_error("fntest-server did not print its URL: " + path);
    }
  }
  ~ServerProcess() { stop(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  const std::string& baseURL() const { return url_; }
  std::string url(std::string_view pathAndQuery) const { return url_ + std::string(pathAndQuery); }
  pid_t pid() const { return pid_; }

 private:
  void stop() {
    if (stdin_ >= 0) close(stdin_);
    stdin_ = -1;
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }
  pid_t pid_ = -1;
  int stdin_ = -1;
  std::string url_;
};

struct ChildResult {
  int exitStatus = -1;  // exit code, or -signal
  std::string output;   // its stdout
  double seconds = 0;   // wall time from fork to exit
  long maxRssKiB = 0;   // ru_maxrss from wait4
  double cpuSeconds = 0;  // user + system time of the child, from wait4
};

// Runs argv[0] with argv (no shell); stdout is captured unless `discardStdout`, stderr inherited.
inline ChildResult runChild(const std::vector<std::string>& argv, bool discardStdout = false) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const auto start = Clock::now();
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    if (discardStdout) {
      int null = open("/dev/null", O_WRONLY);
      dup2(null, STDOUT_FILENO);
    } else {
      dup2(out[1], STDOUT_FILENO);
    }
    execvp(cargv[0], cargv.data());
    std::perror(cargv[0]);
    _exit(127);
  }
  close(out[1]);
  ChildResult result;
  char buffer[4096];
  for (;;) {
    ssize_t n = read(out[0], buffer, sizeof buffer);
    if (n > 0) {
      result.output.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(out[0]);
  int status = 0;
  rusage usage{};
  while (wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  result.seconds = secondsSince(start);
  result.maxRssKiB = usage.ru_maxrss;
  auto secs = [](timeval t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  result.cpuSeconds = secs(usage.ru_utime) + secs(usage.ru_stime);
  result.exitStatus = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  return result;
}

// This executable's path, to re-execute it as a fresh child process.
inline std::string selfPath() {
  char buffer[4096];
  ssize_t n = readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  if (n <= 0) throw std::runtime_error("cannot read /proc/self/exe");
  return std::string(buffer, static_cast<std::size_t>(n));
}

// "key=value" fields of a line such as "RESULT bytes=1 seconds=0.5".
inline std::optional<double> field(std::string_view text, std::string_view key) {
  std::string needle = " " + std::string(key) + "=";
  auto at = (" " + std::string(text)).find(needle);
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(std::string(text.substr(at + needle.size() - 1)).c_str(), nullptr);
}

}  // namespace bench

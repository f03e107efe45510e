// The app of the chaos test (test_chaos.cpp): it runs a plan of background downloads and uploads
// and survives being killed. Every launch attaches the session, starts the transfers of the plan
// that are neither delivered (by its log) nor in flight (by their taskDescription), and records
// every completion delivered to it in its log, synced to disk before the delegate method returns,
// so the test can count deliveries per launch after any kill.
//
//   chaos_app SESSION PLAN LOG [--die-after N --die-in finish|complete]
// PLAN: one transfer a line, "download NAME URL" or "upload NAME URL FILE".
// LOG lines (MS: CLOCK_MONOTONIC milliseconds): "downloaded NAME PID MS SHA256" (the digest of the
// file didFinishDownloadingTo got), "delivered NAME PID MS ERROR STATUS BODY" (didCompleteWithError;
// BODY: an upload's response, which is the server's digest of what it received, else "-"),
// "dying NAME PID MS" (--die-after: the process exits inside that delegate method, after N
// deliveries). Stdout: "created N", then "all-delivered" before it exits.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <foundation_net/foundation_net.hpp>

#include "Sha256.hpp"

using namespace foundation;

namespace {

struct Transfer {
  std::string kind, name, url, file;
};

std::int64_t monotonicMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Appends one line to the log and syncs it: once this returns, a kill cannot lose the line.
void appendDurably(const std::string& path, const std::string& line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd < 0) std::abort();
  std::string text = line + "\n";
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) || ::fsync(fd) != 0) std::abort();
  ::close(fd);
}

class Delegate : public URLSessionDataDelegate, public URLSessionDownloadDelegate {
 public:
  std::string log;
  std::set<std::string> planned;

  bool wasDelivered(const std::string& name) {
    std::lock_guard lock(mutex_);
    return delivered_.count(name) > 0;
  }
  // Records a completion without an error (from the log of earlier launches, or now).
  void markDelivered(const std::string& name) {
    std::lock_guard lock(mutex_);
    delivered_.insert(name);
    bool all = true;
    for (const auto& n : planned) all = all && delivered_.count(n);
    if (all && !signalled_) {
      signalled_ = true;
      allDelivered.set_value();
    }
  }
  int dieAfter = -1;
  std::string dieIn;
  std::promise<void> allDelivered;
  std::atomic<bool> armed{false};

  void didFinishDownloadingTo(URLSession&, URLSessionDownloadTask& task, const URL& location) override {
    // What a real app does with the file (moving it) is done once this line is on disk.
    appendDurably(log, "downloaded " + nameOf(task) + " " + std::to_string(::getpid()) + " " +
                           std::to_string(monotonicMillis()) + " " + fntest::sha256OfFile(location.path()));
    dieHereIf("finish", task);
  }
  void didReceiveData(URLSession&, URLSessionDataTask& task, const Data& data) override {
    bodies_[task.taskIdentifier()] += std::string(data.view());
  }
  void didCompleteWithError(URLSession&, URLSessionTask& task, const std::optional<Error>& error) override {
    auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(task.response());
    const auto id = task.taskIdentifier();
    std::string body = bodies_.count(id) ? bodies_[id] : "-";
    appendDurably(log, "delivered " + nameOf(task) + " " + std::to_string(::getpid()) + " " +
                           std::to_string(monotonicMillis()) + " " + std::to_string(error ? error->code : 0) + " " +
                           std::to_string(http ? http->statusCode() : 0) + " " + body);
    dieHereIf("complete", task);
    ++deliveries_;
    if (!error) markDelivered(task.taskDescription());
  }

 private:
  void dieHereIf(const std::string& method, URLSessionTask& task) {
    // Armed once every task exists: a task created but not yet described would be lost track of.
    if (dieIn != method || deliveries_ < dieAfter || !armed) return;
    appendDurably(log, "dying " + nameOf(task) + " " + std::to_string(::getpid()) + " " +
                           std::to_string(monotonicMillis()));
    _exit(3);  // inside the delegate method: this completion is not acknowledged
  }
  static std::string nameOf(URLSessionTask& task) {
    return task.taskDescription().empty() ? "?" : task.taskDescription();  // "?": a task the app lost track of
  }
  std::map<std::uint64_t, std::string> bodies_;  // the delegate queue's own
  int deliveries_ = 0;
  std::mutex mutex_;
  std::set<std::string> delivered_;
  bool signalled_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fputs("usage: chaos_app SESSION PLAN LOG [--die-after N --die-in finish|complete]\n", stderr);
    return 2;
  }
  auto delegate = std::make_shared<Delegate>();
  delegate->log = argv[3];
  for (int i = 4; i + 1 < argc; i += 2) {
    std::string option = argv[i];
    if (option == "--die-after") delegate->dieAfter = std::stoi(argv[i + 1]);
    else if (option == "--die-in") delegate->dieIn = argv[i + 1];
  }
  std::vector<Transfer> plan;
  {
    std::ifstream in(argv[2]);
    for (std::string line; std::getline(in, line);) {
      std::istringstream fields(line);
      Transfer t;
      fields >> t.kind >> t.name >> t.url >> t.file;
      plan.push_back(t);
      delegate->planned.insert(t.name);
    }
  }
  {
    std::ifstream in(delegate->log);
    for (std::string line; std::getline(in, line);) {
      std::istringstream fields(line);
      std::string word, name, pid, ms, error;
      fields >> word >> name >> pid >> ms >> error;
      if (word == "delivered" && error == "0") delegate->markDelivered(name);
    }
  }

  auto session = URLSession::make(URLSessionConfiguration::background(argv[1]), delegate);
  std::promise<std::set<std::string>> listed;
  session->getAllTasks([&](std::vector<std::shared_ptr<URLSessionTask>> tasks) {
    std::set<std::string> names;
    for (const auto& task : tasks) names.insert(task->taskDescription());
    listed.set_value(names);
  });
  const auto inFlight = listed.get_future().get();
  int created = 0;
  for (const auto& t : plan) {
    // A task delivered since getAllTasks answered was in flight then.
    if (inFlight.count(t.name) || delegate->wasDelivered(t.name)) continue;
    std::shared_ptr<URLSessionTask> task;
    if (t.kind == "download") {
      task = session->downloadTask(URL(t.url));
    } else {
      URLRequest request{URL(t.url)};
      request.httpMethod = "POST";
      task = session->uploadTask(request, URL::fileURLWithPath(t.file));
    }
    task->setTaskDescription(t.name);
    task->resume();
    ++created;
  }
  delegate->armed = true;
  std::printf("created %d\n", created);
  std::fflush(stdout);
  auto all = delegate->allDelivered.get_future();
  if (all.wait_for(std::chrono::minutes(10)) != std::future_status::ready) return 1;
  std::printf("all-delivered\n");
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the last acknowledgements reach the daemon
  return 0;
}

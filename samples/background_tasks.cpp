// getAllTasks on a recreated background session, to resume or cancel what a previous run of
// the app left behind. Each task carries a stable name in taskDescription (the restartable-
// operations pattern), so a new run recognises its work.
//
//   background_tasks add URL NAME   create a download (left suspended) named NAME, then leave
//   background_tasks list           the session's tasks
//   background_tasks resume         resume every suspended task and wait for them
//   background_tasks cancel         cancel every task
//
// Swift:
//   session.getAllTasks { tasks in
//       for task in tasks where task.state == .suspended { task.resume() }
//   }
#include <cstdio>
#include <future>
#include <string>

#include <foundation_net/foundation_net.hpp>

using namespace foundation;

class TasksDelegate : public URLSessionDownloadDelegate {
 public:
  std::atomic<int> remaining{0};
  std::promise<void> allDone;

  void didFinishDownloadingTo(URLSession&, URLSessionDownloadTask& task, const URL&) override {
    std::printf("  didFinishDownloadingTo: %s\n", task.taskDescription().c_str());
  }
  void didCompleteWithError(URLSession&, URLSessionTask& task, const std::optional<Error>& error) override {
    std::printf("  didCompleteWithError: %s, %s\n", task.taskDescription().c_str(),
                error ? error->localizedDescription.c_str() : "no error");
    if (--remaining == 0) allDone.set_value();
  }
};

const char* stateName(URLSessionTask::State state) {
  switch (state) {
    case URLSessionTask::State::running: return "running";
    case URLSessionTask::State::suspended: return "suspended";
    case URLSessionTask::State::canceling: return "canceling";
    case URLSessionTask::State::completed: return "completed";
  }
  return "?";
}

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  if (!((command == "add" && argc == 4) || (argc == 2 && (command == "list" || command == "resume" || command == "cancel")))) {
    std::fputs("usage: background_tasks add URL NAME | list | resume | cancel\n", stderr);
    return 2;
  }
  auto delegate = std::make_shared<TasksDelegate>();
  auto session = URLSession::make(URLSessionConfiguration::background("com.example.tasks"), delegate, nullptr);
  if (command == "add") {
    auto task = session->downloadTask(URL(argv[2]));
    task->setTaskDescription(argv[3]);
    // The factory and the setter returned: the daemon has the task and its name.
    std::printf("  added %s (task %llu), suspended\n", argv[3], static_cast<unsigned long long>(task->taskIdentifier()));
    return 0;
  }
  std::promise<std::vector<std::shared_ptr<URLSessionTask>>> listed;
  session->getAllTasks([&](std::vector<std::shared_ptr<URLSessionTask>> tasks) { listed.set_value(std::move(tasks)); });
  auto tasks = listed.get_future().get();
  std::printf("  getAllTasks: %zu task(s)\n", tasks.size());
  delegate->remaining = 0;
  for (const auto& task : tasks) {
    std::printf("  task %llu %s: %s\n", static_cast<unsigned long long>(task->taskIdentifier()),
                task->taskDescription().c_str(), stateName(task->state()));
    if (command == "resume" && task->state() == URLSessionTask::State::suspended) {
      ++delegate->remaining;
      task->resume();
    } else if (command == "cancel") {
      ++delegate->remaining;
      task->cancel();
    }
  }
  auto done = delegate->allDone.get_future();
  if (delegate->remaining > 0 && done.wait_for(std::chrono::seconds(60)) != std::future_status::ready)
    std::puts("  (still waiting)");
  return 0;
}

// bench-many-tasks: creates --tasks data tasks (default 10,000) for /hello on the out-of-process
// fntest-server, resumes them all at once against httpMaximumConnectionsPerHost = 6, and waits
// for every completion handler. Every task must succeed (200, 13 bytes). Prints the time and
// the process's memory: VmRSS before the tasks, after creating them (not yet resumed), after
// resuming them, and the peak (VmHWM) at the end. This executable is its own fresh process and
// the server runs outside it, so the numbers are the client's alone.
//
//   bench-many-tasks [--tasks 10000] [--connections 6] [--server PATH]
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <vector>

#include <fmt/format.h>

#include <foundation_net/foundation_net.hpp>

#include "bench_util.hpp"

using namespace foundation;

int main(int argc, char** argv) try {
  bench::Args args(argc, argv);
  const std::size_t count = args.number("--tasks", 10000);
  const int connections = static_cast<int>(args.number("--connections", 6));
  const std::string serverPath = bench::serverPath(args);
  args.finish();

  bench::ServerProcess server(serverPath);
  const URL url(server.url("/hello"));
  fmt::print("many tasks: {} data tasks for {}, httpMaximumConnectionsPerHost = {}\n", count, url.absoluteString(),
             connections);

  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.httpMaximumConnectionsPerHost = connections;
  auto session = URLSession::make(configuration);
  const long rssStart = bench::statusKiB("VmRSS");

  std::mutex mutex;
  std::condition_variable allDone;
  std::size_t finished = 0, ok = 0, failed = 0;
  bench::Clock::time_point lastCompletion;

  std::vector<std::shared_ptr<URLSessionDataTask>> tasks;
  tasks.reserve(count);
  const auto createStart = bench::Clock::now();
  for (std::size_t i = 0; i < count; ++i) {
    tasks.push_back(session->dataTask(url, [&](std::optional<Data> data, std::shared_ptr<const URLResponse> response,
                                              std::optional<Error> error) {
      auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(response);
      const bool good = !error && http && http->statusCode() == 200 && data && data->size() == 13;
      std::lock_guard lock(mutex);
      if (good) {
        ++ok;
      } else if (failed++ == 0) {
        fmt::print(stderr, "task failed: {}\n",
                   error ? fmt::format("{} ({})", error->localizedDescription, error->code) : "unexpected response");
      }
      if (++finished == count) {
        lastCompletion = bench::Clock::now();
        allDone.notify_all();
      }
    }));
  }
  const double createSeconds = bench::secondsSince(createStart);
  const long rssCreated = bench::statusKiB("VmRSS");

  const auto resumeStart = bench::Clock::now();
  for (auto& task : tasks) task->resume();
  const double resumeSeconds = bench::secondsSince(resumeStart);
  const long rssResumed = bench::statusKiB("VmRSS");
  tasks.clear();  // the session keeps running tasks alive; completed ones can go

  {
    std::unique_lock lock(mutex);
    if (!allDone.wait_for(lock, std::chrono::seconds(300), [&] { return finished == count; })) {
      fmt::print(stderr, "bench-many-tasks: only {} of {} tasks completed after 300 s: stalled\n", finished, count);
      std::_Exit(3);
    }
  }
  const double totalSeconds = std::chrono::duration<double>(lastCompletion - resumeStart).count();
  const long rssEnd = bench::statusKiB("VmRSS");
  const long hwm = bench::statusKiB("VmHWM");
  session->finishTasksAndInvalidate();

  fmt::print("create {} tasks:          {:.3f} s\n", count, createSeconds);
  fmt::print("resume all:                  {:.3f} s\n", resumeSeconds);
  fmt::print("first resume → last handler: {:.3f} s ({:.0f} tasks/s), {} ok, {} failed\n", totalSeconds,
             static_cast<double>(count) / totalSeconds, ok, failed);
  fmt::print("VmRSS before the tasks:      {:.1f} MiB\n", bench::mib(rssStart));
  fmt::print("VmRSS after creating them:   {:.1f} MiB (+{:.1f} KiB per task)\n", bench::mib(rssCreated),
             static_cast<double>(rssCreated - rssStart) / static_cast<double>(count));
  fmt::print("VmRSS after resuming them:   {:.1f} MiB\n", bench::mib(rssResumed));
  fmt::print("VmRSS at the end:            {:.1f} MiB\n", bench::mib(rssEnd));
  fmt::print("peak RSS (VmHWM):            {:.1f} MiB\n", bench::mib(hwm));
  fmt::print("target all {} complete without error: {}\n", count, ok == count ? "met" : "MISSED");
  fmt::print("target peak RSS <= 64 MiB: {:.1f} MiB -> {}\n", bench::mib(hwm), bench::mib(hwm) <= 64 ? "met" : "MISSED");
  return ok == count ? 0 : 1;
} catch (const std::exception& error) {
  std::fprintf(stderr, "bench-many-tasks: %s\n", error.what());
  return 2;
}

// urlsessiond: the per-user daemon that runs background URLSession transfers.
//
//   urlsessiond               start detached (returns at once); exits 0 if one already serves
//   urlsessiond --foreground  serve in this process (what the library and systemd start)
//   urlsessiond --help
//
// It serves the folders FOUNDATION_NET_RUNTIME_DIR (socket) and FOUNDATION_NET_STATE_DIR
// (database and staged files) name, and exits after an idle period with no clients and no
// pending work (FOUNDATION_NET_DAEMON_IDLE_EXIT seconds, default 30; 0 = never).
#include <csignal>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>

#include <fmt/format.h>
#include <uv.h>

#include "background/Connection.hpp"
#include "background/Protocol.hpp"
#include "daemon/Daemon.hpp"
#include "engine/Loop.hpp"
#include "platform/File.hpp"
#include "platform/LocalSocket.hpp"
#include "platform/Process.hpp"

using namespace foundation;

namespace {

const char* usage =
    "usage: urlsessiond [--foreground] [--help]\n"
    "Runs background URLSession transfers for this user.\n"
    "  --foreground  serve in this process instead of starting a detached one\n"
    "Environment: FOUNDATION_NET_RUNTIME_DIR, FOUNDATION_NET_STATE_DIR, FOUNDATION_NET_CONDITIONS_FILE,\n"
    "  FOUNDATION_NET_MAX_TRANSFERS, FOUNDATION_NET_RETRY_BASE_MS, FOUNDATION_NET_DAEMON_IDLE_EXIT,\n"
    "  FOUNDATION_NET_LAUNCH_DELAY_MS, FOUNDATION_NET_THROUGHPUT_FLOOR, FOUNDATION_NET_THROUGHPUT_WINDOW_MS\n";

struct Server {
  std::unique_ptr<daemon::Daemon> daemon;
  uv_pipe_t listener{};
  uv_signal_t terminate{}, interrupt{};
  std::promise<int> exitCode;
};

void onConnection(uv_stream_t* listener, int status) {
  auto* server = static_cast<Server*>(listener->data);
  if (status < 0) return;
  auto* pipe = new uv_pipe_t;
  uv_pipe_init(engine::Loop::shared().uv(), pipe, 0);
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(pipe)) != 0 || !platform::peerIsSameUser(pipe)) {
    // Another user's process: never served.
    uv_close(reinterpret_cast<uv_handle_t*>(pipe), [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
    return;
  }
  auto* daemon = server->daemon.get();
  auto connection = background::Connection::adopt(
      pipe, [daemon](background::Connection& c, wire::Message m) { daemon->handle(c, std::move(m)); },
      [daemon](background::Connection& c) { daemon->clientClosed(c); });
  daemon->clientConnected(std::move(connection));
}

// Binds the socket and starts the daemon on the loop thread; 0 or an exit status.
int listen(Server& server) {
  const std::string path = background::socketPath();
  platform::removeFile(path);  // stale: we hold the lock, so no daemon serves it
  uv_loop_t* loop = engine::Loop::shared().uv();
  uv_pipe_init(loop, &server.listener, 0);
  server.listener.data = &server;
  if (int rc = uv_pipe_bind(&server.listener, path.c_str()); rc != 0) {
    fmt::print(stderr, "urlsessiond: cannot bind {}: {}\n", path, uv_strerror(rc));
    return 1;
  }
  platform::makePrivateSocket(path);
  if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&server.listener), 64, onConnection); rc != 0) {
    fmt::print(stderr, "urlsessiond: cannot listen on {}: {}\n", path, uv_strerror(rc));
    return 1;
  }
  auto stop = [](uv_signal_t* signal, int) { static_cast<Server*>(signal->data)->exitCode.set_value(0); };
  for (auto* signal : {&server.terminate, &server.interrupt}) {
    uv_signal_init(loop, signal);
    signal->data = &server;
  }
  uv_signal_start_oneshot(&server.terminate, stop, SIGTERM);
  uv_signal_start_oneshot(&server.interrupt, stop, SIGINT);
  return 0;
}

int serve() {
  const std::string runtime = background::runtimeDirectory();
  if (int rc = platform::makePrivateDirectory(runtime); rc < 0) {
    fmt::print(stderr, "urlsessiond: cannot use {}: {}\n", runtime, std::strerror(-rc));
    return 1;
  }
  if (!platform::lockForLifetime(runtime + "/urlsessiond.lock")) return 0;  // another daemon serves
  {
    // For tools and tests that need to find (or stop) the daemon serving this folder.
    platform::File pidFile;
    if (platform::File::openForWriting(runtime + "/urlsessiond.pid", false, pidFile) == 0) {
      auto pid = std::to_string(platform::processIdentifier()) + "\n";
      pidFile.write(pid.data(), pid.size());
    }
  }

  auto server = std::make_unique<Server>();
  auto started = std::promise<int>();
  auto ready = started.get_future();
  engine::Loop::shared().post([&] {
    try {
      server->daemon = std::make_unique<daemon::Daemon>(
          daemon::Options::fromEnvironment(background::stateDirectory()),
          [s = server.get()] { s->exitCode.set_value(0); });
      server->daemon->start();
      started.set_value(listen(*server));
    } catch (const std::exception& error) {
      fmt::print(stderr, "urlsessiond: {}\n", error.what());
      started.set_value(1);
    }
  });
  if (int rc = ready.get(); rc != 0) return rc;
  int code = server->exitCode.get_future().get();
  // Everything that was promised to anyone is in the store already; nothing to flush.
  std::_Exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  bool foreground = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--foreground") == 0) {
      foreground = true;
    } else if (std::strcmp(argv[i], "--help") == 0) {
      std::fputs(usage, stdout);
      return 0;
    } else {
      std::fputs(usage, stderr);
      return 2;
    }
  }
  if (foreground) return serve();
  // Detach: a new process serves (it exits 0 itself if another daemon already does).
  std::promise<int> spawned;
  auto result = spawned.get_future();
  std::string self = argv[0];
  char path[4096];
  size_t size = sizeof path;
  if (uv_exepath(path, &size) == 0) self.assign(path, size);
  engine::Loop::shared().post([&] { spawned.set_value(platform::spawnDetached(self, {"--foreground"})); });
  int rc = result.get();
  if (rc != 0) fmt::print(stderr, "urlsessiond: cannot start: {}\n", uv_strerror(rc));
  return rc == 0 ? 0 : 1;
}

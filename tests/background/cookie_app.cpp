// An app for the tests of the shared cookie storage across launches (test_shared_cookies.cpp):
// it loads URL with URLSession::shared() and prints "body TEXT", then exits normally (which
// writes the storage's pending changes) or, with --stay-ms N, prints "staying" after N ms and
// waits to be killed.
//
//   cookie_app URL [--stay-ms N]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <string>
#include <thread>

#include <foundation_net/foundation_net.hpp>

using namespace foundation;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: cookie_app URL [--stay-ms N]\n");
    return 2;
  }
  const int stayMs = argc >= 4 && std::strcmp(argv[2], "--stay-ms") == 0 ? std::atoi(argv[3]) : -1;
  std::promise<std::string> body;
  auto task = URLSession::shared()->dataTask(
      URL(argv[1]), [&](std::optional<Data> data, std::shared_ptr<const URLResponse>, std::optional<Error> error) {
        body.set_value(error ? "error " + std::to_string(error->code) : std::string(data ? data->view() : ""));
      });
  task->resume();
  std::printf("body %s\n", body.get_future().get().c_str());
  std::fflush(stdout);
  if (stayMs < 0) return 0;
  std::this_thread::sleep_for(std::chrono::milliseconds(stayMs));
  std::printf("staying\n");
  std::fflush(stdout);
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

// An app built on Downloader/Uploader for the multi-process tests of restartable operations: it
// re-issues (or first issues) one operation, prints its result, and can be killed at any point.
//
//   ops_app SESSION FOLDER [options]
//     --download URL ID            issue a download (the file goes to FOLDER/ID.out)
//     --upload URL FILE ID         issue an upload from FILE
//     --coroutine                  issue it with co_await instead of a completion handler
//     --events                     pass a handle-background-events completion handler
//     --wait-ms N                  give up after N ms (default 20000)
// Lines printed: "attached", "issued ID", "events-handled",
//   "result ID KIND STATUS BYTES exact|corrupt|nofile" and, last, "held ID1 ID2 ...".
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <string>
#include <thread>

#include <foundation_net/foundation_net.hpp>

#include "Files.hpp"
#include "TestServer.hpp"

using namespace foundation;

namespace {

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

const char* kindName(NetworkResponse::Kind kind) {
  switch (kind) {
    case NetworkResponse::Kind::success: return "success";
    case NetworkResponse::Kind::rejected: return "rejected";
    case NetworkResponse::Kind::retry: return "retry";
    case NetworkResponse::Kind::failed: break;
  }
  return "failed";
}

void report(const std::string& identifier, const NetworkResponse& response) {
  std::string contents = "nofile";
  std::size_t size = response.body() ? response.body()->size() : 0;
  if (response.file()) {
    const std::string bytes = fntest::fileContents(response.file()->path());
    size = bytes.size();
    contents = bytes == fntest::pattern(0, size) ? "exact" : "corrupt";
  }
  say("result " + identifier + " " + kindName(response.kind()) + " " + std::to_string(response.statusCode()) + " " +
      std::to_string(size) + " " + contents);
}

using Handler = std::function<void(const std::string&, NetworkResponse)>;

// Parameters by value: they live in the coroutine frame, which outlives this call.
Task<> awaitDownload(Downloader& downloader, URLRequest request, std::string identifier, URL destination, Handler then) {
  then(identifier, co_await downloader.download(request, identifier, destination));
}

Task<> awaitUpload(Uploader& uploader, URLRequest request, URL file, std::string identifier, Handler then) {
  then(identifier, co_await uploader.upload(request, file, identifier));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fputs("usage: ops_app SESSION FOLDER [--download URL ID | --upload URL FILE ID] [--coroutine] [--events]\n", stderr);
    return 2;
  }
  const std::string sessionId = argv[1];
  const std::filesystem::path folder = argv[2];
  std::string mode, url, file, identifier;
  bool coroutine = false, events = false;
  int waitMs = 20000;
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--download" && i + 2 < argc) {
      mode = "download", url = argv[++i], identifier = argv[++i];
    } else if (a == "--upload" && i + 3 < argc) {
      mode = "upload", url = argv[++i], file = argv[++i], identifier = argv[++i];
    } else if (a == "--coroutine") {
      coroutine = true;
    } else if (a == "--events") {
      events = true;
    } else if (a == "--wait-ms" && i + 1 < argc) {
      waitMs = std::stoi(argv[++i]);
    }
  }

  auto configuration = URLSessionConfiguration::background(sessionId);
  std::promise<void> done;
  std::atomic<bool> signalled{false};
  const auto finish = [&] {
    if (!signalled.exchange(true)) done.set_value();
  };
  const Handler handler = [&](const std::string& id, NetworkResponse response) {
    report(id, response);
    finish();
  };
  // Only one of them is used per run; each is its own background session.
  std::optional<Downloader> downloader;
  std::optional<Uploader> uploader;
  RestartableOperations* operations = nullptr;
  if (mode == "upload") {
    operations = &uploader.emplace(configuration, nullptr, (folder / "operations").string());
  } else {
    operations = &downloader.emplace(configuration, nullptr, (folder / "operations").string());
  }
  say("attached");
  if (events) {
    operations->handleBackgroundEvents(sessionId, [&] {
      say("events-handled");
      if (mode.empty()) finish();
    });
  }

  if (mode == "download") {
    URLRequest request{URL(url)};
    const URL destination = URL::fileURLWithPath((folder / (identifier + ".out")).string());
    if (coroutine) {
      awaitDownload(*downloader, request, identifier, destination, handler);
    } else {
      downloader->beginDownload(request, identifier, handler, destination);
    }
    say("issued " + identifier);
  } else if (mode == "upload") {
    URLRequest request{URL(url)};
    request.httpMethod = "POST";
    if (coroutine) {
      awaitUpload(*uploader, request, URL::fileURLWithPath(file), identifier, handler);
    } else {
      uploader->beginUpload(URL::fileURLWithPath(file), request, identifier, handler);
    }
    say("issued " + identifier);
  }
  if (done.get_future().wait_for(std::chrono::milliseconds(waitMs)) != std::future_status::ready) say("timeout");
  // Let the acknowledgement of the last completion reach the daemon before leaving.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::string line = "held";
  for (const auto& id : operations->heldIdentifiers()) line += " " + id;
  say(line);
  return 0;
}

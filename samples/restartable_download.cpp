// ChimeHQ's Background "Downloading" example, ported: a download named by a stable identifier
// that the app re-issues on every launch. Kill the program while it waits and run it again: the
// second run attaches to the transfer the daemon kept going (or, if it finished meanwhile, gets
// the held result) instead of downloading a second time.
//
//   restartable_download URL [ID]           completion-handler form
//   restartable_download --await URL [ID]   the same with co_await
#include <cstdio>
#include <filesystem>
#include <future>
#include <string>

#include <foundation_net/foundation_net.hpp>

using namespace foundation;

namespace {

void show(const std::string& identifier, const NetworkResponse& response) {
  switch (response.kind()) {
    case NetworkResponse::Kind::success:
      std::printf("%s: downloaded to %s (%d)\n", identifier.c_str(), response.file()->path().c_str(), response.statusCode());
      break;
    case NetworkResponse::Kind::rejected:  // the server did not like the request
      std::printf("%s: rejected (%d)\n", identifier.c_str(), response.statusCode());
      break;
    case NetworkResponse::Kind::retry:  // transient: try again later
      std::printf("%s: retry in %.0f s (%d)\n", identifier.c_str(), response.retryAfter().value_or(60.0), response.statusCode());
      break;
    case NetworkResponse::Kind::failed:  // a retry is unlikely to help
      std::printf("%s: failed: %s\n", identifier.c_str(), response.error()->localizedDescription.c_str());
      break;
  }
}

// Parameters by value: they live in the coroutine frame while it waits.
Task<> downloadAndShow(Downloader& downloader, URLRequest request, std::string identifier, URL destination,
                       std::promise<void>& done) {
  // Remember: this co_await may not resume during this process's whole lifetime.
  NetworkResponse response = co_await downloader.download(request, identifier, destination);
  show(identifier, response);
  done.set_value();
}

}  // namespace

int main(int argc, char** argv) {
  int first = 1;
  const bool await = argc > 1 && std::string(argv[1]) == "--await";
  if (await) ++first;
  if (argc <= first) {
    std::fputs("usage: restartable_download [--await] URL [ID]\n", stderr);
    return 2;
  }
  const URLRequest request{URL(argv[first])};
  const std::string identifier = argc > first + 1 ? argv[first + 1] : "sample-download";
  const URL destination = URL::fileURLWithPath((std::filesystem::current_path() / (identifier + ".bin")).string());

  Downloader downloader(URLSessionConfiguration::background("com.example.restartable-download"));
  std::promise<void> done;
  if (await) {
    downloadAndShow(downloader, request, identifier, destination, done);
  } else {
    downloader.beginDownload(request, identifier, [&](const std::string& id, NetworkResponse response) {
      show(id, response);
      done.set_value();
    }, destination);
  }
  std::printf("%s: issued; interrupt me and run me again, the transfer goes on without me\n", identifier.c_str());
  done.get_future().wait();
  // Leaving at once is safe: exit waits for the acknowledgement of a completion being delivered.
  for (const auto& held : downloader.heldIdentifiers())
    std::printf("%s: a result is held for it; issue it to get it\n", held.c_str());
  return 0;
}

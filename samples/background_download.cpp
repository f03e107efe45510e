// Apple's "Downloading files in the background", ported line for line: the app starts a
// download in a background session and may then be suspended, killed or crash; urlsessiond
// finishes the transfer; when the app is launched again and recreates the session with the same
// identifier, the delegate receives what happened meanwhile.
//
//   background_download start URL [SECONDS]   start the download, not before SECONDS from now
//                                             (Apple's article: 60 * 60; default 0 here)
//   background_download                       relaunch: receive the events, save the file
//
// The configuration is discretionary, as in the article: the daemon waits for AC power and an
// unmetered network (or what FOUNDATION_NET_CONDITIONS_FILE says).
#include <cstdio>
#include <filesystem>
#include <future>
#include <iostream>

#include <foundation_net/foundation_net.hpp>

using namespace foundation;

class DownloadDelegate : public URLSessionDownloadDelegate {
 public:
  std::promise<void> finished;
  std::atomic<bool> done{false};

  void didWriteData(URLSession&, URLSessionDownloadTask&, std::int64_t, std::int64_t written,
                    std::int64_t expected) override {
    std::printf("\r  didWriteData: %lld of %lld bytes", static_cast<long long>(written), static_cast<long long>(expected));
    std::fflush(stdout);
  }
  // func urlSession(_ session: URLSession, downloadTask: URLSessionDownloadTask,
  //                 didFinishDownloadingTo location: URL)
  void didFinishDownloadingTo(URLSession&, URLSessionDownloadTask& task, const URL& location) override {
    // The file is deleted when this method returns: move it now.
    std::filesystem::path destination = std::filesystem::current_path() / "downloaded.bin";
    std::filesystem::copy_file(location.path(), destination, std::filesystem::copy_options::overwrite_existing);
    std::printf("\n  didFinishDownloadingTo: task %llu, %lld bytes saved to %s\n",
                static_cast<unsigned long long>(task.taskIdentifier()),
                static_cast<long long>(std::filesystem::file_size(destination)), destination.c_str());
  }
  void didCompleteWithError(URLSession&, URLSessionTask& task, const std::optional<Error>& error) override {
    std::printf("  didCompleteWithError: task %llu, %s\n", static_cast<unsigned long long>(task.taskIdentifier()),
                error ? error->localizedDescription.c_str() : "no error");
    signal();
  }
  void didFinishEventsForBackgroundURLSession(URLSession&) override {
    std::printf("  urlSessionDidFinishEvents(forBackgroundURLSession:)\n");
    signal();
  }
  void signal() {
    if (!done.exchange(true)) finished.set_value();
  }
};

int main(int argc, char** argv) {
  auto delegate = std::make_shared<DownloadDelegate>();
  // private lazy var urlSession: URLSession = {
  //     let config = URLSessionConfiguration.background(withIdentifier: "MySession")
  //     config.isDiscretionary = true
  //     config.sessionSendsLaunchEvents = true
  //     return URLSession(configuration: config, delegate: self, delegateQueue: nil)
  // }()
  auto config = URLSessionConfiguration::background("com.example.background-download");
  config.isDiscretionary = true;
  config.sessionSendsLaunchEvents = true;
  // Recreating the session with the same identifier reconnects it to its transfers.
  auto urlSession = URLSession::make(config, delegate, nullptr);
  auto finished = delegate->finished.get_future();

  if ((argc == 3 || argc == 4) && std::string(argv[1]) == "start") {
    const double seconds = argc == 4 ? std::stod(argv[3]) : 0;
    // let backgroundTask = urlSession.downloadTask(with: url)
    // backgroundTask.earliestBeginDate = Date().addingTimeInterval(60 * 60)
    // backgroundTask.countOfBytesClientExpectsToSend = 200
    // backgroundTask.countOfBytesClientExpectsToReceive = 500 * 1024
    // backgroundTask.resume()
    auto backgroundTask = urlSession->downloadTask(URL(argv[2]));
    backgroundTask->setEarliestBeginDate(std::chrono::system_clock::now() +
                                         std::chrono::milliseconds(static_cast<long long>(seconds * 1000)));
    backgroundTask->setCountOfBytesClientExpectsToSend(200);
    backgroundTask->setCountOfBytesClientExpectsToReceive(500 * 1024);
    backgroundTask->resume();
    std::printf("  started background download task %llu\n",
                static_cast<unsigned long long>(backgroundTask->taskIdentifier()));
  } else if (argc != 1) {
    std::fputs("usage: background_download [start URL [SECONDS]]\n", stderr);
    return 2;
  } else {
    std::promise<std::size_t> count;
    urlSession->getAllTasks([&](std::vector<std::shared_ptr<URLSessionTask>> tasks) { count.set_value(tasks.size()); });
    std::printf("  relaunched: %zu task(s) still in flight\n", count.get_future().get());
  }
  if (finished.wait_for(std::chrono::seconds(60)) != std::future_status::ready) std::puts("  (nothing more arrived)");
  return 0;
}

// The wake-up flow of Apple's "Downloading files in the background", ported line for line:
// the app starts a download and goes away; when the transfer is done, urlsessiond launches the
// app again (its registered launch command), which gets
// application(_:handleEventsForBackgroundURLSession:completionHandler:), recreates the session,
// receives the events, then urlSessionDidFinishEvents(forBackgroundURLSession:), and calls the
// completion handler on the main queue.
//
//   background_wakeup start URL FOLDER   register the launch command, start the download, leave
//   background_wakeup FOLDER             what urlsessiond runs: the handle-events flow
//
// The launched process has no terminal: it reports to FOLDER/wakeup.log and saves the file as
// FOLDER/downloaded.bin.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <foundation_net/foundation_net.hpp>

using namespace foundation;
namespace fs = std::filesystem;

namespace {

const char* const identifier = "com.example.background-wakeup";
// Never destroyed: the start process leaves right after resume(), and the download's delegate
// calls may still come (on the delegate queue) while static destructors run.
fs::path& folder = *new fs::path;

void report(const std::string& line) {
  std::ofstream(folder / "wakeup.log", std::ios::app) << line << "\n";
  std::printf("%s\n", line.c_str());
}

// class AppDelegate: UIResponder, UIApplicationDelegate {
//     var backgroundCompletionHandler: (() -> Void)?
struct AppDelegate {
  std::function<void()> backgroundCompletionHandler;  // touched on the main queue only
} appDelegate;

class ViewController : public URLSessionDownloadDelegate {
 public:
  // func urlSession(_ session: URLSession, downloadTask: URLSessionDownloadTask,
  //                 didFinishDownloadingTo location: URL)
  void didFinishDownloadingTo(URLSession&, URLSessionDownloadTask&, const URL& location) override {
    fs::copy_file(location.path(), folder / "downloaded.bin", fs::copy_options::overwrite_existing);
    report("didFinishDownloadingTo: " + std::to_string(fs::file_size(folder / "downloaded.bin")) + " bytes saved");
  }
  void didCompleteWithError(URLSession&, URLSessionTask& task, const std::optional<Error>& error) override {
    report("didCompleteWithError: task " + std::to_string(task.taskIdentifier()) + ", " +
           (error ? error->localizedDescription : "no error"));
  }
  // func urlSessionDidFinishEvents(forBackgroundURLSession session: URLSession) {
  //     DispatchQueue.main.async {
  //         guard let appDelegate = UIApplication.shared.delegate as? AppDelegate,
  //             let backgroundCompletionHandler =
  //             appDelegate.backgroundCompletionHandler else {
  //                 return
  //         }
  //         backgroundCompletionHandler()
  //     }
  // }
  void didFinishEventsForBackgroundURLSession(URLSession&) override {
    report("urlSessionDidFinishEvents(forBackgroundURLSession:)");
    OperationQueue::main()->addOperation([] {
      if (!appDelegate.backgroundCompletionHandler) return;
      report("calling the completion handler on the main queue");
      appDelegate.backgroundCompletionHandler();
    });
  }
};

// private lazy var urlSession: URLSession = { … }()
std::shared_ptr<URLSession> urlSession() {
  static auto session = [] {
    auto config = URLSessionConfiguration::background(identifier);
    config.sessionSendsLaunchEvents = true;
    return URLSession::make(config, std::make_shared<ViewController>(), nullptr);
  }();
  return session;
}

}  // namespace

int main(int argc, char** argv) {
  const bool start = argc == 4 && std::string(argv[1]) == "start";
  if (!start && argc != 2) {
    std::fputs("usage: background_wakeup start URL FOLDER | background_wakeup FOLDER\n", stderr);
    return 2;
  }
  folder = fs::absolute(argv[argc - 1]);
  // What the system does for an iOS app from its Info.plist: how to launch it for its events.
  std::string program = std::string(argv[0]).find('/') == std::string::npos ? argv[0] : fs::absolute(argv[0]).string();
  Application::shared().setLaunchCommand({program, folder.string()});
  // func application(_ application: UIApplication,
  //                  handleEventsForBackgroundURLSession identifier: String,
  //                  completionHandler: @escaping () -> Void) {
  //         backgroundCompletionHandler = completionHandler
  // }
  Application::shared().setHandleEventsForBackgroundURLSession(
      [](const std::string& sessionIdentifier, std::function<void()> completionHandler) {
        report("application(_:handleEventsForBackgroundURLSession: " + sessionIdentifier + ")");
        appDelegate.backgroundCompletionHandler = completionHandler;
        urlSession();  // recreated with the same identifier: the events come to its delegate
      });

  if (start) {
    auto task = urlSession()->downloadTask(URL(argv[2]));
    task->resume();
    // resume() returned: the daemon has the task, the app may leave at once.
    report("started background download task " + std::to_string(task->taskIdentifier()) + "; leaving");
    return 0;
  }
  // Launched by urlsessiond: the main run loop runs until the completion handler was called.
  RunLoop::main().run();
  report("done with the background events");
  return 0;
}

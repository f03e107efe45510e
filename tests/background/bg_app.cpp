// A background-session app for the multi-process tests: it attaches a background session,
// optionally starts one task, and prints every delegate call as one line on stdout, so the
// test driving it (and killing it) can follow what happened.
//
//   bg_app SESSION download URL [--earliest-ms N]   start a download, print events until it completes
//   bg_app SESSION upload URL FILE                  start an upload from FILE
//   bg_app SESSION data URL                         start a data task
//   bg_app SESSION attach                           print what is delivered (replayed events)
//   bg_app SESSION launched                         what urlsessiond starts for launch events: the
//                                                   handle-events flow, ending with the run loop
//   bg_app SESSION launched-noop                    started for launch events, but exits at once
// Options: --exit-in-finish (exit inside didFinishDownloadingTo, before it returns),
//          --exit-in-finish-after MS (the same, after printing "in-finish" and waiting MS),
//          --stay-in-complete MS (didCompleteWithError lets main leave, then takes MS to return),
//          --stay (do not exit after the task completes),
//          --until-finished-events (exit after didFinishEventsForBackgroundURLSession, not at the completion), --wait-ms N (how long to wait, default 20 s),
//          --log FILE (also append every line to FILE: launched apps have no stdout),
//          --register-launch FILE MODE (register "bg_app SESSION MODE --log FILE" as the launch command),
//          --background (say the app is in the background before making tasks),
//          --no-launch-events (sessionSendsLaunchEvents = false),
//          --delete-file (remove the upload's FILE as soon as uploadTask() returned),
//          --kill-after-resume (raise(SIGKILL) as soon as resume() returned),
//          --hold-challenges (never answer task-level challenges),
//          --answer LIST (answer challenges in turn with LIST's items, comma-separated: USER:PASSWORD
//                         = useCredential, "cancel", "default"; then default handling; a
//                         registered launch command gets the same option),
//          --request-timeout S (timeoutIntervalForRequest),
//          --cookie LINE (store the Set-Cookie value LINE for URL in HTTPCookieStorage::shared()
//                         before making the task, as a login would),
//          --disposition allow|cancel|become-download (how data tasks' responses are answered;
//                         allow by default; didBecomeDownloadTask prints "became ID NEW-ID")
// With --metrics, didFinishCollectingMetrics prints "metrics ID transactions=N redirects=R" and,
// for the last transaction, "status=S fetch=F body-bytes=B dated=yes|no".
// Every challenge prints "challenge ID PREVIOUS-FAILURE-COUNT PROPOSED-USER:PASSWORD|-"; a short
// download that is not the test pattern also prints "body ID TEXT".
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <foundation_net/foundation_net.hpp>

#include "TestServer.hpp"

using namespace foundation;

namespace {

std::string logFile;

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  if (!logFile.empty()) std::ofstream(logFile, std::ios::app) << line << "\n";
}

std::int64_t epochMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class Delegate : public URLSessionDataDelegate, public URLSessionDownloadDelegate {
 public:
  bool exitInFinish = false;
  int exitInFinishAfterMs = 0;
  int stayInCompleteMs = 0;
  bool untilFinishedEvents = false;  // leave at didFinishEventsForBackgroundURLSession, not at a completion
  bool holdChallenges = false;
  URLSession::ResponseDisposition disposition = URLSession::ResponseDisposition::allow;  // --disposition
  bool printMetrics = false;  // --metrics
  std::vector<std::string> answers;  // --answer, consumed in turn
  std::vector<std::function<void(URLSession::AuthChallengeDisposition, std::optional<URLCredential>)>> held;
  std::promise<void> done;
  std::atomic<bool> signalled{false};
  std::atomic<int> progress{0};

  void finish() {
    if (!signalled.exchange(true)) done.set_value();
  }
  void didWriteData(URLSession&, URLSessionDownloadTask& task, std::int64_t, std::int64_t total, std::int64_t expected) override {
    if (progress++ % 10 == 0) say("progress " + std::to_string(task.taskIdentifier()) + " " + std::to_string(total) + " " + std::to_string(expected));
  }
  void didResumeAtOffset(URLSession&, URLSessionDownloadTask& task, std::int64_t offset, std::int64_t expected) override {
    say("resumed " + std::to_string(task.taskIdentifier()) + " " + std::to_string(offset) + " " + std::to_string(expected));
  }
  void didFinishDownloadingTo(URLSession&, URLSessionDownloadTask& task, const URL& location) override {
    std::ifstream in(location.path(), std::ios::binary);
    std::ostringstream contents;
    contents << in.rdbuf();
    auto body = contents.str();
    bool exact = body == fntest::pattern(0, body.size());
    say("downloaded " + std::to_string(task.taskIdentifier()) + " " + std::to_string(body.size()) + " " +
        (exact ? "exact" : "corrupt") + " " + task.taskDescription());
    if (!exact && body.size() <= 64) say("body " + std::to_string(task.taskIdentifier()) + " " + body);
    if (exitInFinish) {
      if (exitInFinishAfterMs > 0) {
        say("in-finish");
        std::this_thread::sleep_for(std::chrono::milliseconds(exitInFinishAfterMs));
      }
      _exit(3);  // dies before the method returns: the event must come again
    }
  }
  void didReceiveResponse(URLSession&, URLSessionDataTask& task, const URLResponse&,
                          std::function<void(URLSession::ResponseDisposition)> answer) override {
    say("response " + std::to_string(task.taskIdentifier()));
    answer(disposition);
  }
  void didBecomeDownloadTask(URLSession&, URLSessionDataTask& task, URLSessionDownloadTask& download) override {
    say("became " + std::to_string(task.taskIdentifier()) + " " + std::to_string(download.taskIdentifier()));
  }
  void didReceiveData(URLSession&, URLSessionDataTask& task, const Data& data) override {
    say("data " + std::to_string(task.taskIdentifier()) + " " + std::to_string(data.size()));
  }
  void willPerformHTTPRedirection(URLSession&, URLSessionTask& task, const HTTPURLResponse&, const URLRequest& next,
                                  std::function<void(std::optional<URLRequest>)> answer) override {
    say("redirect " + std::to_string(task.taskIdentifier()));  // never in background sessions
    answer(next);
  }
  void didReceiveChallenge(URLSession&, URLSessionTask& task, const URLAuthenticationChallenge& challenge,
      std::function<void(URLSession::AuthChallengeDisposition, std::optional<URLCredential>)> answer) override {
    auto proposed = challenge.proposedCredential();
    say("challenge " + std::to_string(task.taskIdentifier()) + " " + std::to_string(challenge.previousFailureCount()) +
        " " + (proposed ? proposed->user().value_or("") + ":" + proposed->password().value_or("") : "-"));
    if (holdChallenges) return held.push_back(std::move(answer));  // kept unanswered (delegate calls are serialized)
    std::string next = answers.empty() ? "default" : answers.front();
    if (!answers.empty()) answers.erase(answers.begin());
    if (next == "cancel") return answer(URLSession::AuthChallengeDisposition::cancelAuthenticationChallenge, std::nullopt);
    auto colon = next.find(':');
    if (colon == std::string::npos) return answer(URLSession::AuthChallengeDisposition::performDefaultHandling, std::nullopt);
    answer(URLSession::AuthChallengeDisposition::useCredential,
           URLCredential(next.substr(0, colon), next.substr(colon + 1), URLCredential::Persistence::forSession));
  }
  void didFinishCollectingMetrics(URLSession&, URLSessionTask& task, const URLSessionTaskMetrics& metrics) override {
    if (!printMetrics) return;
    std::string line = "metrics " + std::to_string(task.taskIdentifier()) + " transactions=" +
                       std::to_string(metrics.transactionMetrics.size()) + " redirects=" + std::to_string(metrics.redirectCount);
    if (!metrics.transactionMetrics.empty()) {
      const auto& last = metrics.transactionMetrics.back();
      auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(last.response);
      line += " status=" + std::to_string(http ? http->statusCode() : 0) +
              " fetch=" + std::to_string(static_cast<int>(last.resourceFetchType)) +
              " body-bytes=" + std::to_string(last.countOfResponseBodyBytesReceived) +
              " dated=" + (last.fetchStartDate && last.responseEndDate ? "yes" : "no");
    }
    say(line);
  }
  void didCompleteWithError(URLSession&, URLSessionTask& task, const std::optional<Error>& error) override {
    auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(task.response());
    say("complete " + std::to_string(task.taskIdentifier()) + " " + std::to_string(error ? error->code : 0) + " " +
        std::to_string(http ? http->statusCode() : 0));
    if (!untilFinishedEvents) finish();
    // The main thread is leaving meanwhile.
    if (stayInCompleteMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(stayInCompleteMs));
  }
  void didFinishEventsForBackgroundURLSession(URLSession&) override {
    say("finished-events");
    if (onFinishedEvents) onFinishedEvents();
    finish();
  }
  std::function<void()> onFinishedEvents;
};

// Launched by urlsessiond: Apple's wake-up flow. The handler keeps the completion handler and
// recreates the session; once the events are in, the completion handler is called on the main
// queue, and the library stops the main run loop.
int runLaunched(const std::string& mode, int waitMs, std::shared_ptr<Delegate> delegate) {
  // The test's fixture ends the processes the daemon started for it (they outlive its tests).
  std::ofstream(logFile + ".pids", std::ios::app) << ::getpid() << "\n";
  std::string identifiers;
  for (const auto& id : Application::shared().backgroundURLSessionLaunchIdentifiers()) identifiers += " " + id;
  bool background = Application::shared().applicationState() == Application::State::background;
  say("launched" + identifiers + (background ? " background " : " foreground ") + std::to_string(epochMillis()));
  if (mode == "launched-noop") return 0;
  std::shared_ptr<URLSession> session;
  Application::shared().setHandleEventsForBackgroundURLSession(
      [&](const std::string& identifier, std::function<void()> completionHandler) {
        say("handle-events " + identifier);
        delegate->onFinishedEvents = [completionHandler] {
          OperationQueue::main()->addOperation([completionHandler] {
            say("completion-handler");
            completionHandler();
          });
        };
        session = URLSession::make(URLSessionConfiguration::background(identifier), delegate);
      });
  if (!RunLoop::main().runUntil(std::chrono::system_clock::now() + std::chrono::milliseconds(waitMs))) say("timeout");
  else say("run-loop-stopped");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // acknowledgements reach the daemon
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fputs("usage: bg_app SESSION download|upload|data|attach [...]\n", stderr);
    return 2;
  }
  std::string sessionId = argv[1], command = argv[2];
  std::vector<std::string> positional;
  bool stay = false, launchEvents = true, deleteFile = false, killAfterResume = false;
  int waitMs = 20000;
  std::optional<long> earliestMs;
  std::optional<double> requestTimeout;
  std::vector<std::string> launchCommand;
  std::string answerList, cookieLine;
  auto delegate = std::make_shared<Delegate>();
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--exit-in-finish") delegate->exitInFinish = true;
    else if (a == "--stay-in-complete" && i + 1 < argc) delegate->stayInCompleteMs = std::stoi(argv[++i]);
    else if (a == "--exit-in-finish-after" && i + 1 < argc) {
      delegate->exitInFinish = true;
      delegate->exitInFinishAfterMs = std::stoi(argv[++i]);
    }
    else if (a == "--stay") stay = true;
    else if (a == "--until-finished-events") delegate->untilFinishedEvents = true;
    else if (a == "--wait-ms" && i + 1 < argc) waitMs = std::stoi(argv[++i]);
    else if (a == "--earliest-ms" && i + 1 < argc) earliestMs = std::stol(argv[++i]);
    else if (a == "--log" && i + 1 < argc) logFile = argv[++i];
    else if (a == "--register-launch" && i + 2 < argc) {
      std::string file = argv[++i], mode = argv[++i];
      launchCommand = {argv[0], sessionId, mode, "--log", file};
    }
    else if (a == "--background") Application::shared().setApplicationState(Application::State::background);
    else if (a == "--no-launch-events") launchEvents = false;
    else if (a == "--delete-file") deleteFile = true;
    else if (a == "--kill-after-resume") killAfterResume = true;
    else if (a == "--hold-challenges") delegate->holdChallenges = true;
    else if (a == "--metrics") delegate->printMetrics = true;
    else if (a == "--disposition" && i + 1 < argc) {
      std::string name = argv[++i];
      delegate->disposition = name == "cancel"            ? URLSession::ResponseDisposition::cancel
                              : name == "become-download" ? URLSession::ResponseDisposition::becomeDownload
                                                          : URLSession::ResponseDisposition::allow;
    }
    else if (a == "--answer" && i + 1 < argc) answerList = argv[++i];
    else if (a == "--request-timeout" && i + 1 < argc) requestTimeout = std::stod(argv[++i]);
    else if (a == "--cookie" && i + 1 < argc) cookieLine = argv[++i];
    else positional.push_back(a);
  }
  for (std::size_t at = 0; !answerList.empty() && at <= answerList.size();) {
    auto comma = std::min(answerList.find(',', at), answerList.size());
    delegate->answers.push_back(answerList.substr(at, comma - at));
    at = comma + 1;
  }
  if (!launchCommand.empty()) {
    if (!answerList.empty()) launchCommand.insert(launchCommand.end(), {"--answer", answerList});
    Application::shared().setLaunchCommand(launchCommand);
  }
  if (command.rfind("launched", 0) == 0) return runLaunched(command, waitMs, delegate);
  auto configuration = URLSessionConfiguration::background(sessionId);
  configuration.sessionSendsLaunchEvents = launchEvents;
  if (requestTimeout) configuration.timeoutIntervalForRequest = *requestTimeout;
  auto session = URLSession::make(configuration, delegate);
  std::promise<std::size_t> listed;
  session->getAllTasks([&](std::vector<std::shared_ptr<URLSessionTask>> tasks) { listed.set_value(tasks.size()); });
  say("attached tasks=" + std::to_string(listed.get_future().get()));

  if (!cookieLine.empty() && !positional.empty()) {
    const URL url(positional[0]);
    for (const auto& cookie : HTTPCookie::cookies({{"Set-Cookie", cookieLine}}, url)) HTTPCookieStorage::shared()->setCookie(cookie);
  }
  std::shared_ptr<URLSessionTask> task;
  if (command == "download" && !positional.empty()) {
    task = session->downloadTask(URL(positional[0]));
  } else if (command == "upload" && positional.size() >= 2) {
    URLRequest request{URL(positional[0])};
    request.httpMethod = "POST";
    task = session->uploadTask(request, URL::fileURLWithPath(positional[1]));
    if (deleteFile) std::remove(positional[1].c_str());  // the daemon has its own copy by now
  } else if (command == "data" && !positional.empty()) {
    task = session->dataTask(URL(positional[0]));
  }
  if (task) {
    task->setTaskDescription("bg-app-" + command);
    if (earliestMs) task->setEarliestBeginDate(std::chrono::system_clock::now() + std::chrono::milliseconds(*earliestMs));
    task->resume();
    if (killAfterResume) std::raise(SIGKILL);  // no grace: the daemon must have heard of the task
    say("started " + std::to_string(task->taskIdentifier()));
  }
  auto finished = delegate->done.get_future();
  if (finished.wait_for(std::chrono::milliseconds(waitMs)) != std::future_status::ready) say("timeout");
  while (stay) std::this_thread::sleep_for(std::chrono::seconds(1));
  // Leaves at once: the library makes exit wait for the last completion's acknowledgement.
  return 0;
}

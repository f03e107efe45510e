// Background sessions end to end: a real urlsessiond, app processes started and killed, the
// daemon killed and restarted, and Apple's background rules.
#include <doctest/doctest.h>

#include <atomic>

#include "../integration/Recorder.hpp"
#include "BackgroundFixture.hpp"

using namespace fntest;

TEST_CASE("a download survives its app being killed and is delivered once to the relaunched app") {
  BackgroundEnvironment env;
  {
    App app({"s1", "download", slowBody(env, 600000)});
    REQUIRE_FALSE(app.waitFor("progress").empty());
    app.kill9();
  }
  // The daemon goes on alone; the relaunched app gets the file, the completion, then the end of replay.
  std::this_thread::sleep_for(1500ms);
  App relaunched({"s1", "attach", "--until-finished-events"});
  auto downloaded = relaunched.waitFor("downloaded");
  CHECK(downloaded == "downloaded 1 600000 exact bg-app-download");
  CHECK(relaunched.waitFor("complete") == "complete 1 0 200");
  CHECK_FALSE(relaunched.waitFor("finished-events").empty());
  relaunched.wait();
  // Acknowledged: nothing is delivered a second time.
  App again({"s1", "attach", "--wait-ms", "1000"});
  CHECK_FALSE(again.waitFor("attached").empty());
  again.wait();
  CHECK(again.count("downloaded") == 0);
  CHECK(again.count("complete") == 0);
}

// bg_app returns from main as soon as didCompleteWithError let it (see OwedAcknowledgement): the
// acknowledgement is written on the delegate queue's thread once the method returns, while the
// main thread is already leaving; the second round's method takes a while to return.
TEST_CASE("an app that leaves as soon as its delegate saw the completion does not get it again") {
  BackgroundEnvironment env;
  for (const char* stay : {"0", "300"}) {
    const std::string session = std::string("leave") + stay;
    {
      App app({session, "download", env.server.url("/bytes?n=20000"), "--stay-in-complete", stay});
      CHECK(app.waitFor("complete") == "complete 1 0 200");
      app.wait();
    }
    App again({session, "attach", "--wait-ms", "500"});
    CHECK_FALSE(again.waitFor("attached").empty());
    again.wait();
    CHECK(again.count("downloaded") == 0);
    CHECK(again.count("complete") == 0);
  }
}

TEST_CASE("a download survives the daemon being killed and continues where it stopped") {
  BackgroundEnvironment env;
  App app({"s2", "download", slowBody(env, 1200000)});
  REQUIRE_FALSE(app.waitFor("progress").empty());
  std::this_thread::sleep_for(400ms);
  env.killDaemon();  // the app's link starts a new daemon, which reloads the task
  CHECK(app.waitFor("downloaded", 30s) == "downloaded 1 1200000 exact bg-app-download");
  // Continued with Range + If-Range, not from zero: the last response is the 206.
  CHECK(app.waitFor("complete") == "complete 1 0 206");
  CHECK(rangeRequests(env) >= 1);
}

// The daemon dies after the body's last byte reached its partial file but before the transfer
// could know the body was complete (a close-delimited body whose connection stays open): the next
// daemon asks for the bytes after the last one, the server answers 416 "bytes */N", and the
// partial file is the whole resource. It was truncated and an empty file delivered with the 416.
TEST_CASE("a download whose partial file is whole when the daemon returns completes with that file") {
  BackgroundEnvironment env;
  App app({"s3", "download", env.server.url("/bytes?n=300000&ranges=1&etag=v1&nolength=1&hold_ms=5000")});
  REQUIRE_FALSE(app.waitFor("started").empty());
  std::this_thread::sleep_for(1000ms);  // every byte is on disk; the connection is still open
  env.killDaemon();
  CHECK(app.waitFor("downloaded", 30s) == "downloaded 1 300000 exact bg-app-download");
  CHECK(app.waitFor("complete") == "complete 1 0 200");  // the response that brought the bytes
  bool askedPastTheEnd = false;
  for (const auto& r : env.server.requests()) askedPastTheEnd = askedPastTheEnd || r.header("Range") == "bytes=300000-";
  CHECK(askedPastTheEnd);
}

TEST_CASE("an event is delivered again when the app dies inside the delegate method") {
  BackgroundEnvironment env;
  {
    App crashing({"s3", "download", env.server.url("/bytes?n=50000"), "--exit-in-finish"});
    CHECK_FALSE(crashing.waitFor("downloaded").empty());
    crashing.wait();
    CHECK(crashing.count("complete") == 0);
  }
  App relaunched({"s3", "attach"});
  CHECK(relaunched.waitFor("downloaded") == "downloaded 1 50000 exact bg-app-download");
  CHECK(relaunched.waitFor("complete") == "complete 1 0 200");
}

TEST_CASE("a second process attaching the same session gets backgroundSessionInUseByAnotherProcess") {
  BackgroundEnvironment env;
  App holder({"s4", "attach", "--stay"});
  REQUIRE_FALSE(holder.waitFor("attached").empty());
  App intruder({"s4", "download", env.server.url("/hello")});
  CHECK(intruder.waitFor("complete") == "complete 1 -996 0");
}

TEST_CASE("a background data task fails with -997 when its app goes away") {
  BackgroundEnvironment env;
  {
    App app({"s5", "data", slowBody(env, 2000000, 50)});
    REQUIRE_FALSE(app.waitFor("data").empty());
    app.kill9();
  }
  std::this_thread::sleep_for(300ms);
  App relaunched({"s5", "attach"});
  CHECK(relaunched.waitFor("complete") == "complete 1 -997 200");
}

TEST_CASE("a background data task answered becomeDownload goes on as a download task with an id of its own") {
  BackgroundEnvironment env;
  App app({"s13", "data", env.server.url("/bytes?n=300000"), "--disposition", "become-download"});
  CHECK(app.waitFor("response") == "response 1");
  CHECK(app.waitFor("became") == "became 1 2");
  CHECK(app.waitFor("downloaded") == "downloaded 2 300000 exact bg-app-data");
  CHECK(app.waitFor("complete") == "complete 2 0 200");
  app.wait();
  // The data task ended with didBecomeDownloadTask: no bytes and no completion of its own.
  CHECK(app.count("data ") == 0);
  CHECK(app.count("complete 1") == 0);
}

TEST_CASE("a data task that became a download outlives its app and the daemon, and the next app gets the file") {
  BackgroundEnvironment env;
  {
    App app({"s14", "data", slowBody(env, 1200000), "--disposition", "become-download"});
    REQUIRE(app.waitFor("became") == "became 1 2");
    REQUIRE_FALSE(app.waitFor("progress 2").empty());
    app.kill9();  // a data task would fail with -997 now; the download goes on
  }
  // The daemon too: the task it became is in the store, and its partial file is continued.
  std::this_thread::sleep_for(300ms);
  env.killDaemon();
  env.startDaemon();
  std::this_thread::sleep_for(1500ms);
  App relaunched({"s14", "attach", "--until-finished-events"});
  CHECK(relaunched.waitFor("downloaded", 30s) == "downloaded 2 1200000 exact bg-app-data");
  // Continued with Range + If-Range from the data task's response validator: the last response is a 206.
  CHECK(relaunched.waitFor("complete") == "complete 2 0 206");
  CHECK(rangeRequests(env) >= 1);
  relaunched.wait();
  CHECK(relaunched.count("complete 1") == 0);
}

TEST_CASE("a background data task answered cancel completes with -999, and allow delivers the body") {
  BackgroundEnvironment env;
  App cancelled({"s15", "data", env.server.url("/bytes?n=300000"), "--disposition", "cancel"});
  CHECK(cancelled.waitFor("complete") == "complete 1 -999 200");
  cancelled.wait();
  CHECK(cancelled.count("data ") == 0);
  App allowed({"s16", "data", env.server.url("/bytes?n=300000")});
  CHECK(allowed.waitFor("complete") == "complete 1 0 200");
  allowed.wait();
  CHECK(allowed.count("data ") > 0);
}

TEST_CASE("a background task's metrics keep the attempts made before the daemon was killed") {
  BackgroundEnvironment env;
  ::setenv("FOUNDATION_NET_RETRY_BASE_MS", "2000", 1);  // the daemon is killed during the backoff
  // The first request's connection closes without an answer (a transient failure, retried);
  // later ones get the body.
  std::atomic<int> requests{0};
  env.server.route("/flaky", [&](const RecordedRequest&, Responder& responder) {
    if (requests++ == 0) return responder.close();
    responder.send(200, {}, "whole");
  });
  App app({"s19", "download", env.server.url("/status/302?location=/flaky"), "--metrics"});
  for (int i = 0; i < 200 && requests == 0; ++i) std::this_thread::sleep_for(20ms);
  REQUIRE(requests == 1);
  std::this_thread::sleep_for(300ms);  // the attempt has ended; the retry waits 2 s
  env.killDaemon();  // the app's link starts a new daemon, which reloads the task
  // Both attempts: the 302 and the lost connection, then the 302 and the 200.
  CHECK(app.waitFor("metrics", 30s) == "metrics 1 transactions=4 redirects=2 status=200 fetch=1 body-bytes=5 dated=yes");
  CHECK(app.waitFor("complete") == "complete 1 0 200");
  ::setenv("FOUNDATION_NET_RETRY_BASE_MS", "100", 1);
}

TEST_CASE("a background task's metrics are the daemon's transactions, redirects included, before the completion") {
  BackgroundEnvironment env;
  App app({"s17", "download", env.server.url("/redirect/2"), "--metrics"});
  CHECK(app.waitFor("metrics") == "metrics 1 transactions=3 redirects=2 status=200 fetch=1 body-bytes=13 dated=yes");
  CHECK(app.waitFor("complete") == "complete 1 0 200");
  app.wait();
  auto lines = app.lines();
  auto at = [&](const std::string& prefix) {
    return std::find_if(lines.begin(), lines.end(), [&](const std::string& l) { return l.rfind(prefix, 0) == 0; });
  };
  CHECK(at("metrics") < at("complete"));
}

TEST_CASE("a download is the daemon's once resume() returned, even if the app is killed right then") {
  BackgroundEnvironment env;
  {
    App app({"k1", "download", env.server.url("/bytes?n=50000"), "--kill-after-resume"});
    app.wait();
    CHECK(app.count("started") == 0);  // killed before it could print anything more
  }
  App relaunched({"k1", "attach"});
  CHECK(relaunched.waitFor("downloaded") == "downloaded 1 50000 exact bg-app-download");
  CHECK(relaunched.waitFor("complete") == "complete 1 0 200");
  CHECK(env.server.requests().size() == 1);
}

TEST_CASE("an upload from a file survives its app, which deleted the file as soon as uploadTask() returned") {
  BackgroundEnvironment env;
  auto file = env.root / "upload.bin";
  std::ofstream(file, std::ios::binary) << pattern(0, 300000);
  {
    App app({"s6", "upload", env.server.url("/echo"), file.string(), "--delete-file", "--kill-after-resume"});
    app.wait();
  }
  CHECK_FALSE(fs::exists(file));
  App relaunched({"s6", "attach"});
  CHECK(relaunched.waitFor("complete") == "complete 1 0 200");
  auto requests = env.server.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].path == "/echo");
  CHECK(requests[0].bodySize == 300000);
  CHECK(requests[0].body == pattern(0, requests[0].body.size()));  // the stored prefix, byte for byte
}

namespace {

// In-process background session with a recording delegate.
struct InProcess {
  std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>();
  std::shared_ptr<URLSession> session;
  explicit InProcess(const std::string& id) { session = URLSession::make(URLSessionConfiguration::background(id), recorder); }
};

}  // namespace

TEST_CASE("background sessions refuse what Apple refuses") {
  BackgroundEnvironment env;
  InProcess app("rules");
  URLRequest post(URL(env.server.url("/echo")));
  post.httpMethod = "POST";
  CHECK_THROWS_AS(app.session->uploadTask(post, Data("body")), std::logic_error);
  CHECK_THROWS_AS(app.session->dataTask(URL(env.server.url("/hello")), [](auto, auto, auto) {}), std::logic_error);
  CHECK_THROWS_AS(app.session->downloadTask(URL(env.server.url("/hello")), [](auto, auto, auto) {}), std::logic_error);
  CHECK_THROWS_AS(URLSessionConfiguration::background(""), std::invalid_argument);

  auto ftp = app.session->downloadTask(URL("ftp://127.0.0.1/file"));
  ftp->resume();
  auto file = app.session->downloadTask(URL("file:///etc/hostname"));
  file->resume();
  REQUIRE(app.recorder->waitForCompletions(2));
  CHECK(app.recorder->completion(ftp->taskIdentifier()).error->code == URLError::unsupportedURL);
  CHECK(app.recorder->completion(file->taskIdentifier()).error->code == URLError::unsupportedURL);
}

TEST_CASE("redirects are always followed in background sessions, without asking the delegate") {
  BackgroundEnvironment env;
  InProcess app("redirects");
  app.recorder->redirect = [](const HTTPURLResponse&, const URLRequest&) { return std::optional<URLRequest>(); };
  auto task = app.session->downloadTask(URL(env.server.url("/redirect/3")));
  task->resume();
  REQUIRE(app.recorder->waitForCompletions(1));
  CHECK_FALSE(app.recorder->completion(task->taskIdentifier()).error);
  auto events = app.recorder->events(task->taskIdentifier());
  CHECK(std::count(events.begin(), events.end(), "willPerformHTTPRedirection") == 0);
  CHECK(statusOf(task->response()) == 200);
}

TEST_CASE("background sessions keep the cookies their responses set, each to itself") {
  BackgroundEnvironment env;
  env.server.route("/login", [](const RecordedRequest&, Responder& responder) {
    responder.send(302, {{"Set-Cookie", "ticket=42; Path=/"}, {"Location", "/ticketed"}}, "");
  });
  env.server.route("/ticketed", [](const RecordedRequest& request, Responder& responder) {
    responder.send(200, {}, "ticket: " + request.header("Cookie").value_or("(none)"));
  });
  InProcess app("cookies");
  app.recorder->keepsDownloads = true;
  auto login = app.session->downloadTask(URL(env.server.url("/login")));
  login->resume();
  REQUIRE(app.recorder->waitForCompletions(1));
  CHECK(app.recorder->downloaded(login->taskIdentifier()) == "ticket: ticket=42");
  auto again = app.session->downloadTask(URL(env.server.url("/ticketed")));
  again->resume();
  REQUIRE(app.recorder->waitForCompletions(2));
  CHECK(app.recorder->downloaded(again->taskIdentifier()) == "ticket: ticket=42");

  InProcess other("cookies-other");
  other.recorder->keepsDownloads = true;
  auto stranger = other.session->downloadTask(URL(env.server.url("/ticketed")));
  stranger->resume();
  REQUIRE(other.recorder->waitForCompletions(1));
  CHECK(other.recorder->downloaded(stranger->taskIdentifier()) == "ticket: (none)");
}

namespace {

struct DelayedRecorder : Recorder {
  URLSession::DelayedRequestDisposition answer = URLSession::DelayedRequestDisposition::continueLoading;
  std::optional<URLRequest> replacement;
  std::atomic<int> asked{0};
  void willBeginDelayedRequest(URLSession&, URLSessionTask&, const URLRequest&,
      std::function<void(URLSession::DelayedRequestDisposition, std::optional<URLRequest>)> handler) override {
    ++asked;
    handler(answer, replacement);
  }
};

}  // namespace

TEST_CASE("earliestBeginDate: nothing goes on the wire before it, then the app decides") {
  BackgroundEnvironment env;
  auto recorder = std::make_shared<DelayedRecorder>();
  auto session = URLSession::make(URLSessionConfiguration::background("delayed"), recorder);
  auto begin = std::chrono::system_clock::now() + 800ms;
  auto start = [&](const std::string& path) {
    auto task = session->downloadTask(URL(env.server.url(path)));
    task->setEarliestBeginDate(begin);
    task->resume();
    return task;
  };

  SUBCASE("continue") {
    auto task = start("/bytes?n=1000&which=continue");
    std::this_thread::sleep_for(500ms);
    CHECK(env.server.requests().empty());
    REQUIRE(recorder->waitForCompletions(1));
    CHECK(std::chrono::system_clock::now() >= begin);
    CHECK(recorder->asked == 1);
    CHECK_FALSE(recorder->completion(task->taskIdentifier()).error);
    CHECK(env.server.requests().at(0).query.at("which") == "continue");
  }
  SUBCASE("a new request") {
    recorder->answer = URLSession::DelayedRequestDisposition::useNewRequest;
    recorder->replacement = URLRequest(URL(env.server.url("/bytes?n=7&which=replaced")));
    auto task = start("/bytes?n=1000&which=original");
    REQUIRE(recorder->waitForCompletions(1));
    CHECK_FALSE(recorder->completion(task->taskIdentifier()).error);
    CHECK(env.server.requests().at(0).query.at("which") == "replaced");
  }
  SUBCASE("cancel") {
    recorder->answer = URLSession::DelayedRequestDisposition::cancel;
    auto task = start("/bytes?n=1000");
    REQUIRE(recorder->waitForCompletions(1));
    CHECK(recorder->completion(task->taskIdentifier()).error->code == URLError::cancelled);
    CHECK(env.server.requests().empty());
  }
}

TEST_CASE("discretionary tasks wait for AC power and an unmetered network; no network means waiting") {
  BackgroundEnvironment env;
  auto configuration = URLSessionConfiguration::background("discretionary");
  configuration.isDiscretionary = true;
  auto recorder = std::make_shared<Recorder>();
  env.setConditions("power=battery\nnetwork=unmetered\n");
  auto session = URLSession::make(configuration, recorder);
  auto task = session->downloadTask(URL(env.server.url("/bytes?n=1000")));
  task->resume();
  std::this_thread::sleep_for(1500ms);
  CHECK(env.server.requests().empty());
  env.setConditions("power=ac\nnetwork=metered\n");
  std::this_thread::sleep_for(1500ms);
  CHECK(env.server.requests().empty());
  env.setConditions("power=ac\nnetwork=none\n");
  std::this_thread::sleep_for(1500ms);
  CHECK(env.server.requests().empty());
  CHECK(recorder->completionCount() == 0);  // waiting, not failing
  env.setConditions("power=ac\nnetwork=unmetered\n");
  REQUIRE(recorder->waitForCompletions(1));
  CHECK_FALSE(recorder->completion(task->taskIdentifier()).error);
}

TEST_CASE("200 queued background downloads all complete") {
  BackgroundEnvironment env;
  InProcess app("many");
  std::vector<std::shared_ptr<URLSessionDownloadTask>> tasks;
  for (int i = 0; i < 200; ++i) tasks.push_back(app.session->downloadTask(URL(env.server.url("/bytes?n=2000"))));
  for (auto& task : tasks) task->resume();
  REQUIRE(app.recorder->waitForCompletions(200, 60s));
  int failures = 0;
  for (auto& task : tasks) failures += app.recorder->completion(task->taskIdentifier()).error ? 1 : 0;
  CHECK(failures == 0);
}

TEST_CASE("a scheduled task survives a daemon restart and starts at its time") {
  BackgroundEnvironment env;
  InProcess app("scheduled");
  auto begin = std::chrono::system_clock::now() + 1500ms;
  auto task = app.session->downloadTask(URL(env.server.url("/bytes?n=5000")));
  task->setEarliestBeginDate(begin);
  task->resume();
  std::this_thread::sleep_for(300ms);
  env.killDaemon();  // the link brings up a new daemon, which reloads the schedule
  REQUIRE(app.recorder->waitForCompletions(1, 20s));
  CHECK_FALSE(app.recorder->completion(task->taskIdentifier()).error);
  CHECK(std::chrono::system_clock::now() >= begin);
  REQUIRE(env.server.requests().size() == 1);
}

TEST_CASE("tasks made while the daemon restarts after SIGKILL reach the new daemon and complete") {
  BackgroundEnvironment env;
  InProcess app("restarting");
  auto file = env.root / "restart-upload.bin";
  std::ofstream(file, std::ios::binary) << pattern(0, 100000);
  auto first = app.session->downloadTask(URL(env.server.url("/bytes?n=1000&which=first")));
  first->resume();
  auto later = app.session->downloadTask(URL(env.server.url("/bytes?n=1000&which=later")));
  later->setEarliestBeginDate(std::chrono::system_clock::now() + std::chrono::hours(1));
  later->resume();
  REQUIRE(app.recorder->waitForCompletions(1));
  env.killDaemon();  // at once: the link is down or about to notice
  later->cancel();   // a task the daemon knows: the new daemon must hear of the cancel too
  auto download = app.session->downloadTask(URL(env.server.url("/bytes?n=3000&which=during")));
  download->setTaskDescription("made while the daemon was down");
  download->resume();
  URLRequest post(URL(env.server.url("/echo")));
  post.httpMethod = "POST";
  auto upload = app.session->uploadTask(post, URL::fileURLWithPath(file.string()));
  fs::remove(file);
  upload->resume();
  REQUIRE(app.recorder->waitForCompletions(4, 30s));
  REQUIRE(app.recorder->completion(later->taskIdentifier()).error);
  CHECK(app.recorder->completion(later->taskIdentifier()).error->code == URLError::cancelled);
  CHECK_FALSE(app.recorder->completion(download->taskIdentifier()).error);
  CHECK_FALSE(app.recorder->completion(upload->taskIdentifier()).error);
  CHECK(download->taskDescription() == "made while the daemon was down");
  int during = 0, uploads = 0, cancelled = 0;
  for (const auto& r : env.server.requests()) {
    during += r.query.count("which") && r.query.at("which") == "during";
    cancelled += r.query.count("which") && r.query.at("which") == "later";
    uploads += r.path == "/echo" && r.bodySize == 100000;
  }
  CHECK(during == 1);
  CHECK(uploads == 1);
  CHECK(cancelled == 0);
}

TEST_CASE("background: an upload from a missing file or a folder fails through the delegate, as in-process") {
  BackgroundEnvironment env;
  auto recorder = std::make_shared<Recorder>();
  auto session = URLSession::make(URLSessionConfiguration::background("upload-sources"), recorder);
  URLRequest request(URL(env.server.url("/echo")));
  request.httpMethod = "POST";
  auto missing = session->uploadTask(request, URL::fileURLWithPath((env.root / "no-such-file").string()));
  fs::create_directories(env.root / "a-folder");
  auto folder = session->uploadTask(request, URL::fileURLWithPath((env.root / "a-folder").string()));
  missing->resume();
  folder->resume();
  REQUIRE(recorder->waitForCompletions(2, 30s));
  auto missingError = recorder->completion(missing->taskIdentifier()).error;
  REQUIRE(missingError);
  CHECK(missingError->code == URLError::fileDoesNotExist);
  auto folderError = recorder->completion(folder->taskIdentifier()).error;
  REQUIRE(folderError);
  CHECK(folderError->code == URLError::fileIsDirectory);
  CHECK(env.server.requests().empty());
  session->finishTasksAndInvalidate();
}

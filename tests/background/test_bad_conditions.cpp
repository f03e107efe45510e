// Issue 4's bad conditions against a real urlsessiond: a server that lies about Content-Length,
// an upload file that changes or vanishes around its snapshot, a daemon that restarts while the
// app is inside a delegate method.
#include <doctest/doctest.h>

#include "../integration/Recorder.hpp"
#include "BackgroundFixture.hpp"

#include <sys/file.h>

#include <algorithm>
#include <future>

using namespace fntest;

TEST_CASE("a completion replayed by a restarted daemon while the delegate still runs is not acknowledged early") {
  BackgroundEnvironment env;
  {
    // The app sits in didFinishDownloadingTo while the daemon is killed; the library reconnects
    // and the new daemon replays the completion; then the app dies inside the method.
    App app({"early-ack", "download", env.server.url("/bytes?n=50000"), "--exit-in-finish-after", "2500"});
    REQUIRE_FALSE(app.waitFor("in-finish").empty());
    env.killDaemon();
    app.wait();
  }
  App relaunched({"early-ack", "attach"});
  CHECK(relaunched.waitFor("downloaded") == "downloaded 1 50000 exact bg-app-download");
  CHECK(relaunched.waitFor("complete") == "complete 1 0 200");
}

TEST_CASE("a completion whose acknowledgement died with the daemon is not delivered twice to the same process") {
  BackgroundEnvironment env;
  auto recorder = std::make_shared<Recorder>();
  // Stopped inside the delegate: the acknowledgement that follows waits unread in its socket.
  recorder->onDownloaded = [&](URLSessionDownloadTask&, const URL&) { ::kill(env.daemonPid(), SIGSTOP); };
  auto session = URLSession::make(URLSessionConfiguration::background("ack-lost"), recorder);
  auto task = session->downloadTask(URL(env.server.url("/bytes?n=50000")));
  task->resume();
  REQUIRE(recorder->waitForCompletions(1, 30s));
  std::this_thread::sleep_for(200ms);
  env.killDaemon();  // the library starts the next one, which replays the completion
  std::this_thread::sleep_for(2500ms);
  auto events = recorder->events(task->taskIdentifier());
  CHECK(std::count(events.begin(), events.end(), "didCompleteWithError") == 1);
  CHECK(std::count(events.begin(), events.end(), "didFinishDownloadingTo") == 1);
  session->finishTasksAndInvalidate();
  REQUIRE(recorder->waitForInvalidation());
  // And acknowledged again: nothing is left for the next process.
  App later({"ack-lost", "attach", "--wait-ms", "1500"});
  later.wait();
  CHECK(later.count("complete") == 0);
}

TEST_CASE("a session whose daemon dies before it answered attaches to the next daemon") {
  BackgroundEnvironment env;
  auto recorder = std::make_shared<Recorder>();
  std::string session = "attach-kill";
  SUBCASE("killed while attaching") {
    env.startDaemon();
    for (int i = 0; i < 500 && !fs::exists(env.root / "run" / "urlsessiond.sock"); ++i) std::this_thread::sleep_for(10ms);
    ::kill(env.daemonPid(), SIGSTOP);  // it has the connection (the kernel accepts it) but never answers
  }
  int lock = -1;
  SUBCASE("killed while starting, holding the lock") {
    // A daemon that took the lock and died before it served: every daemon the library starts
    // meanwhile exits at once; the one started after the lock is free must serve.
    session = "attach-lock";
    fs::create_directories(env.root / "run");
    lock = ::open((env.root / "run" / "urlsessiond.lock").c_str(), O_RDWR | O_CREAT, 0600);
    REQUIRE(::flock(lock, LOCK_EX) == 0);
  }
  auto making = std::async(std::launch::async,
                           [&] { return URLSession::make(URLSessionConfiguration::background(session), recorder); });
  std::this_thread::sleep_for(1s);
  if (lock >= 0) ::close(lock);
  else env.killDaemon();
  auto made = making.get();
  auto task = made->downloadTask(URL(env.server.url("/bytes?n=30000")));
  task->resume();
  REQUIRE(recorder->waitForCompletions(1, 30s));
  auto error = recorder->completion(task->taskIdentifier()).error;
  CHECK_MESSAGE(!error, (error ? std::to_string(error->code) + " " + error->localizedFailureReason.value_or("") : ""));
  made->finishTasksAndInvalidate();
  CHECK(recorder->waitForInvalidation());
}

// ---- A server that lies about Content-Length -------------------------------------------------

TEST_CASE("background: a body shorter than its Content-Length is continued by the daemon to the exact resource") {
  BackgroundEnvironment env;
  // The first response breaks off at 100000 of the 300000 it announced; the continuation is whole.
  App app({"cl-short", "download", env.server.url("/bytes?n=300000&ranges=1&etag=v1&drop_after=100000")});
  CHECK(app.waitFor("complete") == "complete 1 0 206");
  CHECK(app.count("downloaded") == 1);  // the partial file was never handed over
  CHECK(app.waitFor("downloaded") == "downloaded 1 300000 exact bg-app-download");
  CHECK(rangeRequests(env) == 1);
}

TEST_CASE("background: a body longer than its Content-Length is delivered as exactly Content-Length bytes") {
  BackgroundEnvironment env;
  env.server.route("/too-much", [](const RecordedRequest&, Responder& out) {
    if (out.sendHead(200, {{"Content-Length", "200000"}}))
      out.writeRaw(pattern(0, 200000) + "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfake!");
  });
  App app({"cl-long", "download", env.server.url("/too-much")});
  CHECK(app.waitFor("complete") == "complete 1 0 200");
  CHECK(app.waitFor("downloaded") == "downloaded 1 200000 exact bg-app-download");
}

// ---- The upload file changes or vanishes around the daemon's snapshot -------------------------

namespace {

// A background session in this process whose uploads go to /sink, which keeps the digest-free
// full body of the last upload it got.
struct Uploads {
  BackgroundEnvironment& env;
  std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>();
  std::shared_ptr<URLSession> session;
  std::mutex mutex;
  std::vector<std::string> bodies;
  fs::path file;

  Uploads(BackgroundEnvironment& e, const std::string& id) : env(e), file(e.root / "upload.bin") {
    env.server.route("/sink", [this](const RecordedRequest& r, Responder& out) {
      {
        std::lock_guard lock(mutex);
        bodies.push_back(r.body);
      }
      out.send(200, {}, "got it");
    });
    // Each subcase run is a new session: the one before may still be letting go of its identifier.
    static std::atomic<int> runs{0};
    session = URLSession::make(URLSessionConfiguration::background(id + std::to_string(runs++)), recorder);
    std::promise<void> attached;
    session->getAllTasks([&](std::vector<std::shared_ptr<URLSessionTask>>) { attached.set_value(); });
    attached.get_future().wait();  // the daemon runs
  }
  // Let go of the daemon before the environment kills it: a live link would start another.
  ~Uploads() {
    session->invalidateAndCancel();
    recorder->waitForInvalidation(5s);
  }
  void write(const std::string& content) { std::ofstream(file, std::ios::binary | std::ios::trunc) << content; }
  std::shared_ptr<URLSessionUploadTask> upload() {
    URLRequest request(URL(env.server.url("/sink")));
    request.httpMethod = "POST";
    return session->uploadTask(request, URL::fileURLWithPath(file.string()));
  }
  // Resumes the task and waits for its completion; the bodies the server got.
  std::vector<std::string> finish(const std::shared_ptr<URLSessionUploadTask>& task) {
    task->resume();
    REQUIRE(recorder->waitForCompletions(1, 30s));
    std::lock_guard lock(mutex);
    return bodies;
  }
};

}  // namespace

TEST_CASE("background: the upload is the file as it was when uploadTask() returned, whatever happens to it after") {
  BackgroundEnvironment env;
  Uploads u(env, "snapshot-after");
  const std::string original = pattern(3, 300000);
  u.write(original);
  auto task = u.upload();
  SUBCASE("truncated") { fs::resize_file(u.file, 1000); }
  SUBCASE("rewritten with other bytes of the same size") { u.write(pattern(50, 300000)); }
  SUBCASE("grown") { std::ofstream(u.file, std::ios::binary | std::ios::app) << pattern(0, 100000); }
  SUBCASE("deleted") { fs::remove(u.file); }
  CHECK(task->countOfBytesExpectedToSend() == 300000);
  auto bodies = u.finish(task);
  CHECK_FALSE(u.recorder->completion(task->taskIdentifier()).error);
  REQUIRE(bodies.size() == 1);
  CHECK(bodies[0] == original);
}

TEST_CASE("background: an upload file that changes or vanishes before the daemon could copy it") {
  BackgroundEnvironment env;
  Uploads u(env, "snapshot-before");
  u.write(pattern(0, 200000));
  const pid_t daemon = env.daemonPid();
  REQUIRE(daemon > 0);
  // The daemon is stopped: uploadTask() waits for its copy, and the file changes meanwhile.
  ::kill(daemon, SIGSTOP);
  auto pending = std::async(std::launch::async, [&] { return u.upload(); });
  std::this_thread::sleep_for(300ms);
  CHECK(pending.wait_for(0ms) == std::future_status::timeout);  // still waiting for the copy
  std::string replaced;
  SUBCASE("replaced") {
    replaced = pattern(77, 5000);
    u.write(replaced);
  }
  SUBCASE("deleted") { fs::remove(u.file); }
  ::kill(daemon, SIGCONT);
  auto task = pending.get();
  if (!replaced.empty()) CHECK(task->countOfBytesExpectedToSend() == 5000);  // the copy's size, at once
  auto bodies = u.finish(task);
  auto error = u.recorder->completion(task->taskIdentifier()).error;
  if (replaced.empty()) {
    // Gone before the copy: nothing to upload, and a clear error.
    REQUIRE(error);
    CHECK(error->code == URLError::fileDoesNotExist);
    CHECK(bodies.empty());
  } else {
    // The file as the copy found it, whole: never part of one version and part of another.
    CHECK_FALSE(error);
    REQUIRE(bodies.size() == 1);
    CHECK(bodies[0] == replaced);
    CHECK(task->countOfBytesExpectedToSend() == 5000);
  }
}

TEST_CASE("background: an upload file rewritten while the daemon copies it is uploaded as one version, or fails") {
  BackgroundEnvironment env;
  Uploads u(env, "snapshot-during");
  const std::size_t size = 4 << 20;
  const std::string a = pattern(0, size), b = pattern(1, size);
  u.write(a);
  // Rewritten in place, over and over, the whole time uploadTask() runs.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::fstream out(u.file, std::ios::binary | std::ios::in | std::ios::out);
    for (int i = 0; !stop; ++i) {
      const std::string& next = i % 2 ? a : b;
      for (std::size_t at = 0; at < size && !stop; at += 65536) {
        out.seekp(static_cast<std::streamoff>(at));
        out.write(next.data() + at, 65536);
        out.flush();
      }
    }
  });
  auto task = u.upload();
  stop = true;
  writer.join();
  auto bodies = u.finish(task);
  auto error = u.recorder->completion(task->taskIdentifier()).error;
  if (error) {
    CHECK(error->code == URLError::cannotOpenFile);  // it never held still
    CHECK(bodies.empty());
  } else {
    REQUIRE(bodies.size() == 1);
    CHECK((bodies[0] == a || bodies[0] == b));
  }
}

// Servers that lie about Content-Length. Fewer bytes than announced, then the connection
// closes: the task fails with -1005 (curl's CURLE_PARTIAL_FILE), a download's partial file is
// never handed over (it is the resume data's). More bytes than announced: the body is exactly
// Content-Length bytes (curl stops there) and the connection, whose next response would start
// at an unknown place, is never used again — not even when the excess is a well-formed response,
// in the same packet or later while the connection is idle.
#include <doctest/doctest.h>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <mutex>

#include "Recorder.hpp"
#include "TestServer.hpp"

using namespace fntest;

namespace {

constexpr std::size_t kAnnounced = 200000;

// Announces kAnnounced bytes and sends them plus `excess` on a connection it keeps open;
// with `lateExcess`, the excess follows after a pause, when the client may think it is idle.
void sendTooMuch(Responder& out, const std::string& excess, bool lateExcess) {
  if (!out.sendHead(200, {{"Content-Type", "application/octet-stream"}, {"Content-Length", std::to_string(kAnnounced)}}))
    return;
  if (!lateExcess) {
    out.writeRaw(pattern(0, kAnnounced) + excess);
    return;
  }
  out.writeRaw(pattern(0, kAnnounced));
  out.sleepFor(300ms);
  out.writeRaw(excess);
}

struct Client {
  TestServer server;
  std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>();
  std::shared_ptr<URLSession> session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  Client() { recorder->keepsDownloads = true; }
  ~Client() { session->invalidateAndCancel(); }
  // Runs one task to its completion.
  void run(const std::shared_ptr<URLSessionTask>& task) {
    const auto before = recorder->completionCount();
    task->resume();
    REQUIRE(recorder->waitForCompletions(before + 1));
  }
  bool handedOverAFile(std::uint64_t task) const {
    auto events = recorder->events(task);
    return std::find(events.begin(), events.end(), "didFinishDownloadingTo") != events.end();
  }
};

}  // namespace

TEST_CASE("fewer bytes than Content-Length: -1005, and a download's partial file is never handed over") {
  Client c;
  const std::string url = c.server.url("/bytes?n=300000&ranges=1&etag=cl&drop_after=120000");
  auto download = c.session->downloadTask(URL(url));
  c.run(download);
  auto error = c.recorder->completion(download->taskIdentifier()).error;
  REQUIRE(error);
  CHECK(error->code == URLError::networkConnectionLost);
  CHECK_FALSE(c.handedOverAFile(download->taskIdentifier()));
  REQUIRE(error->resumeData);  // the partial file belongs to the resume data
  auto resumed = c.session->downloadTaskWithResumeData(*error->resumeData);
  c.run(resumed);
  CHECK_FALSE(c.recorder->completion(resumed->taskIdentifier()).error);
  CHECK(c.recorder->downloaded(resumed->taskIdentifier()) == pattern(0, 300000));

  // A data task gets the bytes that came, then the error.
  auto data = c.session->dataTask(URL(url));
  c.run(data);
  REQUIRE(c.recorder->completion(data->taskIdentifier()).error);
  CHECK(c.recorder->completion(data->taskIdentifier()).error->code == URLError::networkConnectionLost);
  CHECK(c.recorder->body(data->taskIdentifier()) == pattern(0, 120000));
}

TEST_CASE("more bytes than Content-Length: exactly Content-Length bytes, and the connection is not reused") {
  Client c;
  const std::string smuggled = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfake!";
  std::string excess;
  bool late = false;
  SUBCASE("garbage in the same write") { excess = std::string(5000, 'x'); }
  SUBCASE("a well-formed response in the same write") { excess = smuggled; }
  // Excess that comes while the connection is idle. (Bytes that come after the next request went
  // out are that request's response, as far as HTTP/1.1 can tell.)
  SUBCASE("a well-formed response a moment later") {
    excess = smuggled;
    late = true;
  }
  c.server.route("/too-much", [&](const RecordedRequest&, Responder& out) { sendTooMuch(out, excess, late); });

  auto data = c.session->dataTask(URL(c.server.url("/too-much")));
  c.run(data);
  CHECK_FALSE(c.recorder->completion(data->taskIdentifier()).error);
  CHECK(c.recorder->body(data->taskIdentifier()) == pattern(0, kAnnounced));
  if (late) std::this_thread::sleep_for(600ms);  // the excess arrives on the idle connection
  auto download = c.session->downloadTask(URL(c.server.url("/too-much")));
  c.run(download);
  CHECK_FALSE(c.recorder->completion(download->taskIdentifier()).error);
  CHECK(c.recorder->downloaded(download->taskIdentifier()) == pattern(0, kAnnounced));

  // The next request gets its own answer, on a new connection, not the excess.
  if (late) std::this_thread::sleep_for(600ms);
  auto after = c.session->dataTask(URL(c.server.url("/hello")));
  c.run(after);
  CHECK_FALSE(c.recorder->completion(after->taskIdentifier()).error);
  CHECK(c.recorder->body(after->taskIdentifier()) == "Hello, world!");
  CHECK(c.server.connectionsAccepted() == 3);
}

// The check above must not mistake a busy connection for one with excess: curl hands a finished
// transfer's connection to the next waiting request at once, and that request's response may
// already be there when the finished one is reported. Every request goes out once, on the
// connections of the first burst.
TEST_CASE("connections reused back to back are kept, and no request is sent twice") {
  TestServer server;
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.httpMaximumConnectionsPerHost = 4;
  auto session = URLSession::make(configuration);
  constexpr int kRequests = 3000, kInFlight = 16;
  std::mutex mutex;
  std::condition_variable done;
  int started = 0, finished = 0, failed = 0;
  std::function<void()> startNext = [&] {
    const bool post = started % 2 == 1;  // a request that must never be repeated among them
    ++started;
    URLRequest request(URL(server.url(post ? "/echo" : "/hello")));
    if (post) {
      request.httpMethod = "POST";
      request.httpBody = Data(std::string("x"));
    }
    session->dataTask(request, [&](std::optional<Data> body, std::shared_ptr<const URLResponse>, std::optional<Error> error) {
      std::lock_guard lock(mutex);
      if (error || !body || body->empty()) ++failed;
      if (++finished == kRequests) done.notify_all();
      if (started < kRequests) startNext();
    })->resume();
  };
  {
    std::lock_guard lock(mutex);
    for (int i = 0; i < kInFlight; ++i) startNext();
  }
  std::unique_lock lock(mutex);
  REQUIRE(done.wait_for(lock, 60s, [&] { return finished == kRequests; }));
  CHECK(failed == 0);
  CHECK(server.requestCount() == static_cast<std::size_t>(kRequests));
  CHECK(server.connectionsAccepted() == 4);
  session->invalidateAndCancel();
}

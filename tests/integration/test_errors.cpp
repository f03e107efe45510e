// Hostile and broken servers, unreachable hosts and bad URLs: a clear URLError, never a hang.
#include <doctest/doctest.h>

#include <algorithm>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "Recorder.hpp"
#include "TestServer.hpp"

using namespace fntest;

namespace {


int errorCode(const std::shared_ptr<URLSession>& session, const std::string& url) {
  auto result = load(session, URLRequest(URL(url)));
  REQUIRE(result.error);
  CHECK(result.error->domain == "NSURLErrorDomain");
  CHECK_FALSE(result.error->localizedDescription.empty());
  REQUIRE(result.error->failingURL);
  CHECK(result.error->failingURL->absoluteString() == URL(url).absoluteString());
  return result.error->code;
}

}  // namespace

TEST_CASE("broken responses map to Apple's error codes") {
  TestServer server;
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.timeoutIntervalForRequest = 5;
  auto session = URLSession::make(configuration);
  CHECK(errorCode(session, server.url("/malformed/status")) == URLError::badServerResponse);
  CHECK(errorCode(session, server.url("/malformed/garbage")) == URLError::badServerResponse);
  CHECK(errorCode(session, server.url("/malformed/truncated")) == URLError::networkConnectionLost);
  CHECK(errorCode(session, server.url("/malformed/close")) == URLError::networkConnectionLost);
  CHECK(errorCode(session, server.url("/malformed/bad-chunked")) == URLError::networkConnectionLost);
  int huge = errorCode(session, server.url("/malformed/huge-header"));
  CHECK((huge == URLError::cannotParseResponse || huge == URLError::badServerResponse));
  int badLength = errorCode(session, server.url("/malformed/bad-length"));
  CHECK((badLength == URLError::badServerResponse || badLength == URLError::cannotParseResponse));
}

TEST_CASE("unreachable and unknown hosts") {
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  CHECK(errorCode(session, "http://127.0.0.1:" + std::to_string(closedPort()) + "/") == URLError::cannotConnectToHost);
  CHECK(errorCode(session, "http://no-such-host.invalid/") == URLError::cannotFindHost);
}

TEST_CASE("schemes nobody loads are unsupportedURL") {
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  CHECK(errorCode(session, "ftp://127.0.0.1/file") == URLError::unsupportedURL);
  CHECK(errorCode(session, "gopher://127.0.0.1/") == URLError::unsupportedURL);
}

TEST_CASE("malformed URLs are refused at parse time") {
  CHECK_FALSE(URL::fromString("http://exa mple.com/"));
  CHECK_FALSE(URL::fromString(""));
  CHECK_FALSE(URL::fromString("/relative/path"));
  CHECK_THROWS_AS(URL("not a url"), std::invalid_argument);
}

TEST_CASE("a download into a folder that cannot be written fails with cannotCreateFile") {
  if (::geteuid() == 0) return;  // root writes anywhere
  TestServer server;
  ::setenv("TMPDIR", "/proc", 1);
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  Awaited<std::optional<Error>> result;
  session->downloadTask(URL(server.url("/hello")),
      [&](std::optional<URL>, std::shared_ptr<const URLResponse>, std::optional<Error> e) { result.set(e); })->resume();
  REQUIRE(result.wait());
  ::unsetenv("TMPDIR");
  REQUIRE(*result.value);
  CHECK((*result.value)->code == URLError::cannotCreateFile);
}

TEST_CASE("many broken requests at once leave the session usable") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.timeoutIntervalForRequest = 2;
  auto session = URLSession::make(configuration, recorder);
  std::vector<std::string> paths{"/malformed/status", "/malformed/garbage", "/malformed/truncated",
                                 "/malformed/close", "/malformed/bad-chunked", "/bad-gzip", "/hello"};
  for (int round = 0; round < 5; ++round)
    for (const auto& path : paths) session->dataTask(URL(server.url(path)))->resume();
  REQUIRE(recorder->waitForCompletions(paths.size() * 5, 30s));
  auto ok = load(session, URLRequest(URL(server.url("/hello"))));
  CHECK_FALSE(ok.error);
}

namespace {

// A delegate that answers didReceiveResponse only when the test says so, from the test's thread.
struct LateAnswerer : Recorder {
  Awaited<std::function<void(URLSession::ResponseDisposition)>> answer;
  void didReceiveResponse(URLSession& session, URLSessionDataTask& task, const URLResponse& response,
                          std::function<void(URLSession::ResponseDisposition)> handler) override {
    Recorder::didReceiveResponse(session, task, response, [](URLSession::ResponseDisposition) {});
    answer.set(std::move(handler));
  }
};

}  // namespace

TEST_CASE("the bytes before a lost connection reach the delegate, even one that answers the response late") {
  TestServer server;
  const std::size_t sent = 40000;  // under the held-body limit: held by the task, not paused in curl
  std::atomic<bool> closed{false};
  server.route("/cut", [&](const RecordedRequest&, Responder& out) {
    if (out.sendHead(200, {{"Content-Length", std::to_string(2 * sent)}})) out.writeRaw(pattern(0, sent));
    out.close();
    closed = true;
  });
  auto delegate = std::make_shared<LateAnswerer>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), delegate);
  auto task = session->dataTask(URL(server.url("/cut")));
  task->resume();
  REQUIRE(delegate->answer.wait());
  // The answer comes after the connection broke: the bytes wait for it, the failure for them.
  for (int i = 0; i < 2000 && !closed; ++i) std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(300ms);
  CHECK(delegate->completionCount() == 0);
  (*delegate->answer.value)(URLSession::ResponseDisposition::allow);
  REQUIRE(delegate->waitForCompletions(1));
  const auto id = task->taskIdentifier();
  auto error = delegate->completion(id).error;
  REQUIRE(error);
  CHECK(error->code == URLError::networkConnectionLost);
  CHECK(delegate->body(id) == pattern(0, sent));
  CHECK(task->countOfBytesReceived() == static_cast<std::int64_t>(sent));
  auto events = delegate->events(id);
  CHECK(std::find(events.begin(), events.end(), "didReceiveData") < std::find(events.begin(), events.end(), "didCompleteWithError"));
}

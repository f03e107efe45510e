// Data tasks against the loopback server: completion handlers, delegate event order, headers.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <filesystem>

#include "Recorder.hpp"
#include "TestServer.hpp"

using namespace fntest;

TEST_CASE("a completion-handler data task delivers body and response") {
  TestServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  auto result = load(session, URLRequest(URL(server.url("/hello"))));
  REQUIRE_FALSE(result.error);
  REQUIRE(result.data);
  CHECK(result.data->view() == "Hello, world!");
  auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(result.response);
  REQUIRE(http);
  CHECK(http->statusCode() == 200);
  CHECK(http->mimeType() == "text/plain");
  CHECK(http->expectedContentLength() == 13);
  CHECK(http->url()->absoluteString() == server.url("/hello"));
}

TEST_CASE("a delegate data task sends Apple's events in order") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  auto task = session->dataTask(URL(server.url("/bytes?n=300000")));
  CHECK(task->state() == URLSessionTask::State::suspended);
  task->resume();
  CHECK(task->state() == URLSessionTask::State::running);
  REQUIRE(recorder->waitForCompletions(1));
  CHECK(recorder->events(task->taskIdentifier()) ==
        std::vector<std::string>{"didCreateTask", "didReceiveResponse", "didReceiveData",
                                 "didFinishCollectingMetrics", "didCompleteWithError"});
  CHECK(recorder->body(task->taskIdentifier()) == pattern(0, 300000));
  CHECK_FALSE(recorder->completion(task->taskIdentifier()).error);
  CHECK(task->state() == URLSessionTask::State::completed);
  CHECK(task->countOfBytesReceived() == 300000);
  CHECK(task->countOfBytesExpectedToReceive() == 300000);
  CHECK(recorder->overlaps() == 0);
  auto metrics = recorder->metrics(task->taskIdentifier());
  REQUIRE(metrics);
  REQUIRE(metrics->transactionMetrics.size() == 1);
  CHECK(metrics->transactionMetrics[0].networkProtocolName == "http/1.1");
  CHECK(metrics->transactionMetrics[0].countOfResponseBodyBytesReceived == 300000);
  CHECK(metrics->transactionMetrics[0].fetchStartDate.has_value());
  CHECK(metrics->transactionMetrics[0].responseEndDate.has_value());
}

TEST_CASE("4xx and 5xx are responses, not errors") {
  TestServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  for (int status : {404, 500, 503}) {
    auto result = load(session, URLRequest(URL(server.url("/status/" + std::to_string(status)))));
    CHECK_FALSE(result.error);
    CHECK(statusOf(result.response) == status);
    CHECK(result.data->view() == "status " + std::to_string(status));
  }
}

TEST_CASE("empty bodies: 204, HEAD and a zero-length GET give empty data, not nil") {
  TestServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  auto noContent = load(session, URLRequest(URL(server.url("/status/204"))));
  CHECK_FALSE(noContent.error);
  CHECK(statusOf(noContent.response) == 204);
  REQUIRE(noContent.data);
  CHECK(noContent.data->empty());

  URLRequest head(URL(server.url("/bytes?n=1000")));
  head.httpMethod = "HEAD";
  auto headResult = load(session, head);
  CHECK_FALSE(headResult.error);
  CHECK(headResult.data->empty());
  CHECK(headResult.response->expectedContentLength() == 1000);

  auto zero = load(session, URLRequest(URL(server.url("/bytes?n=0"))));
  CHECK_FALSE(zero.error);
  CHECK(zero.data->empty());
}

TEST_CASE("chunked and length-less bodies arrive whole") {
  TestServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  auto chunked = load(session, URLRequest(URL(server.url("/bytes?n=200000&chunked=1"))));
  CHECK_FALSE(chunked.error);
  CHECK(chunked.data->view() == pattern(0, 200000));
  CHECK(chunked.response->expectedContentLength() == -1);
  auto noLength = load(session, URLRequest(URL(server.url("/bytes?n=100000&nolength=1"))));
  CHECK_FALSE(noLength.error);
  CHECK(noLength.data->view() == pattern(0, 100000));
}

TEST_CASE("request headers: defaults, additional headers, the request's own values win") {
  TestServer server;
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  // The six names Apple reserves are never taken from httpAdditionalHeaders.
  configuration.httpAdditionalHeaders = {{"X-Session", "session"},     {"x-both", "session"},
                                         {"Host", "evil.example"},     {"Authorization", "Basic ZXZpbDpldmls"},
                                         {"Connection", "close"},      {"Proxy-Authenticate", "Basic"},
                                         {"Proxy-Authorization", "Basic ZXZpbA=="}, {"www-authenticate", "Basic"}};
  auto session = URLSession::make(configuration);
  URLRequest request(URL(server.url("/echo")));
  request.setValue("request", "X-Both");
  request.addValue("a", "X-List");
  request.addValue("b", "X-List");
  auto result = load(session, request);
  REQUIRE_FALSE(result.error);
  auto echo = parseEcho(result.data->view());
  CHECK(echo.method == "GET");
  CHECK(echo.header("X-Session") == "session");
  CHECK(echo.header("X-Both") == "request");
  CHECK(echo.header("X-List") == "a,b");
  CHECK(echo.header("Host") == "127.0.0.1:" + std::to_string(server.port()));
  for (const char* reserved : {"Authorization", "Connection", "Proxy-Authenticate", "Proxy-Authorization", "WWW-Authenticate"})
    CHECK_MESSAGE(!echo.header(reserved), reserved);
  CHECK(echo.header("User-Agent").has_value());
  CHECK(echo.header("Accept-Language").has_value());
  CHECK(echo.header("Accept-Encoding").value_or("").find("gzip") != std::string::npos);
  CHECK_FALSE(echo.header("Content-Type"));
  CHECK_FALSE(echo.header("Expect"));
}

TEST_CASE("request headers: requests without fields of their own share the session's list") {
  TestServer server;
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.httpAdditionalHeaders = {{"X-Session", "session"}, {"Accept-Encoding", "gzip"}};
  auto session = URLSession::make(configuration);
  URLRequest get(URL(server.url("/echo")));
  URLRequest post(URL(server.url("/echo")));
  post.httpMethod = "POST";
  post.httpBody = Data(std::string("a=1"));
  URLRequest own(URL(server.url("/echo")));
  own.setValue("text/plain", "Accept");
  // Twice each, interleaved: the second GET and POST reuse the lists the first ones built.
  for (int round = 0; round < 2; ++round) {
    auto plain = parseEcho(load(session, get).data->view());
    CHECK(plain.header("X-Session") == "session");
    CHECK(plain.header("Accept") == "*/*");
    CHECK(plain.header("Accept-Encoding") == "gzip");
    CHECK(plain.header("User-Agent").has_value());
    CHECK(plain.header("Accept-Language").has_value());
    CHECK_FALSE(plain.header("Content-Type"));
    CHECK_FALSE(plain.header("Expect"));
    auto form = parseEcho(load(session, post).data->view());
    CHECK(form.method == "POST");
    CHECK(form.header("Content-Type") == "application/x-www-form-urlencoded");
    CHECK(form.header("X-Session") == "session");
    CHECK(form.header("Accept") == "*/*");
    auto mine = parseEcho(load(session, own).data->view());
    CHECK(mine.header("Accept") == "text/plain");
    CHECK(mine.header("X-Session") == "session");
  }
}

TEST_CASE("POST bodies: default Content-Type, none for an empty body, no Expect") {
  TestServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  URLRequest post(URL(server.url("/echo")));
  post.httpMethod = "POST";
  post.httpBody = Data(std::string(200000, 'x'));
  auto result = load(session, post);
  REQUIRE_FALSE(result.error);
  auto echo = parseEcho(result.data->view());
  CHECK(echo.method == "POST");
  CHECK(echo.body.size() == 200000);
  CHECK(echo.header("Content-Type") == "application/x-www-form-urlencoded");
  CHECK(echo.header("Content-Length") == "200000");
  CHECK_FALSE(echo.header("Expect"));

  URLRequest empty(URL(server.url("/echo")));
  empty.httpMethod = "POST";
  auto emptyResult = load(session, empty);
  auto emptyEcho = parseEcho(emptyResult.data->view());
  CHECK(emptyEcho.body.empty());
  CHECK_FALSE(emptyEcho.header("Content-Type"));
}

TEST_CASE("a GET with a body fails with dataLengthExceedsMaximum") {
  TestServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  URLRequest get(URL(server.url("/echo")));
  get.httpBody = Data("body");
  auto result = load(session, get);
  REQUIRE(result.error);
  CHECK(result.error->code == URLError::dataLengthExceedsMaximum);
  CHECK_FALSE(result.data);
}

TEST_CASE("gzip and deflate are decoded; a broken encoding is cannotDecodeContentData") {
  TestServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  std::string expected;
  for (int i = 0; i < 1000; ++i) expected += "compressed hello ";
  for (const char* path : {"/gzip", "/deflate"}) {
    auto result = load(session, URLRequest(URL(server.url(path))));
    REQUIRE_FALSE(result.error);
    CHECK(result.data->view() == expected);
  }
  auto bad = load(session, URLRequest(URL(server.url("/bad-gzip"))));
  REQUIRE(bad.error);
  CHECK(bad.error->code == URLError::cannotDecodeContentData);
}

TEST_CASE("folded response headers are unfolded") {
  TestServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  auto result = load(session, URLRequest(URL(server.url("/folded"))));
  REQUIRE_FALSE(result.error);
  auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(result.response);
  CHECK(http->value("x-folded") == "first second");
  CHECK(http->value("X-Plain") == "plain");
}

TEST_CASE("informational responses reach the delegate before the final response") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  auto task = session->dataTask(URL(server.url("/status/103")));
  task->resume();
  REQUIRE(recorder->waitForCompletions(1));
  auto events = recorder->events(task->taskIdentifier());
  REQUIRE(events.size() >= 3);
  CHECK(events[1] == "didReceiveInformationalResponse");
  CHECK(events[2] == "didReceiveResponse");
  CHECK(statusOf(task->response()) == 200);
}

// The daemon starts apps (and apps start processes): a child must not inherit the session's
// connections, or the server would see them stay open after this process let them go.
TEST_CASE("a kept-alive plain-http connection is close-on-exec") {
  TestServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  REQUIRE_FALSE(load(session, URLRequest(URL(server.url("/hello")))).error);
  int connectionsToServer = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::stoi(entry.path().filename().string());
    sockaddr_in peer{};
    socklen_t length = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0 || peer.sin_family != AF_INET ||
        ntohs(peer.sin_port) != server.port())
      continue;
    ++connectionsToServer;
    CHECK((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
  }
  CHECK(connectionsToServer == 1);
  session->invalidateAndCancel();
}

TEST_CASE("task properties: priority 0.5 and clamped, byte hints unknown, nothing to send without a body") {
  TestServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  auto task = session->dataTask(URL(server.url("/hello")));
  CHECK(task->priority() == URLSessionTask::defaultPriority);
  task->setPriority(2);
  CHECK(task->priority() == 1.0f);
  task->setPriority(-1);
  CHECK(task->priority() == 0.0f);
  task->setPriority(URLSessionTask::highPriority);
  CHECK(task->priority() == 0.75f);
  CHECK(task->countOfBytesClientExpectsToSend() == URLSessionTransferSizeUnknown);
  CHECK(task->countOfBytesClientExpectsToReceive() == URLSessionTransferSizeUnknown);
  // Outside background sessions earliestBeginDate has no effect: the task starts at once.
  task->setEarliestBeginDate(std::chrono::system_clock::now() + std::chrono::hours(1));
  auto recorder = std::make_shared<Recorder>();
  task->setDelegate(recorder);
  task->resume();
  REQUIRE(recorder->waitForCompletions(1, 10s));
  CHECK_FALSE(recorder->completion(task->taskIdentifier()).error);
  CHECK(task->countOfBytesExpectedToSend() == 0);
  CHECK(task->countOfBytesSent() == 0);
  CHECK(task->countOfBytesReceived() == 13);
}

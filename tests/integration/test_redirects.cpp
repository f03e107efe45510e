// Redirects: method rules, relative locations, delegate decisions, the limit.
#include <doctest/doctest.h>

#include <fstream>

#include "Recorder.hpp"
#include "TempFolder.hpp"
#include "TestServer.hpp"

using namespace fntest;

TEST_CASE("redirect chains are followed to the end, absolute and relative") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  for (std::string query : {"", "?absolute=1", "?relative=1"}) {
    auto task = session->dataTask(URL(server.url("/redirect/3" + query)));
    task->resume();
    REQUIRE(recorder->waitForCompletions(recorder->completionCount() + 1));
    auto id = task->taskIdentifier();
    CHECK_FALSE(recorder->completion(id).error);
    CHECK(recorder->body(id) == "redirect done");
    CHECK(task->currentRequest()->url->path() == "/redirect/0");
    CHECK(task->originalRequest()->url->path() == "/redirect/3");
    auto events = recorder->events(id);
    CHECK(std::count(events.begin(), events.end(), "willPerformHTTPRedirection") == 3);
    auto metrics = recorder->metrics(id);
    REQUIRE(metrics);
    CHECK(metrics->redirectCount == 3);
    CHECK(metrics->transactionMetrics.size() == 4);
  }
}

TEST_CASE("refusing a redirect delivers the 3xx response and its body") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  recorder->redirect = [](const HTTPURLResponse&, const URLRequest&) { return std::optional<URLRequest>(); };
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  auto task = session->dataTask(URL(server.url("/redirect/2")));
  task->resume();
  REQUIRE(recorder->waitForCompletions(1));
  CHECK_FALSE(recorder->completion(task->taskIdentifier()).error);
  CHECK(statusOf(task->response()) == 302);
  CHECK(recorder->body(task->taskIdentifier()) == "redirecting 2");
}

TEST_CASE("the delegate may change the redirected request") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  recorder->redirect = [&](const HTTPURLResponse&, const URLRequest& next) {
    URLRequest changed = next;
    changed.url = URL(server.url("/hello"));
    return std::optional<URLRequest>(changed);
  };
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  auto task = session->dataTask(URL(server.url("/redirect/5")));
  task->resume();
  REQUIRE(recorder->waitForCompletions(1));
  CHECK(recorder->body(task->taskIdentifier()) == "Hello, world!");
}

TEST_CASE("more than 16 redirects fail with httpTooManyRedirects") {
  TestServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  auto ok = load(session, URLRequest(URL(server.url("/redirect/16"))));
  CHECK_FALSE(ok.error);
  auto tooMany = load(session, URLRequest(URL(server.url("/redirect/17"))));
  REQUIRE(tooMany.error);
  CHECK(tooMany.error->code == URLError::httpTooManyRedirects);
}

TEST_CASE("redirect method rules: 301/302 POST→GET, 303 anything→GET, 307/308 keep method and body") {
  TestServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  struct Case { int status; const char* method; const char* expectedMethod; bool keepsBody; };
  for (Case c : {Case{301, "POST", "GET", false}, Case{302, "POST", "GET", false}, Case{302, "PUT", "PUT", true},
                 Case{303, "POST", "GET", false}, Case{303, "PUT", "GET", false}, Case{303, "HEAD", "GET", false},
                 Case{307, "POST", "POST", true}, Case{308, "PUT", "PUT", true}}) {
    CAPTURE(c.status);
    CAPTURE(c.method);
    URLRequest request(URL(server.url("/status/" + std::to_string(c.status) + "?location=/echo")));
    request.httpMethod = c.method;
    if (std::string(c.method) != "HEAD") request.httpBody = Data("payload");
    auto result = load(session, request);
    REQUIRE_FALSE(result.error);
    CHECK(statusOf(result.response) == 200);
    auto echo = parseEcho(result.data->view());
    CHECK(echo.method == c.expectedMethod);
    CHECK(echo.body == (c.keepsBody ? "payload" : ""));
  }
}

TEST_CASE("300 and 304 are not followed") {
  TestServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  for (int status : {300, 304}) {
    auto result = load(session, URLRequest(URL(server.url("/status/" + std::to_string(status) + "?location=/hello"))));
    CHECK_FALSE(result.error);
    CHECK(statusOf(result.response) == status);
  }
}

namespace {

// Waits for an upload task made by `make(handler)` and returns what its handler got.
template <class Make>
DataResult awaitUpload(Make make) {
  auto result = std::make_shared<Awaited<DataResult>>();
  make([result](std::optional<Data> d, std::shared_ptr<const URLResponse> r, std::optional<Error> e) {
    result->set({std::move(d), std::move(r), std::move(e)});
  })->resume();
  if (!result->wait()) throw std::runtime_error("upload did not complete");
  return *result->value;
}

}  // namespace

TEST_CASE("307 and 308 resend an upload's own body, never the request's httpBody") {
  TestServer server;
  TempFolder folder;
  const auto file = folder.path() / "body.txt";
  std::ofstream(file) << "the file's bytes";
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  for (int status : {307, 308}) {
    CAPTURE(status);
    URLRequest request(URL(server.url("/status/" + std::to_string(status) + "?location=/echo")));
    request.httpMethod = "PUT";
    request.httpBody = Data("the request's httpBody");  // ignored by upload tasks
    auto fromData = awaitUpload([&](auto handler) { return session->uploadTask(request, Data("the upload's"), handler); });
    REQUIRE_FALSE(fromData.error);
    CHECK(parseEcho(fromData.data->view()).body == "the upload's");
    auto fromFile = awaitUpload(
        [&](auto handler) { return session->uploadTask(request, URL::fileURLWithPath(file.string()), handler); });
    REQUIRE_FALSE(fromFile.error);
    auto echo = parseEcho(fromFile.data->view());
    CHECK(echo.method == "PUT");
    CHECK(echo.body == "the file's bytes");
  }
}

TEST_CASE("a data task's redirected body is the httpBody of the request the delegate answers with") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  std::optional<Data> replacement;
  recorder->redirect = [&](const HTTPURLResponse&, const URLRequest& next) {
    URLRequest changed = next;
    changed.httpBody = replacement;
    return std::optional<URLRequest>(changed);
  };
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  for (std::optional<Data> body : {std::optional<Data>(Data("changed by the delegate")), std::optional<Data>()}) {
    replacement = body;
    URLRequest request(URL(server.url("/status/307?location=/echo")));
    request.httpMethod = "POST";
    request.httpBody = Data("original");
    auto task = session->dataTask(request);
    task->resume();
    REQUIRE(recorder->waitForCompletions(recorder->completionCount() + 1));
    REQUIRE_FALSE(recorder->completion(task->taskIdentifier()).error);
    auto echo = parseEcho(recorder->body(task->taskIdentifier()));
    CHECK(echo.method == "POST");
    CHECK(echo.body == (body ? "changed by the delegate" : ""));
  }
}

// Redirects: method rules, relative locations, delegate decisions, the limit.
#include <doctest/doctest.h>

#include "Recorder.hpp"
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

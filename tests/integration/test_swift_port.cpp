// Scenarios ported from swift-corelibs-foundation's Tests/Foundation/TestURLSession.swift,
// including the ones it skips or has disabled. Each TEST_CASE carries the name of the Swift test it
// ports; the server routes (/Nepal, /jsonBody, /303?location=…, /LandOfTheLostCities/…) are those
// of the Swift suite's HTTPServer.swift (see PortSupport.hpp). Where the Swift test asserts a
// swift-corelibs quirk rather than Apple's behaviour, the comment says what was changed and why.
//
// Ported elsewhere, under descriptive names: test_cookiesStorage, test_disableCookiesStorage,
// test_previouslySetCookiesAreSentInLaterRequests, test_redirectionWithSetCookies and
// test_cookieStorageForEphemeralConfiguration (test_cookies.cpp), test_basicAuthRequest
// (test_authentication.cpp); test_timeoutInterval (older Swift versions) is test_httpTimeout.
// Not applicable to this API: the async/await tests (test_async…), streamed bodies
// (test_dataTaskWithHttpInputStream, test_simpleUploadWithDelegateProvidingInputStream), WebSocket
// tasks (test_webSocket…) and test_taskCopy (tasks are shared objects, not copied).
#include <doctest/doctest.h>

#include <set>

#include "PortSupport.hpp"

using namespace fnport;


// ---- data tasks --------------------------------------------------------------------------------

// TestURLSession.test_dataTaskWithURL
TEST_CASE("test_dataTaskWithURL") {
  SwiftServer server;
  DelegateRun d;
  d.run(URL(server.url("/Nepal")));
  REQUIRE(d.wait());
  CHECK_FALSE(d.delegate->error());
  CHECK(d.delegate->receivedData() == "Kathmandu");
}

// TestURLSession.test_dataTaskWithURLCompletionHandler: the shared session, then a new one.
TEST_CASE("test_dataTaskWithURLCompletionHandler") {
  SwiftServer server;
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.timeoutIntervalForRequest = 8;
  for (auto session : {URLSession::shared(), URLSession::make(configuration)}) {
    HandlerResults results;
    session->dataTask(URL(server.url("/USA")), results.handler())->resume();
    REQUIRE(results.wait());
    auto result = results.get();
    CHECK_FALSE(result.error);
    REQUIRE(result.response);
    REQUIRE(result.data);
    CHECK(statusOf(result.response) == 200);
    CHECK(result.data->view() == "Washington, D.C.");
  }
}

// TestURLSession.test_dataTaskWithURLRequest
TEST_CASE("test_dataTaskWithURLRequest") {
  SwiftServer server;
  DelegateRun d;
  d.run(URLRequest(URL(server.url("/Peru"))));
  REQUIRE(d.wait());
  CHECK_FALSE(d.delegate->error());
  CHECK(d.delegate->receivedData() == "Lima");
}

// TestURLSession.test_dataTaskWithURLRequestCompletionHandler
TEST_CASE("test_dataTaskWithURLRequestCompletionHandler") {
  SwiftServer server;
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.timeoutIntervalForRequest = 8;
  auto result = runHandlerTask(URLSession::make(configuration), URLRequest(URL(server.url("/Italy"))));
  REQUIRE(result.data);
  REQUIRE(result.response);
  CHECK_FALSE(result.error);
  CHECK(statusOf(result.response) == 200);
  CHECK(result.data->view() == "Rome");
}

// TestURLSession.test_dataTaskWithHTTPBodyRedirect: a POST with a body, 303 to a relative
// location, arrives as a GET without the body.
TEST_CASE("test_dataTaskWithHTTPBodyRedirect") {
  SwiftServer server;
  URLRequest post(URL(server.url("/303?location=Peru")));
  post.httpBody = Data("foo=bar");
  post.httpMethod = "POST";
  DelegateRun d;
  d.run(post);
  REQUIRE(d.wait());
  CHECK_FALSE(d.delegate->error());
  CHECK(d.delegate->receivedData() == "Lima");
  auto requests = server.server.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].method == "POST");
  CHECK(requests[0].body == "foo=bar");
  CHECK(requests[1].path == "/Peru");
  CHECK(requests[1].method == "GET");
  CHECK(requests[1].bodySize == 0);
}

// TestURLSession.test_gzippedDataTask: Swift's exact gzip member ("Hello World!", 32 bytes).
TEST_CASE("test_gzippedDataTask") {
  SwiftServer server;
  DelegateRun d;
  d.run(URL(server.url("/gzipped-response")));
  REQUIRE(d.wait());
  CHECK_FALSE(d.delegate->error());
  CHECK(d.delegate->receivedData() == "Hello World!");
}

// ---- download tasks ----------------------------------------------------------------------------

namespace {

// DownloadTask: the file handed to didFinishDownloadingTo is as long as totalBytesWritten says.
void checkDelegateDownload(SwiftServer& server, bool withRequest) {
  auto delegate = std::make_shared<PortDelegate>();
  auto session = makeSession(delegate, 8);
  auto url = URL(server.url("/country.txt"));
  auto task = withRequest ? session->downloadTask(URLRequest(url)) : session->downloadTask(url);
  task->resume();
  REQUIRE(delegate->waitForCompletion());
  CHECK_FALSE(delegate->error());
  CHECK(joined(delegate->callbacks()) == joined({"didWriteData", "didFinishDownloadingTo", "didCompleteWithError"}));
  REQUIRE(delegate->downloadedContents());
  CHECK(delegate->downloadedFileSize() == delegate->totalBytesWritten());
  CHECK(*delegate->downloadedContents() == SwiftServer::capitals.at("country.txt"));
}

void checkHandlerDownload(const std::shared_ptr<URLSession>& session, SwiftServer& server, bool withRequest) {
  Awaited<std::pair<std::optional<Error>, std::optional<std::string>>> result;
  auto handler = [&](std::optional<URL> location, std::shared_ptr<const URLResponse> response,
                     std::optional<Error> error) {
    CHECK(statusOf(response) == 200);
    result.set({error, location ? readFile(location->path()) : std::nullopt});
  };
  auto url = URL(server.url("/country.txt"));
  auto task = withRequest ? session->downloadTask(URLRequest(url), handler) : session->downloadTask(url, handler);
  task->resume();
  REQUIRE(result.wait());
  CHECK_FALSE(result.value->first);
  CHECK(result.value->second == SwiftServer::capitals.at("country.txt"));
}

}  // namespace

// TestURLSession.test_downloadTaskWithURL
TEST_CASE("test_downloadTaskWithURL") {
  SwiftServer server;
  checkDelegateDownload(server, false);
}

// TestURLSession.test_downloadTaskWithURLRequest
TEST_CASE("test_downloadTaskWithURLRequest") {
  SwiftServer server;
  checkDelegateDownload(server, true);
}

// TestURLSession.test_downloadTaskWithRequestAndHandler: the shared session, then a new one.
TEST_CASE("test_downloadTaskWithRequestAndHandler") {
  SwiftServer server;
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.timeoutIntervalForRequest = 8;
  checkHandlerDownload(URLSession::shared(), server, true);
  checkHandlerDownload(URLSession::make(configuration), server, true);
}

// TestURLSession.test_downloadTaskWithURLAndHandler (the Swift body passes a request; this uses
// the URL overload the name promises). Swift tolerates timedOut; a loopback server must not time out.
TEST_CASE("test_downloadTaskWithURLAndHandler") {
  SwiftServer server;
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.timeoutIntervalForRequest = 8;
  checkHandlerDownload(URLSession::make(configuration), server, false);
}

// TestURLSession.test_gzippedDownloadTask: the bytes written are the decoded ones.
TEST_CASE("test_gzippedDownloadTask") {
  SwiftServer server;
  auto delegate = std::make_shared<PortDelegate>();
  auto session = makeSession(delegate, 8);
  session->downloadTask(URL(server.url("/gzipped-response")))->resume();
  REQUIRE(delegate->waitForCompletion());
  CHECK_FALSE(delegate->error());
  CHECK(delegate->totalBytesWritten() == 12);
  CHECK(delegate->downloadedContents() == "Hello World!");
}

// ---- session and task lifecycle ----------------------------------------------------------------

// TestURLSession.test_finishTasksAndInvalidate: a completion-handler task on a delegate session;
// the task's handler runs, then didBecomeInvalidWithError.
TEST_CASE("test_finishTasksAndInvalidate") {
  SwiftServer server;
  auto delegate = std::make_shared<PortDelegate>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), delegate);
  std::atomic<bool> handlerRan{false};
  std::atomic<int> invalidationsSeenByHandler{-1};
  auto task = session->dataTask(URL(server.url("/Nepal")),
                                [&](std::optional<Data> data, std::shared_ptr<const URLResponse>, std::optional<Error>) {
                                  CHECK(data);
                                  invalidationsSeenByHandler = delegate->didBecomeInvalidCount();
                                  handlerRan = true;
                                });
  task->resume();
  session->finishTasksAndInvalidate();
  REQUIRE(delegate->waitForInvalidation());
  CHECK(handlerRan);
  CHECK(invalidationsSeenByHandler == 0);
  CHECK(joined(delegate->callbacks()) == joined({"didBecomeInvalidWithError"}));
}

// TestURLSession.test_taskError: a URL whose port is out of range (999999; -1 in older versions).
// Changed: Swift's URL(string:) takes it and the task fails with badURL; curl's URL parser, which
// URL uses, refuses it, so no task can be made with it (test_errors.cpp: malformed URLs).
TEST_CASE("test_taskError") {
  CHECK_FALSE(URL::fromString("http://127.0.0.0:999999/Nepal"));
  CHECK_FALSE(URL::fromString("http://127.0.0.0:-1/Nepal"));
  CHECK(URL::fromString("http://127.0.0.0:65535/Nepal"));
}

// TestURLSession.test_cancelTask: cancelled while the server pauses 2 s before answering.
TEST_CASE("test_cancelTask") {
  SwiftServer server;
  URLRequest request(URL(server.url("/Peru")));
  request.setValue("2.0", "X-Pause");
  DelegateRun d;
  auto started = std::chrono::steady_clock::now();
  d.run(request);
  d.task->cancel();
  REQUIRE(d.wait());
  CHECK(std::chrono::steady_clock::now() - started < 1500ms);
  auto error = d.delegate->error();
  REQUIRE(error);
  CHECK(error->code == URLError::cancelled);
  CHECK_FALSE(d.delegate->receivedData());
}

// TestURLSession.test_unhandledURLProtocol
TEST_CASE("test_unhandledURLProtocol") {
  SwiftServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  HandlerResults results;
  auto task = session->dataTask(URL("foobar://127.0.0.1:" + std::to_string(server.port()) + "/Nepal"),
                                results.handler());
  task->resume();
  REQUIRE(results.wait(5s));
  auto result = results.get();
  CHECK_FALSE(result.data);
  CHECK_FALSE(result.response);
  REQUIRE(result.error);
  CHECK(result.error->code == URLError::unsupportedURL);
  REQUIRE(waitUntil([&] { return task->state() == URLSessionTask::State::completed; }));
  REQUIRE(task->error());
  CHECK(task->error()->code == URLError::unsupportedURL);
}


// TestURLSession.test_suspendResumeTask (disabled in Swift: "occasionally breaks"). A new task
// starts suspended; two more suspends need three resumes; extra resumes change nothing.
// The server pauses 0.5 s so that the task is certainly still running when its state is read.
TEST_CASE("test_suspendResumeTask") {
  SwiftServer server;
  URLRequest request(URL(server.url("/get")));
  request.setValue("0.5", "X-Pause");
  HandlerResults results;
  auto task = URLSession::shared()->dataTask(request, results.handler());
  task->suspend();  // 2
  CHECK(task->state() == URLSessionTask::State::suspended);
  task->suspend();  // 3
  CHECK(task->state() == URLSessionTask::State::suspended);
  task->resume();  // 2
  CHECK(task->state() == URLSessionTask::State::suspended);
  task->resume();  // 1
  CHECK(task->state() == URLSessionTask::State::suspended);
  std::this_thread::sleep_for(100ms);
  CHECK(server.server.requestCount() == 0);
  task->resume();  // 0: the task runs
  CHECK(task->state() == URLSessionTask::State::running);
  task->resume();  // -1
  CHECK(task->state() == URLSessionTask::State::running);
  task->resume();  // -2
  CHECK(task->state() == URLSessionTask::State::running);
  REQUIRE(results.wait());
  CHECK(statusOf(results.get().response) == 200);
  // Still one resume() away from running after the surplus ones? No: surplus resumes are ignored.
  CHECK(results.get().calls == 1);
}

// TestURLSession.test_verifyRequestHeaders: allHTTPHeaderFields reach the server; changing the
// caller's request afterwards does not change the task's.
TEST_CASE("test_verifyRequestHeaders") {
  SwiftServer server;
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.timeoutIntervalForRequest = 5;
  auto session = URLSession::make(configuration);
  URLRequest request(URL(server.url("/requestHeaders")));
  request.httpMethod = "POST";
  request.setAllHTTPHeaderFields({{"header1", "value1"}});
  HandlerResults results;
  auto task = session->dataTask(request, results.handler());
  task->resume();
  request.setAllHTTPHeaderFields({});
  REQUIRE(results.wait());
  auto result = results.get();
  CHECK_FALSE(result.error);
  REQUIRE(result.data);
  CHECK(std::string(result.data->view()).find("header1: value1") != std::string::npos);
  CHECK(task->originalRequest()->value("header1") == "value1");
}

// TestURLSession.test_verifyHttpAdditionalHeaders: the request's fields win over the session's,
// names compared without case, and the request's spelling is what is sent.
TEST_CASE("test_verifyHttpAdditionalHeaders") {
  SwiftServer server;
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.timeoutIntervalForRequest = 5;
  configuration.httpAdditionalHeaders = {{"header2", "svalue2"}, {"header3", "svalue3"}, {"header4", "svalue4"}};
  auto session = URLSession::make(configuration);
  URLRequest request(URL(server.url("/requestHeaders")));
  request.httpMethod = "POST";
  request.setAllHTTPHeaderFields({{"header1", "rvalue1"}, {"header2", "rvalue2"}, {"Header4", "rvalue4"}});
  auto result = runHandlerTask(session, request);
  CHECK_FALSE(result.error);
  REQUIRE(result.data);
  std::string headers(result.data->view());
  CAPTURE(headers);
  CHECK(headers.find("header1: rvalue1") != std::string::npos);
  CHECK(headers.find("header2: rvalue2") != std::string::npos);
  CHECK(headers.find("header3: svalue3") != std::string::npos);
  CHECK(headers.find("Header4: rvalue4") != std::string::npos);
  CHECK(headers.find("header4: svalue") == std::string::npos);
  CHECK(headers.find("svalue2") == std::string::npos);
}

// TestURLSession.test_taskTimeout: a quick answer within the session's 5 s is no timeout.
TEST_CASE("test_taskTimeout") {
  SwiftServer server;
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.timeoutIntervalForRequest = 5;
  auto result = runHandlerTask(URLSession::make(configuration), URLRequest(URL(server.url("/Peru"))));
  CHECK_FALSE(result.error);
  CHECK(result.data->view() == "Lima");
}

// TestURLSession.test_httpTimeout: the request's 1 s beats the session's 10 s; the server pauses 3 s.
TEST_CASE("test_httpTimeout") {
  SwiftServer server;
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.timeoutIntervalForRequest = 10;
  URLRequest request(URL(server.url("/Peru")));
  request.setValue("3", "x-pause");
  request.setTimeoutInterval(1);
  auto started = std::chrono::steady_clock::now();
  auto result = runHandlerTask(URLSession::make(configuration), request);
  auto took = std::chrono::steady_clock::now() - started;
  REQUIRE(result.error);
  CHECK(result.error->code == URLError::timedOut);
  CHECK(took >= 900ms);
  CHECK(took < 2500ms);
}

// TestURLSession.test_connectTimeout (disabled in Swift: "flaky when all tests are run
// together"). Swift makes its server single-threaded with a backlog of 1 and keeps it busy; here
// the port drops the SYNs (UnansweredPort), so the connection attempt itself must time out.
TEST_CASE("test_connectTimeout") {
  fntest::UnansweredPort unanswered;
  URLRequest fast(URL("http://127.0.0.1:" + std::to_string(unanswered.port()) + "/Italy"));
  fast.setTimeoutInterval(1);
  auto started = std::chrono::steady_clock::now();
  auto result = runHandlerTask(URLSession::make(URLSessionConfiguration::defaultConfiguration()), fast);
  auto took = std::chrono::steady_clock::now() - started;
  REQUIRE(result.error);
  CHECK(result.error->code == URLError::timedOut);
  CHECK(took >= 900ms);
  CHECK(took < 3s);
}

// TestURLSession.test_repeatedRequestsStress: three overlapping requests per round, the next
// round starting when the third completes. Swift runs 3000 rounds in 30 s; 400 rounds keep this
// case well under its time budget on a loaded two-core machine (and under ASan).
TEST_CASE("test_repeatedRequestsStress") {
  SwiftServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  const URLRequest request(URL(server.url("/Peru")));
  const int rounds = 400;
  std::atomic<int> roundsLeft{rounds};
  std::atomic<int> completed{0}, failed{0};
  Awaited<bool> done;
  std::function<void()> checkCountAndRunNext;
  auto count = [&](const std::optional<Data>& data, const std::optional<Error>& error) {
    if (error || !data || data->view() != "Lima") ++failed;
    ++completed;
  };
  checkCountAndRunNext = [&] {
    if (roundsLeft.fetch_sub(1) <= 0) return done.set(true);
    for (int i = 0; i < 2; ++i)
      session->dataTask(request, [&](std::optional<Data> d, std::shared_ptr<const URLResponse>,
                                     std::optional<Error> e) { count(d, e); })->resume();
    session->dataTask(request, [&](std::optional<Data> d, std::shared_ptr<const URLResponse>, std::optional<Error> e) {
      count(d, e);
      checkCountAndRunNext();
    })->resume();
  };
  checkCountAndRunNext();
  REQUIRE(done.wait(20s));
  REQUIRE(waitUntil([&] { return completed == rounds * 3; }));
  CHECK(failed == 0);
}

// ---- redirects ---------------------------------------------------------------------------------

// TestURLSession.test_requestWithNonEmptyBody (disabled in Swift: "started failing for no readily
// available reason"). GET is refused with dataLengthExceedsMaximum before any traffic; HEAD gets
// its response without sending the body (docs/semantics.md; Swift expects it sent); the others
// echo it, and only POST gets a default Content-Type.
TEST_CASE("test_requestWithNonEmptyBody") {
  SwiftServer server;
  const std::string bodyData = "This is a request body";
  for (const auto& method : kHTTPMethods) {
    for (std::optional<std::string> contentType :
         {std::optional<std::string>("text/plain; charset=utf-8"), std::optional<std::string>()}) {
      CAPTURE(method);
      CAPTURE(contentType.value_or("nil"));
      const std::string url = server.url("/" + toLower(method));
      URLRequest request = requestWith(url, method);
      request.httpBody = Data(bodyData);
      if (contentType) request.setValue(*contentType, "Content-Type");
      DelegateRun d;
      d.run(request, 3);
      REQUIRE(d.wait(4s));
      auto http = d.delegate->httpResponse();
      const std::optional<std::string> postedContentType =
          contentType ? contentType
                      : (method == "POST" ? std::optional<std::string>("application/x-www-form-urlencoded")
                                          : std::nullopt);
      if (method == "HEAD") {
        CHECK_FALSE(d.delegate->error());
        REQUIRE(http);
        CHECK(http->statusCode() == 200);
        CHECK_FALSE(d.delegate->receivedData());
        CHECK(joined(d.delegate->callbacks()) == joined({"didReceiveResponse", "didCompleteWithError"}));
      } else if (method == "GET") {
        auto error = d.delegate->error();
        REQUIRE(error);
        CHECK(error->code == URLError::dataLengthExceedsMaximum);
        CHECK(error->localizedDescription == "resource exceeds maximum size");
        REQUIRE(error->failingURL);
        CHECK(error->failingURL->absoluteString() == url);
        CHECK_FALSE(http);
        CHECK_FALSE(d.delegate->receivedData());
        CHECK(joined(d.delegate->callbacks()) == joined({"didCompleteWithError"}));
      } else {
        CHECK_FALSE(d.delegate->error());
        REQUIRE(http);
        CHECK(http->statusCode() == 200);
        REQUIRE(d.delegate->receivedData());
        CHECK(http->value("Content-Length") == std::to_string(d.delegate->receivedData()->size()));
        auto fields = parseFields(*d.delegate->receivedData());
        CHECK(field(fields, "Content-Type") == postedContentType);
        CHECK(field(fields, "uri") == method + " /" + toLower(method) + " HTTP/1.1");
        CHECK(field(fields, "Content-Length") == std::to_string(bodyData.size()));
        CHECK(field(fields, "x-body") == bodyData);
        CHECK(joined(d.delegate->callbacks()) == joined({"didSendBodyData", "didReceiveResponse",
                                                                  "didReceiveData", "didCompleteWithError"}));
      }
    }
  }
  // GET was refused before sending anything; HEAD went without its body.
  for (const auto& request : server.server.requests()) {
    CHECK(request.method != "GET");
    if (request.method == "HEAD") CHECK(request.body.empty());
  }
}

// TestURLSession.test_httpRedirectionWithCode300: 300 is not followed, for every method.
TEST_CASE("test_httpRedirectionWithCode300") {
  SwiftServer server;
  for (const auto& method : kHTTPMethods) {
    CAPTURE(method);
    DelegateRun d;
    d.run(requestWith(server.url("/300?location=jsonBody"), method));
    REQUIRE(d.wait());
    CHECK_FALSE(d.delegate->error());
    CHECK_FALSE(d.delegate->redirectionResponse());
    REQUIRE(d.delegate->response());
    CHECK(statusOf(d.delegate->response()) == 300);
    if (method == "HEAD") {
      CHECK(joined(d.delegate->callbacks()) == joined({"didReceiveResponse", "didCompleteWithError"}));
      CHECK_FALSE(d.delegate->receivedData());
    } else {
      CHECK(joined(d.delegate->callbacks()) == joined({"didReceiveResponse", "didReceiveData", "didCompleteWithError"}));
      CHECK(d.delegate->receivedData() == "Redirecting to " + method + " jsonBody");
    }
  }
}

// TestURLSession.test_httpRedirectionWithCode301_302: followed; only POST becomes GET.
TEST_CASE("test_httpRedirectionWithCode301_302") {
  SwiftServer server;
  for (int statusCode : {301, 302})
    checkFollowedRedirect(server, statusCode, [](const std::string& method) { return method == "POST" ? "GET" : method; });
}

// TestURLSession.test_httpRedirectionWithCode303: every method, HEAD included, becomes GET.
TEST_CASE("test_httpRedirectionWithCode303") {
  SwiftServer server;
  checkFollowedRedirect(server, 303, [](const std::string&) { return std::string("GET"); });
}

// TestURLSession.test_httpRedirectionWithCode304: not a redirect; no body.
TEST_CASE("test_httpRedirectionWithCode304") {
  SwiftServer server;
  for (const auto& method : kHTTPMethods) {
    CAPTURE(method);
    DelegateRun d;
    d.run(requestWith(server.url("/304?location=jsonBody"), method));
    REQUIRE(d.wait());
    CHECK_FALSE(d.delegate->error());
    CHECK(statusOf(d.delegate->response()) == 304);
    CHECK_FALSE(d.delegate->redirectionResponse());
    CHECK(joined(d.delegate->callbacks()) == joined({"didReceiveResponse", "didCompleteWithError"}));
    CHECK(d.delegate->receivedData().value_or("").empty());
  }
}


// TestURLSession.test_httpRedirectionWithCode305_308: followed, the method kept (306 like 307).
TEST_CASE("test_httpRedirectionWithCode305_308") {
  SwiftServer server;
  for (int statusCode : {305, 306, 307, 308})
    checkFollowedRedirect(server, statusCode, [](const std::string& method) { return method; });
}

// TestURLSession.test_httpRedirectDontFollowIgnoringHandler: a delegate that never answers the
// redirect question leaves the task waiting, with nothing but willPerformHTTPRedirection (the
// five methods at once, each in its own session); cancelling then ends each task once. The
// Swift test gives the request 1 s and expects no timeout within 2 s; here the idle timer keeps
// running while the answer is pending (docs/semantics.md), so the waiting part uses 4 s and a
// second round checks that a 1 s timeout does end an unanswered task with timedOut.
TEST_CASE("test_httpRedirectDontFollowIgnoringHandler") {
  SwiftServer server;
  std::mutex mutex;
  std::vector<PortDelegate::RedirectAnswer> neverCalled;  // kept alive, never called
  auto start = [&](TimeInterval timeout) {
    std::vector<std::unique_ptr<DelegateRun>> runs;
    for (const auto& method : kHTTPMethods) {
      auto d = std::make_unique<DelegateRun>([&](PortDelegate& delegate) {
        delegate.redirectionHandler = [&](const HTTPURLResponse&, const URLRequest&, PortDelegate::RedirectAnswer answer) {
          std::lock_guard lock(mutex);
          neverCalled.push_back(std::move(answer));
        };
      });
      d->run(requestWith(server.url("/302?location=jsonBody"), method), timeout);
      runs.push_back(std::move(d));
    }
    return runs;
  };

  auto waiting = start(4);
  auto timingOut = start(1);
  std::this_thread::sleep_for(2s);
  for (std::size_t i = 0; i < waiting.size(); ++i) {
    auto& d = *waiting[i];
    CAPTURE(kHTTPMethods[i]);
    CHECK_FALSE(d.delegate->error());
    CHECK_FALSE(d.delegate->receivedData());
    CHECK_FALSE(d.delegate->response());
    REQUIRE(d.delegate->redirectionResponse());
    CHECK(d.delegate->redirectionResponse()->statusCode() == 302);
    CHECK(joined(d.delegate->callbacks()) == joined({"willPerformHTTPRedirection"}));
  }
  for (auto& d : waiting) d->task->cancel();
  for (std::size_t i = 0; i < waiting.size(); ++i) {
    CAPTURE(kHTTPMethods[i]);
    auto& d = *waiting[i];
    REQUIRE(d.wait(5s));
    CHECK(d.delegate->completionCount() == 1);
    REQUIRE(d.delegate->error());
    CHECK(d.delegate->error()->code == URLError::cancelled);
    auto& t = *timingOut[i];
    REQUIRE(t.wait(5s));
    CHECK(t.delegate->completionCount() == 1);
    REQUIRE(t.delegate->error());
    CHECK(t.delegate->error()->code == URLError::timedOut);
    CHECK(joined(t.delegate->callbacks()) == joined({"willPerformHTTPRedirection", "didCompleteWithError"}));
  }
}

// TestURLSession.test_httpRedirectDontFollowUsingNil: answering nil delivers the 302 and its body.
TEST_CASE("test_httpRedirectDontFollowUsingNil") {
  SwiftServer server;
  for (const auto& method : kHTTPMethods) {
    CAPTURE(method);
    DelegateRun d([](PortDelegate& delegate) {
      delegate.redirectionHandler = [](const HTTPURLResponse&, const URLRequest&, PortDelegate::RedirectAnswer answer) {
        answer(std::nullopt);
      };
    });
    d.run(requestWith(server.url("/302?location=jsonBody"), method), 2);
    REQUIRE(d.wait(3s));
    CHECK_FALSE(d.delegate->error());
    auto http = d.delegate->httpResponse();
    REQUIRE(http);
    CHECK(http->statusCode() == 302);
    REQUIRE(d.delegate->redirectionResponse());
    CHECK(d.delegate->redirectionResponse()->statusCode() == 302);
    if (method == "HEAD") {
      CHECK(joined(d.delegate->callbacks()) == joined({"willPerformHTTPRedirection", "didReceiveResponse", "didCompleteWithError"}));
      CHECK_FALSE(d.delegate->receivedData());
    } else {
      CHECK(joined(d.delegate->callbacks()) == joined({"willPerformHTTPRedirection", "didReceiveResponse",
                                                                "didReceiveData", "didCompleteWithError"}));
      std::string body = "Redirecting to " + method + " jsonBody";
      CHECK(http->value("Content-Length") == std::to_string(body.size()));
      CHECK(d.delegate->receivedData() == body);
    }
  }
}

// TestURLSession.test_httpRedirectionWithCompleteRelativePath: /UnitedStates redirects to a port
// nothing listens on (Swift: the server's port + 1).
TEST_CASE("test_httpRedirectionWithCompleteRelativePath") {
  SwiftServer server;
  DelegateRun d;
  d.run(URL(server.url("/UnitedStates")), 4);
  REQUIRE(d.wait());
  CHECK(joined(d.delegate->callbacks()) == joined({"willPerformHTTPRedirection", "didCompleteWithError"}));
  REQUIRE(d.delegate->redirectionRequest());
  CHECK(d.delegate->redirectionRequest()->url->absoluteString() ==
        "http://127.0.0.1:" + std::to_string(server.unreachablePort()) + "/USA");
  REQUIRE(d.delegate->error());
  CHECK(d.delegate->error()->code == URLError::cannotConnectToHost);
}

// TestURLSession.test_httpRedirectionWithInCompleteRelativePath: "Location: UK".
TEST_CASE("test_httpRedirectionWithInCompleteRelativePath") {
  SwiftServer server;
  DelegateRun d;
  d.run(URL(server.url("/UnitedKingdom")), 4);
  REQUIRE(d.wait());
  CHECK_FALSE(d.delegate->error());
  REQUIRE(d.delegate->redirectionRequest());
  CHECK(d.delegate->redirectionRequest()->url->absoluteString() == server.url("/UK"));
  CHECK(d.delegate->receivedData() == "London");
}

// TestURLSession.test_httpRedirectionWithDefaultPort: a Location without a port means port 80,
// and the new request's URL is written without ":80".
TEST_CASE("test_httpRedirectionWithDefaultPort") {
  SwiftServer server;
  std::optional<std::string> redirectedTo;
  DelegateRun d([&](PortDelegate& delegate) {
    delegate.redirectionHandler = [&](const HTTPURLResponse& response, const URLRequest& request,
                                      PortDelegate::RedirectAnswer answer) {
      if (response.url()->path().ends_with("/redirect-with-default-port")) {
        redirectedTo = request.url->absoluteString();
        answer(std::nullopt);  // the test server is not on port 80
      } else {
        answer(request);
      }
    };
  });
  d.run(URL(server.url("/redirect-with-default-port")), 4);
  REQUIRE(d.wait());
  CHECK(redirectedTo == "http://127.0.0.1/redirected-with-default-port");
  CHECK_FALSE(d.delegate->error());
  CHECK(statusOf(d.delegate->response()) == 302);
}

// TestURLSession.test_httpRedirectionWithEncodedQuery: Location "echo-query?param=foo".
TEST_CASE("test_httpRedirectionWithEncodedQuery") {
  SwiftServer server;
  DelegateRun d;
  d.run(URL(server.url("/303?location=echo-query%3Fparam%3Dfoo")), 4);
  REQUIRE(d.wait());
  CHECK_FALSE(d.delegate->error());
  CHECK(d.delegate->receivedData() == "param=foo");
}

// TestURLSession.test_httpRedirectionTimeout: a completion-handler task redirected to a port
// nothing listens on fails with cannotConnectToHost, not a timeout.
TEST_CASE("test_httpRedirectionTimeout") {
  SwiftServer server;
  URLRequest request(URL(server.url("/UnitedStates")));
  request.setTimeoutInterval(3);
  auto result = runHandlerTask(URLSession::make(URLSessionConfiguration::defaultConfiguration()), request);
  REQUIRE(result.error);
  CHECK(result.error->code == URLError::cannotConnectToHost);
}

// TestURLSession.test_httpRedirectionChainInheritsTimeoutInterval (disabled in Swift, SR-14433):
// every redirected request keeps the original request's timeoutInterval.
TEST_CASE("test_httpRedirectionChainInheritsTimeoutInterval") {
  SwiftServer server;
  const int redirectCount = 4;
  const TimeInterval timeoutInterval = 3.0;
  for (const auto& method : kHTTPMethods) {
    CAPTURE(method);
    URLRequest request = requestWith(server.url("/redirect/" + std::to_string(redirectCount)), method);
    request.setTimeoutInterval(timeoutInterval);
    DelegateRun d;
    d.run(request, timeoutInterval);
    REQUIRE(d.wait());
    auto requests = d.delegate->redirectRequests();
    CHECK(requests.size() == redirectCount);
    for (const auto& redirected : requests) CHECK(redirected.timeoutInterval == timeoutInterval);
    CHECK(statusOf(d.delegate->response()) == 200);
  }
}

// TestURLSession.test_httpRedirectionExceededMaxRedirects (disabled in Swift, SR-14433). Swift
// expects swift-corelibs' limit of 20; Apple's limit (and this library's) is 16: the delegate sees
// 16 redirects, and the 17th redirect response fails the task with httpTooManyRedirects carrying the
// URL whose response was that 17th redirect.
TEST_CASE("test_httpRedirectionExceededMaxRedirects") {
  SwiftServer server;
  const int expectedMaxRedirects = 16;
  const std::string exceededCountURL = server.url("/redirect/" + std::to_string(99 - expectedMaxRedirects));
  for (const auto& method : kHTTPMethods) {
    CAPTURE(method);
    DelegateRun d;
    d.run(requestWith(server.url("/redirect/99"), method), 5);
    REQUIRE(d.wait());
    CHECK_FALSE(d.delegate->response());
    CHECK_FALSE(d.delegate->receivedData());
    auto error = d.delegate->error();
    REQUIRE(error);
    CHECK(error->code == URLError::httpTooManyRedirects);
    CHECK(error->localizedDescription == "too many HTTP redirects");
    REQUIRE(error->failingURL);
    CHECK(error->failingURL->absoluteString() == exceededCountURL);
    auto requests = d.delegate->redirectRequests();
    auto responses = d.delegate->redirectionResponses();
    CHECK(requests.size() == expectedMaxRedirects);
    REQUIRE_FALSE(responses.empty());
    CHECK(responses.back()->statusCode() == 302);
    REQUIRE_FALSE(requests.empty());
    CHECK(requests.back().url->absoluteString() == exceededCountURL);
  }
}

// TestURLSession.test_willPerformRedirect: a completion-handler task on a delegate session still
// asks the delegate about redirects, and nothing else goes to the delegate.
TEST_CASE("test_willPerformRedirect") {
  SwiftServer server;
  auto delegate = std::make_shared<PortDelegate>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), delegate);
  auto result = runHandlerTask(session, URLRequest(URL(server.url("/redirect/1"))));
  CHECK_FALSE(result.error);
  CHECK(result.data);
  CHECK(result.response);
  REQUIRE(delegate->redirectionRequest());
  CHECK(delegate->redirectionRequest()->url->absoluteString() == server.url("/jsonBody"));
  std::this_thread::sleep_for(50ms);  // a stray delegate call would have been queued by now
  CHECK(joined(delegate->callbacks()) == joined({"willPerformHTTPRedirection"}));
}

// ---- responses -----------------------------------------------------------------------------------

// TestURLSession.test_httpNotFound: a 404 is a response with a body, not an error.
TEST_CASE("test_httpNotFound") {
  SwiftServer server;
  DelegateRun d;
  d.run(URL(server.url("/404")), 3);
  REQUIRE(d.wait());
  CHECK_FALSE(d.delegate->error());
  CHECK(statusOf(d.delegate->response()) == 404);
  CHECK(joined(d.delegate->callbacks()) == joined({"didReceiveResponse", "didReceiveData", "didCompleteWithError"}));
  REQUIRE(d.delegate->receivedData());
  CHECK(field(parseFields(*d.delegate->receivedData()), "uri") == "GET /404 HTTP/1.1");
}

namespace {

HandlerResult lostCity(SwiftServer& server, const std::string& city) {
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.timeoutIntervalForRequest = 8;
  return runHandlerTask(URLSession::make(configuration), URLRequest(URL(server.url("/LandOfTheLostCities/" + city))));
}

}  // namespace

// TestURLSession.test_outOfRangeButCorrectlyFormattedHTTPCode: "HTTP/1.1 999 Wrong Code".
TEST_CASE("test_outOfRangeButCorrectlyFormattedHTTPCode") {
  SwiftServer server;
  auto result = lostCity(server, "Kameiros");
  CHECK(result.data);
  REQUIRE(result.response);
  CHECK_FALSE(result.error);
  CHECK(statusOf(result.response) == 999);
}

// TestURLSession.test_missingContentLengthButStillABody: the body ends with the connection.
TEST_CASE("test_missingContentLengthButStillABody") {
  SwiftServer server;
  auto result = lostCity(server, "Myndus");
  REQUIRE(result.data);
  REQUIRE(result.response);
  CHECK_FALSE(result.error);
  CHECK(statusOf(result.response) == 200);
  CHECK(result.data->view() ==
        "this is a body that isn't legal as it's neither chunked encoding nor any Content-Length\r\n");
}

// TestURLSession.test_illegalHTTPServerResponses: no status code, 2 digits, 4 digits.
TEST_CASE("test_illegalHTTPServerResponses") {
  SwiftServer server;
  for (const char* city : {"Gomorrah", "Dinavar", "Kuhikugu"}) {
    CAPTURE(city);
    auto result = lostCity(server, city);
    CHECK_FALSE(result.data);
    CHECK_FALSE(result.response);
    REQUIRE(result.error);
    CHECK(result.error->domain == "NSURLErrorDomain");
  }
}

// TestURLSession.test_http0_9SimpleResponses (disabled in Swift): an HTTP/2-only server's answer
// to HTTP/1.1 (Pompeii) and an HTTP/0.9 simple-response (Sodom). Swift expected a 200 with those
// bytes as the body, as libcurl before 7.66 read them. Changed: a reply without a status line is
// a bad server response here (-1011), like any other reply that is not HTTP (docs/semantics.md):
// HTTP/0.9 cannot be told from garbage.
TEST_CASE("test_http0_9SimpleResponses") {
  SwiftServer server;
  for (const char* city : {"Pompeii", "Sodom"}) {
    CAPTURE(city);
    auto result = lostCity(server, city);
    CHECK_FALSE(result.data);
    CHECK_FALSE(result.response);
    REQUIRE(result.error);
    CHECK(result.error->code == URLError::badServerResponse);
    REQUIRE(result.error->failingURL);
    CHECK(result.error->failingURL->path() == std::string("/LandOfTheLostCities/") + city);
  }
}

// TestURLSession.test_dataTaskWithSharedDelegate: one delegate object that is both a data and a
// download delegate gets the data task's didReceiveData.
TEST_CASE("test_dataTaskWithSharedDelegate") {
  SwiftServer server;
  auto sharedDelegate = std::make_shared<PortDelegate>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), sharedDelegate);
  session->dataTask(URLRequest(URL(server.url("/Nepal"))))->resume();
  REQUIRE(sharedDelegate->waitForCompletion(1, 20s));
  CHECK(sharedDelegate->didReceiveDataCount() >= 1);
  CHECK(sharedDelegate->receivedData() == "Kathmandu");
}

// ---- request bodies ------------------------------------------------------------------------------

// TestURLSession.test_simpleUploadWithDelegate: 16 KiB of zero bytes, PUT from Data.
TEST_CASE("test_simpleUploadWithDelegate") {
  SwiftServer server;
  auto delegate = std::make_shared<PortDelegate>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), delegate);
  URLRequest request(URL(server.url("/upload")));
  request.httpMethod = "PUT";
  const Data fileData(std::vector<std::uint8_t>(16 * 1024, 0));
  session->uploadTask(request, fileData)->resume();
  REQUIRE(delegate->waitForCompletion(1, 20s));
  CHECK_FALSE(delegate->error());
  CHECK(delegate->totalBytesSent() == static_cast<std::int64_t>(fileData.size()));
  CHECK(delegate->receivedData() == "Upload completed!, Content-Length: 16384");
  auto requests = server.server.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].bodySize == 16384);
  CHECK(requests[0].body == std::string(16384, '\0'));
}

// TestURLSession.test_requestWithEmptyBody: no body and an empty body are the same thing: no
// Content-Type is invented, GET is not refused, no didSendBodyData.
TEST_CASE("test_requestWithEmptyBody") {
  SwiftServer server;
  for (const auto& method : kHTTPMethods) {
    for (std::optional<Data> body : {std::optional<Data>(), std::optional<Data>(Data())}) {
      for (std::optional<std::string> contentType :
           {std::optional<std::string>("text/plain; charset=utf-8"), std::optional<std::string>()}) {
        CAPTURE(method);
        CAPTURE(body.has_value());
        CAPTURE(contentType.value_or("nil"));
        URLRequest request = requestWith(server.url("/" + toLower(method)), method);
        request.httpBody = body;
        if (contentType) request.setValue(*contentType, "Content-Type");
        DelegateRun d;
        d.run(request, 3);
        REQUIRE(d.wait(4s));
        CHECK_FALSE(d.delegate->error());
        auto http = d.delegate->httpResponse();
        REQUIRE(http);
        CHECK(http->statusCode() == 200);
        if (method == "HEAD") {
          CHECK(joined(d.delegate->callbacks()) == joined({"didReceiveResponse", "didCompleteWithError"}));
          CHECK_FALSE(d.delegate->receivedData());
        } else {
          CHECK(joined(d.delegate->callbacks()) == joined({"didReceiveResponse", "didReceiveData", "didCompleteWithError"}));
          REQUIRE(d.delegate->receivedData());
          CHECK(http->value("Content-Length") == std::to_string(d.delegate->receivedData()->size()));
          auto fields = parseFields(*d.delegate->receivedData());
          CHECK(field(fields, "Content-Type") == contentType);
        }
      }
    }
  }
}


// TestURLSession.test_postWithEmptyBody (SR-8970): a POST without a body carries no Content-Type.
TEST_CASE("test_postWithEmptyBody") {
  SwiftServer server;
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.timeoutIntervalForRequest = 5;
  URLRequest request(URL(server.url("/emptyPost")));
  request.httpMethod = "POST";
  auto result = runHandlerTask(URLSession::make(configuration), request);
  CHECK_FALSE(result.error);
  CHECK(statusOf(result.response) == 200);
}

// ---- concurrency ---------------------------------------------------------------------------------

// TestURLSession.test_concurrentRequests (disabled in Swift: intermittent SEGFAULT rdar://84519512):
// ten threads each create a session with its own delegate and run a task at the same time.
TEST_CASE("test_concurrentRequests") {
  SwiftServer server;
  const int tasks = 10;
  std::mutex mutex;
  std::vector<std::unique_ptr<DelegateRun>> dataTasks;
  std::vector<std::thread> threads;
  const URL url(server.url("/Nepal"));
  for (int f = 0; f < tasks; ++f) {
    threads.emplace_back([&] {
      auto d = std::make_unique<DelegateRun>();
      d->run(url);
      std::lock_guard lock(mutex);
      dataTasks.push_back(std::move(d));
    });
  }
  for (auto& thread : threads) thread.join();
  REQUIRE(dataTasks.size() == tasks);
  for (auto& d : dataTasks) {
    REQUIRE(d->wait(12s));
    CHECK_FALSE(d->delegate->error());
    CHECK(d->delegate->receivedData() == "Kathmandu");
  }
}

// ---- configuration -------------------------------------------------------------------------------

// TestURLSession.test_setCookieHeadersCanBeIgnored: with httpShouldSetCookies off, a cookie the
// server set is not sent back. (The Set-Cookie fields stay visible in the response.)
TEST_CASE("test_setCookieHeadersCanBeIgnored") {
  SwiftServer server;
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.timeoutIntervalForRequest = 5;
  configuration.httpShouldSetCookies = false;
  auto session = URLSession::make(configuration);
  auto first = runHandlerTask(session, requestWith(server.url("/requestCookies"), "POST"));
  CHECK_FALSE(first.error);
  CHECK(first.data);
  auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(first.response);
  REQUIRE(http);
  CHECK(http->allHeaderFields().count("Set-Cookie") == 1);
  auto second = runHandlerTask(session, requestWith(server.url("/echoHeaders"), "POST"));
  CHECK_FALSE(second.error);
  REQUIRE(second.data);
  CHECK(std::string(second.data->view()).find("Cookie: fr=anjd&232") == std::string::npos);
}

// TestURLSession.test_initURLSessionConfiguration: the properties this library has keep their
// values, in the configuration and in the session's copy of it.
TEST_CASE("test_initURLSessionConfiguration") {
  auto config = URLSessionConfiguration::defaultConfiguration();
  config.requestCachePolicy = URLRequest::CachePolicy::useProtocolCachePolicy;
  config.timeoutIntervalForRequest = 30;
  config.timeoutIntervalForResource = 604800;
  config.allowsCellularAccess = false;
  config.isDiscretionary = true;
  config.httpShouldUsePipelining = true;
  config.httpShouldSetCookies = true;
  config.httpMaximumConnectionsPerHost = 2;
  auto session = URLSession::make(config);
  for (const auto& c : {config, session->configuration()}) {
    CHECK(c.requestCachePolicy == URLRequest::CachePolicy::useProtocolCachePolicy);
    CHECK(c.timeoutIntervalForRequest == 30);
    CHECK(c.timeoutIntervalForResource == 604800);
    CHECK(c.allowsCellularAccess == false);
    CHECK(c.isDiscretionary == true);
    CHECK(c.httpShouldUsePipelining == true);
    CHECK(c.httpShouldSetCookies == true);
    CHECK(c.httpMaximumConnectionsPerHost == 2);
  }
}

// TestURLSession.test_basicAuthWithUnauthorizedHeader: with no delegate and no credential, a 401
// with WWW-Authenticate is delivered as the response, not as an error.
TEST_CASE("test_basicAuthWithUnauthorizedHeader") {
  SwiftServer server;
  auto result = runHandlerTask(URLSession::make(URLSessionConfiguration::defaultConfiguration()),
                               URLRequest(URL(server.url("/unauthorized"))));
  REQUIRE(result.response);
  CHECK_FALSE(result.error);
  CHECK(statusOf(result.response) == 401);
}

// ---- invalidation --------------------------------------------------------------------------------

// TestURLSession.test_checkErrorTypeAfterInvalidateAndCancel
TEST_CASE("test_checkErrorTypeAfterInvalidateAndCancel") {
  SwiftServer server;
  const std::string urlString = server.url("/country.txt");
  URLRequest request{URL(urlString)};
  request.addValue("5", "X-Pause");
  auto delegate = std::make_shared<PortDelegate>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), delegate);
  HandlerResults results;
  session->dataTask(request, results.handler())->resume();
  session->invalidateAndCancel();
  REQUIRE(results.wait(5s));
  auto error = results.get().error;
  REQUIRE(error);
  CHECK(error->domain == "NSURLErrorDomain");
  CHECK(error->code == URLError::cancelled);
  REQUIRE(error->failingURL);
  CHECK(error->failingURL->absoluteString() == urlString);
  CHECK(error->localizedDescription == "cancelled");
}

// TestURLSession.test_sessionDelegateAfterInvalidateAndCancel: the session lets go of its delegate.
TEST_CASE("test_sessionDelegateAfterInvalidateAndCancel") {
  auto delegate = std::make_shared<PortDelegate>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), delegate);
  session->invalidateAndCancel();
  CHECK(waitUntil([&] { return session->delegate() == nullptr; }, 5s));
  CHECK(delegate->waitForInvalidation(5s));
}





namespace {

// FailFastProtocol: fails in startLoading with an error outside NSURLErrorDomain.
class FailFastProtocol : public URLProtocol {
 public:
  static bool canInit(const URLRequest& request) { return request.url && request.url->scheme() == "failfast"; }
  using URLProtocol::URLProtocol;
  void startLoading() override {
    Error fastError;
    fastError.domain = "FailFastProtocol.Error";
    fastError.code = 0;
    fastError.localizedDescription = "fastError";
    client()->didFailWithError(*this, fastError);
  }
  void stopLoading() override {}
};

}  // namespace

// TestURLSession.test_noDoubleCallbackWhenCancellingAndProtocolFailsFast (disabled in Swift:
// "Crashes nondeterministically", SR-11310): a protocol failing at once races invalidateAndCancel;
// the completion handler runs exactly once, with an error (cancelled if it is a URL error).
TEST_CASE("test_noDoubleCallbackWhenCancellingAndProtocolFailsFast") {
  for (int round = 0; round < 20; ++round) {
    CAPTURE(round);
    auto configuration = URLSessionConfiguration::defaultConfiguration();
    configuration.protocolClasses = {URLProtocolClass::of<FailFastProtocol>("failfast")};
    auto delegate = std::make_shared<PortDelegate>();
    auto session = URLSession::make(configuration, delegate);
    std::atomic<int> callbackCount{0};
    std::mutex mutex;
    std::optional<Error> firstError;
    bool hadError = false;
    auto task = session->dataTask(URL("failfast://bogus"),
                                  [&](std::optional<Data>, std::shared_ptr<const URLResponse>, std::optional<Error> e) {
                                    std::lock_guard lock(mutex);
                                    if (callbackCount++ == 0) {
                                      firstError = e;
                                      hadError = e.has_value();
                                    }
                                  });
    task->resume();
    session->invalidateAndCancel();
    REQUIRE(delegate->waitForInvalidation(5s));
    REQUIRE(waitUntil([&] { return callbackCount > 0; }, 5s));
    std::this_thread::sleep_for(20ms);  // a second call would be queued right behind the first
    CHECK(callbackCount == 1);
    std::lock_guard lock(mutex);
    CHECK(hadError);
    if (firstError && firstError->domain == NSURLErrorDomain) CHECK(firstError->code == URLError::cancelled);
  }
}

// ---- Cases that failed when first ported, fixed in the library since ----

// TestURLSession.test_requestToNilURL
TEST_CASE("test_requestToNilURL") {
  SwiftServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  URLRequest request(URL(server.url("/Nepal")));
  request.url = std::nullopt;
  HandlerResults results;
  auto task = session->dataTask(request, results.handler());
  task->resume();
  REQUIRE(results.wait(5s));
  auto result = results.get();
  CHECK_FALSE(result.data);
  CHECK_FALSE(result.response);
  REQUIRE(result.error);
  CHECK(result.error->code == URLError::unsupportedURL);
  REQUIRE(waitUntil([&] { return task->state() == URLSessionTask::State::completed; }));
  REQUIRE(task->error());
  CHECK(task->error()->code == URLError::unsupportedURL);
  CHECK(server.server.requestCount() == 0);
}

// TestURLSession.test_getAllTasks (disabled in Swift: "this causes later ones to crash").
// swift-corelibs registers a task with its session only at its first resume(), so it expects 0, 1,
// 1, 2 below. Apple's getAllTasks returns every task of the session that has not completed, which
// includes a task not yet resumed (as GNUstep's portableDelegateTests also expect, and this
// library's test_lifecycle asserts), so the counts here are 3, 2, 2, 2. What is ported unchanged: a
// cancelled task is gone at once, and resume/suspend pairs never drop a task from the list.
TEST_CASE("test_getAllTasks") {
  SwiftServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  URLRequest request(URL(server.url("/country.txt")));
  request.addValue("5", "X-Pause");
  auto dataTask1 = session->dataTask(request);
  request.url = URL(server.url("/requestHeaders"));
  auto dataTask2 = session->dataTask(request);
  request.url = URL(server.url("/emptyPost"));
  auto dataTask3 = session->dataTask(request);

  auto count = [&] {
    Awaited<std::size_t> tasks;
    session->getAllTasks([&](std::vector<std::shared_ptr<URLSessionTask>> all) { tasks.set(all.size()); });
    REQUIRE(tasks.wait(5s));
    return *tasks.value;
  };
  CHECK(count() == 3);
  dataTask1->cancel();
  dataTask2->resume();
  dataTask2->suspend();
  dataTask3->suspend();
  CHECK(count() == 2);
  dataTask3->resume();
  CHECK(count() == 2);
  dataTask3->resume();
  CHECK(count() == 2);
  session->invalidateAndCancel();
}

// TestURLSession.test_getTasksWithCompletion (disabled in Swift: "Flaky tests"). This library has
// getAllTasks only; the tasks are sorted by kind as getTasksWithCompletionHandler does (upload tasks
// apart from data tasks). The counts before any resume follow Apple as in test_getAllTasks; a
// cancelled task and a suspended one are then as in the Swift test.
TEST_CASE("test_getTasksWithCompletion") {
  SwiftServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  URLRequest request(URL(server.url("/country.txt")));
  request.addValue("5", "X-Pause");
  auto dataTask1 = session->dataTask(request);
  request.url = URL(server.url("/requestHeaders"));
  auto dataTask2 = session->dataTask(request);
  request.url = URL(server.url("/emptyPost"));
  auto dataTask3 = session->dataTask(request);
  request.url = URL(server.url("/upload"));
  auto uploadTask1 = session->uploadTask(request, Data());
  request.url = URL(server.url("/echo"));
  auto uploadTask2 = session->uploadTask(request, Data());
  request.url = URL(server.url("/DTDs/PropertyList-1.0.dtd"));
  auto downloadTask1 = session->downloadTask(request);

  struct Counts {
    int data = 0, upload = 0, download = 0;
  };
  auto counts = [&] {
    Awaited<Counts> result;
    session->getAllTasks([&](std::vector<std::shared_ptr<URLSessionTask>> all) {
      Counts c;
      for (const auto& task : all) {
        if (std::dynamic_pointer_cast<URLSessionUploadTask>(task)) ++c.upload;
        else if (std::dynamic_pointer_cast<URLSessionDataTask>(task)) ++c.data;
        else if (std::dynamic_pointer_cast<URLSessionDownloadTask>(task)) ++c.download;
      }
      result.set(c);
    });
    REQUIRE(result.wait(5s));
    return *result.value;
  };
  auto before = counts();
  CHECK(before.data == 3);
  CHECK(before.upload == 2);
  CHECK(before.download == 1);

  dataTask1->cancel();
  dataTask2->resume();
  dataTask3->resume();
  dataTask3->suspend();
  uploadTask1->suspend();
  uploadTask2->resume();
  downloadTask1->cancel();
  auto after = counts();
  // dataTask2 (unless already done: /requestHeaders pauses 5 s) and dataTask3.
  CHECK(after.data == 2);
  // uploadTask2 pauses 5 s too; uploadTask1 was never resumed.
  CHECK(after.upload == 2);
  CHECK(after.download == 0);
  session->invalidateAndCancel();
}

// TestURLSession.test_taskCountAfterInvalidateAndCancel: after invalidateAndCancel no task is
// left, and resuming a task of the invalidated session does not bring it back.
TEST_CASE("test_taskCountAfterInvalidateAndCancel") {
  SwiftServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  URLRequest request(URL(server.url("/country.txt")));
  request.addValue("5", "X-Pause");
  auto task1 = session->dataTask(request);
  request.url = URL(server.url("/requestHeaders"));
  auto task2 = session->dataTask(request);
  request.url = URL(server.url("/emptyPost"));
  auto task3 = session->dataTask(request);
  task1->resume();
  task2->resume();
  session->invalidateAndCancel();

  Awaited<std::pair<std::size_t, std::size_t>> counts;
  session->getAllTasks([&](std::vector<std::shared_ptr<URLSessionTask>> tasksBeforeResume) {
    task3->resume();
    session->getAllTasks([&, before = tasksBeforeResume.size()](std::vector<std::shared_ptr<URLSessionTask>> after) {
      counts.set({before, after.size()});
    });
  });
  REQUIRE(counts.wait(5s));
  CHECK(counts.value->first == 0);
  CHECK(counts.value->second == 0);
  CHECK(task3->state() != URLSessionTask::State::running);
}

// TestURLSession.test_cancelledTasksCannotBeResumed (disabled in Swift: "breaks on Ubuntu 18.04").
TEST_CASE("test_cancelledTasksCannotBeResumed") {
  SwiftServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  auto task = session->dataTask(URL(server.url("/Nepal")));
  task->cancel();  // canceling, then completed
  task->resume();  // must not make it run
  CHECK(task->state() != URLSessionTask::State::running);
  Awaited<std::size_t> tasks;
  session->getAllTasks([&](std::vector<std::shared_ptr<URLSessionTask>> all) { tasks.set(all.size()); });
  REQUIRE(tasks.wait(1s));
  CHECK(*tasks.value == 0);
}

// TestURLSession.test_invalidResumeDataForDownloadTask (skipped in Swift): empty resume data, with
// a completion handler and with a delegate: no location, no response, an error. Changed: Swift
// expects unsupportedURL; here resume data that cannot be read is cannotDecodeRawData -1015
// (docs/resume-data.md: nothing in it, its URL included, can be trusted).
TEST_CASE("test_invalidResumeDataForDownloadTask") {
  struct Outcome {
    std::optional<URL> location;
    std::shared_ptr<const URLResponse> response;
    std::optional<Error> error;
  };
  Awaited<Outcome> handled;
  URLSession::shared()->downloadTaskWithResumeData(Data(), [&](std::optional<URL> location,
                                                              std::shared_ptr<const URLResponse> response,
                                                              std::optional<Error> error) {
    handled.set({std::move(location), std::move(response), std::move(error)});
  })->resume();
  REQUIRE(handled.wait(10s));
  CHECK_FALSE(handled.value->location);
  CHECK_FALSE(handled.value->response);
  REQUIRE(handled.value->error);
  CHECK(handled.value->error->code == URLError::cannotDecodeRawData);

  auto delegate = std::make_shared<PortDelegate>();
  auto session = makeSession(delegate, 8);
  auto task = session->downloadTaskWithResumeData(Data());
  task->resume();
  REQUIRE(delegate->waitForCompletion());
  REQUIRE(delegate->error());
  CHECK(delegate->error()->code == URLError::cannotDecodeRawData);
  CHECK_FALSE(delegate->downloadedContents());
  CHECK(task->response() == nullptr);
}

// TestURLSession.test_sessionDelegateCalledIfTaskDelegateDoesNotImplement: a per-task delegate that
// implements nothing leaves the task's messages to the session's delegate.
TEST_CASE("test_sessionDelegateCalledIfTaskDelegateDoesNotImplement") {
  SwiftServer server;
  auto delegate = std::make_shared<PortDelegate>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), delegate);
  class EmptyTaskDelegate : public URLSessionTaskDelegate {};
  auto task = session->dataTask(URLRequest(URL(server.url("/country.txt"))));
  task->setDelegate(std::make_shared<EmptyTaskDelegate>());
  task->resume();
  CHECK(waitUntil([&] { return delegate->receivedData() == SwiftServer::capitals.at("country.txt"); }, 3s));
  REQUIRE(delegate->waitForCompletion(1, 3s));
  CHECK_FALSE(delegate->error());
}

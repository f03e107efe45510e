// Ported peer scenarios that fail against the library today (NOT registered in meson).
// Each case says which behaviour it expects and what the library does instead; once the library
// is fixed (or the expectation is settled), move the case back to test_swift_port.cpp or
// test_gnustep_port.cpp — whose name it carries — and it runs as part of that file's meson test.
// Until then, build it by adding 'test_port_failing.cpp' to integration_sources and run
//   build/tests/integration-tests --source-file='*test_port_failing*'
#include <doctest/doctest.h>

#include "PortSupport.hpp"

using namespace fnport;

// ================================ from swift-corelibs-foundation ================================

// FAILS: the task ends with badURL (-1000, "the request has no URL", TaskImpl.cpp start());
// swift-corelibs expects unsupportedURL (-1002) in the completion handler and in task.error (no
// protocol can load a request without a URL). Darwin's code for this case is not verified.
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

// FAILS: (1) GET: localizedDescription is "resource exceeds maximum size (a GET request cannot
// have a body)"; Apple's (and this test's) is exactly "resource exceeds maximum size" —
// Error::url() appends its detail to localizedDescription. (2) HEAD with a body: the body is not
// sent (CURLOPT_NOBODY wins), so there is no didSendBodyData; swift-corelibs sends it. Whether
// Darwin sends a HEAD body is not verified; (1) is the clear divergence.
// TestURLSession.test_requestWithNonEmptyBody (disabled in Swift: "started failing for no readily
// available reason"). HEAD sends the body and gets no data; GET is refused with
// dataLengthExceedsMaximum before any traffic; the others echo it, and only POST gets a default
// Content-Type.
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
        CHECK(joined(d.delegate->callbacks()) == joined({"didSendBodyData", "didReceiveResponse", "didCompleteWithError"}));
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
  // GET was refused before sending anything.
  for (const auto& request : server.server.requests()) CHECK(request.method != "GET");
}

// FAILS: a task on which cancel() was just called is still listed (count 3, not 2):
// URLSession::Impl::liveTasks() keeps every task whose state is not `completed`, `canceling`
// included, and getAllTasks() takes that snapshot synchronously on the calling thread, before the
// loop thread has finished the cancellation. Apple lists no cancelled task.
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

// FAILS: same cause as test_getAllTasks — the cancelled dataTask1 and downloadTask1 are listed.
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

// FAILS: same cause as test_getAllTasks — right after invalidateAndCancel() all three (canceling)
// tasks are listed, and still are from inside the getAllTasks handler.
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

// FAILS: same cause as test_getAllTasks — the cancelled (never resumed) task is listed.
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

// FAILS: the session delegate never gets didCompleteWithError (the data does reach it, as the task
// delegate is no URLSessionDataDelegate): a per-task delegate
// that derives from URLSessionTaskDelegate takes every URLSessionTaskDelegate message, and the base
// class's default implementations do nothing (TaskImpl::delegateAs<D> picks the task delegate
// whenever the dynamic_cast succeeds). Apple: what the task delegate does not implement goes to the
// session delegate (apple-semantics.md, "Per-task delegate"). The defaults would have to forward to
// the session's delegate.
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

// FAILS: while the redirect question is unanswered the request's idle timer keeps running
// (docs/architecture.md "It stays armed while the task waits for a redirect or disposition
// answer"), so each task completes with timedOut (-1001) after 1 s. swift-corelibs expects no
// completion at all within 2 s. Darwin's behaviour here is not verified; this is a decision to
// make, not necessarily a bug.
// TestURLSession.test_httpRedirectDontFollowIgnoringHandler: a delegate that never answers the
// redirect question leaves the task waiting: nothing but willPerformHTTPRedirection for 2 s, even
// with a 1 s request timeout. (The five methods run at once, each in its own session.) Cancelling
// then ends each task once, with cancelled.
TEST_CASE("test_httpRedirectDontFollowIgnoringHandler") {
  SwiftServer server;
  std::mutex mutex;
  std::vector<PortDelegate::RedirectAnswer> neverCalled;  // kept alive, never called
  std::vector<std::unique_ptr<DelegateRun>> runs;
  for (const auto& method : kHTTPMethods) {
    auto d = std::make_unique<DelegateRun>([&](PortDelegate& delegate) {
      delegate.redirectionHandler = [&](const HTTPURLResponse&, const URLRequest&, PortDelegate::RedirectAnswer answer) {
        std::lock_guard lock(mutex);
        neverCalled.push_back(std::move(answer));
      };
    });
    d->run(requestWith(server.url("/302?location=jsonBody"), method), 1);
    runs.push_back(std::move(d));
  }
  std::this_thread::sleep_for(2s);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    auto& d = *runs[i];
    CAPTURE(kHTTPMethods[i]);
    CHECK_FALSE(d.delegate->error());
    CHECK_FALSE(d.delegate->receivedData());
    CHECK_FALSE(d.delegate->response());
    REQUIRE(d.delegate->redirectionResponse());
    CHECK(d.delegate->redirectionResponse()->statusCode() == 302);
    CHECK(joined(d.delegate->callbacks()) == joined({"willPerformHTTPRedirection"}));
  }
  for (auto& d : runs) d->task->cancel();
  for (std::size_t i = 0; i < runs.size(); ++i) {
    auto& d = *runs[i];
    CAPTURE(kHTTPMethods[i]);
    REQUIRE(d.wait(5s));
    CHECK(d.delegate->completionCount() == 1);
    REQUIRE(d.delegate->error());
    CHECK(d.delegate->error()->code == URLError::cancelled);
  }
}

// FAILS: 306 is delivered as the final response (Redirect.cpp follows 301/302/303/305/307/308
// only); swift-corelibs follows 306 like 307 and its test expects that. 306 is "(Unused)" in
// RFC 9110; Darwin's behaviour is not verified. A decision to make, not necessarily a bug.
// TestURLSession.test_httpRedirectionWithCode305_308, the 306 part.
TEST_CASE("test_httpRedirectionWithCode305_308 (306)") {
  SwiftServer server;
  checkMethodKeepingRedirect(server, 306);
}

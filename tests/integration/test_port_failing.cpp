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

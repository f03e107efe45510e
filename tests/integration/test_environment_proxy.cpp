// A session without a connectionProxyDictionary uses the environment's proxies (http_proxy,
// https_proxy, all_proxy, no_proxy, as curl reads them). The library reads them once per process,
// so this file's tests set them before the process's first request: meson runs the file as a
// process of its own and says so with FNTEST_OWN_PROCESS.
#include <doctest/doctest.h>

#include <cstdlib>

#include "Recorder.hpp"
#include "TestServer.hpp"

using namespace fntest;

TEST_CASE("the environment's http_proxy carries plain-http requests, and no_proxy exempts hosts") {
  if (!std::getenv("FNTEST_OWN_PROCESS")) {
    MESSAGE("skipped: needs a process of its own (meson test integration/environment_proxy)");
    return;
  }
  // Plays the proxy: a request sent to it as one has the absolute URL as its target (the server
  // routes on its path, so /hello answers either way).
  TestServer proxy;
  REQUIRE(::setenv("http_proxy", proxy.url("").c_str(), 1) == 0);
  REQUIRE(::setenv("no_proxy", "direct.invalid,127.0.0.1", 1) == 0);
  auto recorder = std::make_shared<Recorder>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);

  auto proxied = session->dataTask(URL("http://proxied.invalid/hello"));
  proxied->resume();
  auto direct = session->dataTask(URL(proxy.url("/hello")));  // 127.0.0.1: no_proxy
  direct->resume();
  auto exempt = session->dataTask(URL("http://direct.invalid/hello"));  // no_proxy: resolved itself
  exempt->resume();
  REQUIRE(recorder->waitForCompletions(3));

  CHECK_FALSE(recorder->completion(proxied->taskIdentifier()).error);
  CHECK(recorder->body(proxied->taskIdentifier()) == "Hello, world!");
  CHECK_FALSE(recorder->completion(direct->taskIdentifier()).error);
  CHECK(recorder->body(direct->taskIdentifier()) == "Hello, world!");
  auto error = recorder->completion(exempt->taskIdentifier()).error;
  REQUIRE(error);
  CHECK(error->code == URLError::cannotFindHost);  // not sent to the proxy
  bool sawAbsolute = false, sawOrigin = false;
  for (const auto& request : proxy.requests()) {
    sawAbsolute = sawAbsolute || request.target == "http://proxied.invalid/hello";
    sawOrigin = sawOrigin || request.target == "/hello";
    CHECK(request.target.find("direct.invalid") == std::string::npos);
  }
  CHECK(sawAbsolute);
  CHECK(sawOrigin);
  session->invalidateAndCancel();
}

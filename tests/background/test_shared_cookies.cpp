// HTTPCookieStorage::shared() across launches of an app (cookie_app, a real process each
// time): the cookies with an expiry that a response set are sent by the next launch, whether
// the app exited or was killed after the write delay; session cookies are not. And across the
// app and urlsessiond: background tasks send the app's cookies and store theirs in its file.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>

#include "BackgroundFixture.hpp"
#include "CookieServer.hpp"

using namespace fntest;
using namespace std::chrono_literals;

namespace {

// Runs cookie_app on `url` until it exits; its "body" line.
std::string launch(const std::string& url) {
  App app({url}, COOKIE_APP_PATH);
  auto body = app.waitFor("body ");
  const int status = app.wait();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  return body;
}

}  // namespace

TEST_CASE("the shared storage's cookies with an expiry reach the app's next launch") {
  // The apps' data folder: the process's own (integration/main.cpp), empty at each subcase.
  const std::filesystem::path data = std::getenv("XDG_DATA_HOME");
  std::filesystem::remove_all(data / "cookie-app-test");
  ::setenv("FOUNDATION_NET_APP_ID", "cookie-app-test", 1);
  CookieServer cookies;

  SUBCASE("after a normal exit right after the response") {
    CHECK(launch(cookies.set("kept=1; Max-Age=3600", "session=1")) == "body set");
    CHECK(std::filesystem::exists(data / "cookie-app-test" / "Cookies.db"));
    CHECK(launch(cookies.server.url("/show")) == "body kept=1");
  }

  SUBCASE("after a SIGKILL once the write delay has passed") {
    {
      App app({cookies.set("kept=2; Max-Age=3600"), "--stay-ms", "1500"}, COOKIE_APP_PATH);
      CHECK(app.waitFor("body ") == "body set");
      CHECK(app.waitFor("staying") == "staying");
      app.kill9();
    }
    CHECK(launch(cookies.server.url("/show")) == "body kept=2");
  }

  SUBCASE("a cookie the server expires is gone at the next launch") {
    CHECK(launch(cookies.set("gone=1; Max-Age=3600")) == "body set");
    CHECK(launch(cookies.server.url("/show")) == "body gone=1");
    CHECK(launch(cookies.set("gone=; Max-Age=0")) == "body set");
    CHECK(launch(cookies.server.url("/show")) == "body (none)");
  }
  ::unsetenv("FOUNDATION_NET_APP_ID");
}

TEST_CASE("background tasks send the app's cookies, and what their responses set reaches the app's storage") {
  BackgroundEnvironment environment("cookie-bg-app");  // bg_app and cookie_app share this app id
  const std::filesystem::path data = std::getenv("XDG_DATA_HOME");
  std::filesystem::remove_all(data / "cookie-bg-app");
  CookieServer cookies;

  // Each app stays until the test has seen its task complete (an earlier task's completion,
  // which the killed app never acknowledged, is replayed to the next one first).
  // A login cookie stored just before the task is made goes with the daemon's request.
  {
    App app({"cookies", "download", cookies.server.url("/show"), "--cookie", "login=abc; Max-Age=3600", "--stay"});
    CHECK(app.waitFor("body 1 ") == "body 1 login=abc");
    CHECK(app.waitFor("complete 1 ") == "complete 1 0 200");
  }
  // What a background response sets is in the app's file when the app hears of the completion.
  {
    App app({"cookies", "download", cookies.set("fromBackground=1; Max-Age=3600"), "--stay"});
    CHECK(app.waitFor("complete 2 ") == "complete 2 0 200");
  }
  // (curl orders a Cookie header by path, domain, then name length.)
  CHECK(launch(cookies.server.url("/show")) == "body fromBackground=1; login=abc");
  // A cookie the app stores after the daemon has read the file goes with the next task too.
  {
    App app({"cookies", "download", cookies.server.url("/show"), "--cookie", "token=t2; Max-Age=3600", "--stay"});
    CHECK(app.waitFor("body 3 ") == "body 3 fromBackground=1; token=t2; login=abc");
    CHECK(app.waitFor("complete 3 ") == "complete 3 0 200");
  }
}

// Cookies: what responses set is stored in the configuration's HTTPCookieStorage and sent back,
// as the session's and the request's switches and the accept policy allow.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>

#include "CookieServer.hpp"
#include "Recorder.hpp"
#include "TempFolder.hpp"
#include "TestServer.hpp"

using namespace fntest;

namespace {

std::string bodyOf(const std::shared_ptr<URLSession>& session, const URLRequest& request) {
  auto result = load(session, request);
  REQUIRE_FALSE(result.error);
  REQUIRE(result.data);
  return std::string(result.data->view());
}

std::string bodyOf(const std::shared_ptr<URLSession>& session, const std::string& url) {
  return bodyOf(session, URLRequest(URL(url)));
}

HTTPCookie cookie(HTTPCookie::Properties properties) {
  auto made = HTTPCookie::make(properties);
  REQUIRE(made);
  return *made;
}

}  // namespace

TEST_CASE("a cookie a response sets is stored and sent back to that host") {
  CookieServer s;
  auto configuration = URLSessionConfiguration::ephemeral();
  auto storage = configuration.httpCookieStorage;
  REQUIRE(storage);
  auto session = URLSession::make(configuration);
  CHECK(bodyOf(session, s.server.url("/show")) == "(none)");
  bodyOf(session, s.set("session=abc123; Path=/; HttpOnly", "theme=dark"));
  auto stored = storage->cookies();
  REQUIRE(stored.size() == 2);
  CHECK(stored[0].name() == "session");
  CHECK(stored[0].value() == "abc123");
  CHECK(stored[0].domain() == "127.0.0.1");
  CHECK(stored[0].path() == "/");
  CHECK(stored[0].isHTTPOnly());
  CHECK(stored[0].isSessionOnly());
  CHECK(stored[1].name() == "theme");
  CHECK(stored[1].path() == "/");  // the default path of /set
  auto sent = bodyOf(session, s.server.url("/show"));
  CHECK(sent.find("session=abc123") != std::string::npos);
  CHECK(sent.find("theme=dark") != std::string::npos);
  CHECK(storage->cookies(URL(s.server.url("/show"))).size() == 2);

  SUBCASE("a later response replaces it, and an expired one deletes it") {
    bodyOf(session, s.set("session=def456; Path=/"));
    REQUIRE(storage->cookies().size() == 2);
    CHECK(storage->cookies()[0].value() == "def456");
    CHECK_FALSE(storage->cookies()[0].isHTTPOnly());
    bodyOf(session, s.set("session=; Path=/; Max-Age=0"));
    REQUIRE(storage->cookies().size() == 1);
    CHECK(storage->cookies()[0].name() == "theme");
    CHECK(bodyOf(session, s.server.url("/show")) == "theme=dark");
  }
  SUBCASE("an expiry is kept") {
    const auto before = std::chrono::system_clock::now();
    bodyOf(session, s.set("lasting=1; Path=/; Max-Age=3600"));
    auto all = storage->cookies();
    auto it = std::find_if(all.begin(), all.end(), [](const HTTPCookie& c) { return c.name() == "lasting"; });
    REQUIRE(it != all.end());
    REQUIRE(it->expiresDate());
    // Whole seconds from curl's time(), which reads the coarse clock and may still show the
    // second before `before`.
    CHECK(*it->expiresDate() >= before + std::chrono::seconds(3598));
    CHECK(*it->expiresDate() <= std::chrono::system_clock::now() + std::chrono::seconds(3601));
    CHECK_FALSE(it->isSessionOnly());
  }
}

TEST_CASE("a cookie set by a redirect goes with the redirected request") {
  CookieServer s;
  auto session = URLSession::make(URLSessionConfiguration::ephemeral());
  CHECK(bodyOf(session, s.set("step=one; Path=/", {}, "/show/next")) == "step=one");
}

TEST_CASE("cookies follow their path, their host and Secure") {
  CookieServer s;
  auto configuration = URLSessionConfiguration::ephemeral();
  auto storage = configuration.httpCookieStorage;
  auto session = URLSession::make(configuration);
  bodyOf(session, s.set("scoped=1; Path=/show/inner"));
  storage->setCookie(cookie({{HTTPCookiePropertyKey::name, "other"}, {HTTPCookiePropertyKey::value, "host"},
                             {HTTPCookiePropertyKey::domain, "example.com"}}));
  storage->setCookie(cookie({{HTTPCookiePropertyKey::name, "secret"}, {HTTPCookiePropertyKey::value, "tls"},
                             {HTTPCookiePropertyKey::domain, "127.0.0.1"}, {HTTPCookiePropertyKey::secure, "TRUE"}}));
  CHECK(bodyOf(session, s.server.url("/show")) == "(none)");
  CHECK(bodyOf(session, s.server.url("/show/innerness")) == "(none)");
  CHECK(bodyOf(session, s.server.url("/show/inner")) == "scoped=1");
  CHECK(bodyOf(session, s.server.url("/show/inner/deeper")) == "scoped=1");
  CHECK(storage->cookies(URL("https://127.0.0.1/")).size() == 1);  // the Secure one, over https only
  CHECK(storage->cookies(URL("http://www.example.com/")).empty());  // host-only
  CHECK(storage->cookies(URL("http://example.com/a")).size() == 1);
}

TEST_CASE("cookies the app stores are sent, unless the request brings its own Cookie header") {
  CookieServer s;
  auto configuration = URLSessionConfiguration::ephemeral();
  auto session = URLSession::make(configuration);
  configuration.httpCookieStorage->setCookie(cookie({{HTTPCookiePropertyKey::name, "token"},
                                                      {HTTPCookiePropertyKey::value, "xyz"},
                                                      {HTTPCookiePropertyKey::originURL, s.server.url("/")}}));
  CHECK(bodyOf(session, s.server.url("/show")) == "token=xyz");
  auto storage = configuration.httpCookieStorage;
  storage->setCookie(cookie({{HTTPCookiePropertyKey::name, "lax"}, {HTTPCookiePropertyKey::value, "1"},
                             {HTTPCookiePropertyKey::domain, "127.0.0.1"}, {HTTPCookiePropertyKey::maximumAge, "600"},
                             {HTTPCookiePropertyKey::sameSitePolicy, "Lax"}}));
  const auto stored = [&](const std::string& name) {
    for (const auto& c : storage->cookies())
      if (c.name() == name) return c;
    FAIL("no cookie " << name);
    return storage->cookies().front();
  };
  const auto expires = stored("lax").expiresDate();
  bodyOf(session, s.set("other=1; Path=/"));  // curl reads back what was loaded: nothing it left alone changes
  CHECK(stored("lax").sameSitePolicy() == "Lax");
  CHECK(stored("lax").expiresDate() == expires);
  bodyOf(session, s.set("lax=2; Path=/; Max-Age=600"));
  CHECK(stored("lax").value() == "2");
  CHECK(stored("lax").sameSitePolicy() == "Lax");  // curl has no SameSite; the stored one stays
  URLRequest own(URL(s.server.url("/show")));
  own.setValue("mine=1", "Cookie");
  CHECK(bodyOf(session, own) == "mine=1");
}

TEST_CASE("each ephemeral session has its own cookies; default sessions share HTTPCookieStorage::shared()") {
  CookieServer s;
  auto first = URLSession::make(URLSessionConfiguration::ephemeral());
  auto second = URLSession::make(URLSessionConfiguration::ephemeral());
  bodyOf(first, s.set("who=first; Path=/"));
  CHECK(bodyOf(first, s.server.url("/show")) == "who=first");
  CHECK(bodyOf(second, s.server.url("/show")) == "(none)");

  auto shared = HTTPCookieStorage::shared();
  CHECK(URLSessionConfiguration::defaultConfiguration().httpCookieStorage == shared);
  auto one = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  auto two = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  bodyOf(one, s.set("everyone=yes; Path=/"));
  CHECK(bodyOf(two, s.server.url("/show")) == "everyone=yes");
  CHECK(bodyOf(URLSession::shared(), s.server.url("/show")) == "everyone=yes");
  CHECK(bodyOf(first, s.server.url("/show")) == "who=first");
  for (const auto& c : shared->cookies(URL(s.server.url("/")))) shared->deleteCookie(c);
  CHECK(bodyOf(two, s.server.url("/show")) == "(none)");
}

TEST_CASE("no cookies when the session or the request turns them off, or there is no storage") {
  CookieServer s;
  auto configuration = URLSessionConfiguration::ephemeral();
  auto storage = configuration.httpCookieStorage;
  storage->setCookie(cookie({{HTTPCookiePropertyKey::name, "stored"}, {HTTPCookiePropertyKey::value, "1"},
                             {HTTPCookiePropertyKey::domain, "127.0.0.1"}}));

  SUBCASE("httpShouldSetCookies = false") {
    configuration.httpShouldSetCookies = false;
    auto session = URLSession::make(configuration);
    CHECK(bodyOf(session, s.server.url("/show")) == "(none)");
    bodyOf(session, s.set("fresh=1; Path=/"));
    CHECK(storage->cookies().size() == 1);
  }
  SUBCASE("the request's httpShouldHandleCookies = false") {
    auto session = URLSession::make(configuration);
    URLRequest request(URL(s.server.url("/show")));
    request.httpShouldHandleCookies = false;
    CHECK(bodyOf(session, request) == "(none)");
    URLRequest setter(URL(s.set("fresh=1; Path=/")));
    setter.httpShouldHandleCookies = false;
    bodyOf(session, setter);
    CHECK(storage->cookies().size() == 1);
    CHECK(bodyOf(session, s.server.url("/show")) == "stored=1");  // the same handles, cookies on again
  }
  SUBCASE("no storage") {
    configuration.httpCookieStorage = nullptr;
    auto session = URLSession::make(configuration);
    CHECK(bodyOf(session, s.server.url("/show")) == "(none)");
    bodyOf(session, s.set("fresh=1; Path=/"));
    CHECK(bodyOf(session, s.server.url("/show")) == "(none)");
    CHECK(storage->cookies().size() == 1);
  }
}

TEST_CASE("the configuration's accept policy decides what responses may store") {
  CookieServer s;
  auto configuration = URLSessionConfiguration::ephemeral();
  auto storage = configuration.httpCookieStorage;
  CHECK(configuration.httpCookieAcceptPolicy == HTTPCookie::AcceptPolicy::onlyFromMainDocumentDomain);
  CHECK(storage->cookieAcceptPolicy() == HTTPCookie::AcceptPolicy::always);

  SUBCASE("never: nothing stored or deleted, stored cookies still sent") {
    configuration.httpCookieAcceptPolicy = HTTPCookie::AcceptPolicy::never;
    storage->setCookie(cookie({{HTTPCookiePropertyKey::name, "kept"}, {HTTPCookiePropertyKey::value, "1"},
                               {HTTPCookiePropertyKey::domain, "127.0.0.1"}}));
    auto session = URLSession::make(configuration);
    bodyOf(session, s.set("fresh=1; Path=/", "kept=; Path=/; Max-Age=0"));
    REQUIRE(storage->cookies().size() == 1);
    CHECK(storage->cookies()[0].name() == "kept");
    CHECK(bodyOf(session, s.server.url("/show")) == "kept=1");
  }
  SUBCASE("only from the main document's domain") {
    auto session = URLSession::make(configuration);
    URLRequest elsewhere(URL(s.set("tracker=1; Path=/")));
    elsewhere.mainDocumentURL = URL("http://example.com/page");
    bodyOf(session, elsewhere);
    CHECK(storage->cookies().empty());
    URLRequest same(URL(s.set("own=1; Path=/")));
    same.mainDocumentURL = URL(s.server.url("/page"));
    bodyOf(session, same);
    CHECK(storage->cookies().size() == 1);
    bodyOf(session, s.set("plain=1; Path=/"));  // no main document: accepted
    CHECK(storage->cookies().size() == 2);
  }
}

TEST_CASE("an app that handles cookies itself: HTTPCookie::cookies from allHeaderFields, then setCookies") {
  CookieServer s;
  auto configuration = URLSessionConfiguration::ephemeral();
  configuration.httpCookieAcceptPolicy = HTTPCookie::AcceptPolicy::never;  // as Apple suggests for this
  auto storage = configuration.httpCookieStorage;
  auto session = URLSession::make(configuration);
  const std::string url = s.set("first=1; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT", "second=2; HttpOnly");
  auto result = load(session, URLRequest(URL(url)));
  auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(result.response);
  REQUIRE(http);
  CHECK(storage->cookies().empty());
  auto cookies = HTTPCookie::cookies(http->allHeaderFields(), URL(url));
  REQUIRE(cookies.size() == 2);
  CHECK(cookies[1].isHTTPOnly());
  storage->setCookies(cookies, URL(url), std::nullopt);
  auto sent = bodyOf(session, s.server.url("/show"));
  CHECK(sent.find("first=1") != std::string::npos);
  CHECK(sent.find("second=2") != std::string::npos);
}

TEST_CASE("reset empties the session's cookie storage") {
  CookieServer s;
  auto configuration = URLSessionConfiguration::ephemeral();
  auto session = URLSession::make(configuration);
  bodyOf(session, s.set("gone=soon; Path=/"));
  REQUIRE(configuration.httpCookieStorage->cookies().size() == 1);
  auto done = std::make_shared<Awaited<bool>>();
  session->reset([done] { done->set(true); });
  REQUIRE(done->wait());
  CHECK(configuration.httpCookieStorage->cookies().empty());
  CHECK(bodyOf(session, s.server.url("/show")) == "(none)");
}

TEST_CASE("a storage with a file: its cookies go with the first request, and flush writes before its handler") {
  CookieServer s;
  fntest::TempFolder folder;
  const auto file = (folder.path() / "Cookies.db").string();
  auto configuration = URLSessionConfiguration::ephemeral();
  configuration.httpCookieStorage = std::make_shared<HTTPCookieStorage>(file);
  auto session = URLSession::make(configuration);
  bodyOf(session, s.set("id=7; Max-Age=3600; Path=/", "visit=1; Path=/"));
  auto written = std::make_shared<Awaited<std::size_t>>();
  session->flush([written, file] { written->set(HTTPCookieStorage(file).cookies().size()); });
  REQUIRE(written->wait());
  CHECK(*written->value == 1);  // the session cookie stays in memory
  session->finishTasksAndInvalidate();

  // The next launch, as it were: a new storage on the same file.
  auto next = URLSessionConfiguration::ephemeral();
  next.httpCookieStorage = std::make_shared<HTTPCookieStorage>(file);
  auto later = URLSession::make(next);
  CHECK(bodyOf(later, s.server.url("/show")) == "id=7");
  later->finishTasksAndInvalidate();
}

TEST_CASE("sharedCookieStorage(forGroupContainerIdentifier:): one storage per identifier, in its own folder") {
  auto group = HTTPCookieStorage::sharedCookieStorage("group.org.example.test");
  CHECK(group == HTTPCookieStorage::sharedCookieStorage("group.org.example.test"));
  CHECK(group != HTTPCookieStorage::shared());
  CHECK(group != HTTPCookieStorage::sharedCookieStorage("group.org.example.other"));
  for (const char* bad : {"", ".", "..", "../escape", "a/b"})
    CHECK_THROWS_AS(HTTPCookieStorage::sharedCookieStorage(bad), std::invalid_argument);

  CookieServer s;
  auto configuration = URLSessionConfiguration::ephemeral();
  configuration.httpCookieStorage = group;
  auto session = URLSession::make(configuration);
  bodyOf(session, s.set("member=1; Max-Age=3600; Path=/"));
  group->flush();
  const auto file = std::filesystem::path(std::getenv("XDG_DATA_HOME")) / "group.org.example.test" / "Cookies.db";
  REQUIRE(std::filesystem::exists(file));
  CHECK(HTTPCookieStorage(file.string()).cookies().size() == 1);
  for (const auto& other : HTTPCookieStorage::shared()->cookies()) CHECK(other.name() != "member");
  session->finishTasksAndInvalidate();
}

TEST_CASE("download and delegate data tasks store cookies too") {
  CookieServer s;
  auto configuration = URLSessionConfiguration::ephemeral();
  auto storage = configuration.httpCookieStorage;
  auto recorder = std::make_shared<Recorder>();
  auto session = URLSession::make(configuration, recorder);
  session->downloadTask(URL(s.set("viaDownload=1; Path=/")))->resume();
  session->dataTask(URL(s.set("viaDelegate=1; Path=/")))->resume();
  REQUIRE(recorder->waitForCompletions(2));
  CHECK(storage->cookies().size() == 2);
  auto task = session->dataTask(URL(s.server.url("/show")));
  task->resume();
  REQUIRE(recorder->waitForCompletions(3));
  auto sent = recorder->body(task->taskIdentifier());
  CHECK(sent.find("viaDownload=1") != std::string::npos);
  CHECK(sent.find("viaDelegate=1") != std::string::npos);
}

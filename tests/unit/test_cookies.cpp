// HTTPCookie's properties and matching rules, HTTPCookieStorage's replacement and policy rules,
// and the cookie-file lines the http protocol exchanges with curl.
#include <doctest/doctest.h>

#include <foundation_net/HTTPCookieStorage.hpp>

#include "protocols/CookieJar.hpp"

using namespace foundation;
using foundation::detail::CookieJar;

namespace {

HTTPCookie made(HTTPCookie::Properties properties) {
  auto cookie = HTTPCookie::make(properties);
  REQUIRE(cookie);
  return *cookie;
}

HTTPCookie named(std::string name, std::string value, std::string domain = "example.com", std::string path = "/") {
  return made({{HTTPCookiePropertyKey::name, std::move(name)},
               {HTTPCookiePropertyKey::value, std::move(value)},
               {HTTPCookiePropertyKey::domain, std::move(domain)},
               {HTTPCookiePropertyKey::path, std::move(path)}});
}

}  // namespace

TEST_CASE("HTTPCookie::make takes Apple's property keys and refuses what a header cannot carry") {
  auto cookie = made({{HTTPCookiePropertyKey::name, "id"},
                      {HTTPCookiePropertyKey::value, "a1"},
                      {HTTPCookiePropertyKey::domain, ".Example.COM"},
                      {HTTPCookiePropertyKey::path, "/app"},
                      {HTTPCookiePropertyKey::expires, "Wed, 21 Oct 2037 07:28:00 GMT"},
                      {HTTPCookiePropertyKey::secure, "TRUE"},
                      {HTTPCookiePropertyKey::httpOnly, "yes"},
                      {HTTPCookiePropertyKey::sameSitePolicy, "Lax"}});
  CHECK(cookie.domain() == ".example.com");
  CHECK(cookie.path() == "/app");
  REQUIRE(cookie.expiresDate());
  CHECK(std::chrono::system_clock::to_time_t(*cookie.expiresDate()) == 2139722880);
  CHECK(cookie.isSecure());
  CHECK(cookie.isHTTPOnly());
  CHECK(cookie.sameSitePolicy() == "Lax");
  CHECK_FALSE(cookie.isSessionOnly());
  CHECK(HTTPCookie::make(cookie.properties()) == cookie);

  auto fromOrigin = made({{HTTPCookiePropertyKey::name, "n"}, {HTTPCookiePropertyKey::value, ""},
                          {HTTPCookiePropertyKey::originURL, "https://Shop.example.com/cart"}});
  CHECK(fromOrigin.domain() == "shop.example.com");
  CHECK(fromOrigin.path() == "/");
  CHECK(fromOrigin.isSessionOnly());

  auto discarded = made({{HTTPCookiePropertyKey::name, "n"}, {HTTPCookiePropertyKey::value, "v"},
                         {HTTPCookiePropertyKey::domain, "example.com"}, {HTTPCookiePropertyKey::maximumAge, "60"},
                         {HTTPCookiePropertyKey::discard, "TRUE"}});
  CHECK(discarded.isSessionOnly());

  using P = HTTPCookie::Properties;
  CHECK_FALSE(HTTPCookie::make(P{{HTTPCookiePropertyKey::value, "v"}, {HTTPCookiePropertyKey::domain, "example.com"}}));
  CHECK_FALSE(HTTPCookie::make(P{{HTTPCookiePropertyKey::name, "n"}, {HTTPCookiePropertyKey::value, "v"}}));
  CHECK_FALSE(HTTPCookie::make(P{{HTTPCookiePropertyKey::name, "a;b"}, {HTTPCookiePropertyKey::value, "v"},
                                 {HTTPCookiePropertyKey::domain, "example.com"}}));
  CHECK_FALSE(HTTPCookie::make(P{{HTTPCookiePropertyKey::name, "a=b"}, {HTTPCookiePropertyKey::value, "v"},
                                 {HTTPCookiePropertyKey::domain, "example.com"}}));
  CHECK_FALSE(HTTPCookie::make(P{{HTTPCookiePropertyKey::name, "n"}, {HTTPCookiePropertyKey::value, "line\nbreak"},
                                 {HTTPCookiePropertyKey::domain, "example.com"}}));
  CHECK_FALSE(HTTPCookie::make(P{{HTTPCookiePropertyKey::name, "n"}, {HTTPCookiePropertyKey::value, "v"},
                                 {HTTPCookiePropertyKey::domain, "example.com"}, {HTTPCookiePropertyKey::expires, "soon"}}));
}

TEST_CASE("a cookie goes with requests its domain, path and Secure allow") {
  auto hostOnly = named("a", "1", "example.com", "/docs");
  CHECK(hostOnly.isSentWith(URL("http://example.com/docs")));
  CHECK(hostOnly.isSentWith(URL("http://EXAMPLE.com/docs/page")));
  CHECK_FALSE(hostOnly.isSentWith(URL("http://example.com/docsx")));
  CHECK_FALSE(hostOnly.isSentWith(URL("http://example.com/")));
  CHECK_FALSE(hostOnly.isSentWith(URL("http://www.example.com/docs")));
  CHECK_FALSE(hostOnly.isSentWith(URL("http://badexample.com/docs")));
  CHECK_FALSE(hostOnly.isSentWith(URL("file:///docs")));

  auto domain = named("b", "2", ".example.com");
  CHECK(domain.isSentWith(URL("http://example.com/")));
  CHECK(domain.isSentWith(URL("https://a.b.example.com/x")));
  CHECK_FALSE(domain.isSentWith(URL("http://badexample.com/")));

  auto secure = made({{HTTPCookiePropertyKey::name, "s"}, {HTTPCookiePropertyKey::value, "3"},
                      {HTTPCookiePropertyKey::domain, "example.com"}, {HTTPCookiePropertyKey::secure, "TRUE"}});
  CHECK(secure.isSentWith(URL("https://example.com/")));
  CHECK_FALSE(secure.isSentWith(URL("http://example.com/")));

  auto expired = made({{HTTPCookiePropertyKey::name, "e"}, {HTTPCookiePropertyKey::value, "4"},
                       {HTTPCookiePropertyKey::domain, "example.com"}, {HTTPCookiePropertyKey::maximumAge, "-1"}});
  CHECK(expired.isExpired());
  CHECK_FALSE(expired.isSentWith(URL("http://example.com/")));

  CHECK(HTTPCookie::requestHeaderFields({hostOnly, domain}) ==
        std::map<std::string, std::string>{{"Cookie", "a=1; b=2"}});
  CHECK(HTTPCookie::requestHeaderFields({}).empty());
}

TEST_CASE("HTTPCookieStorage replaces by name, domain and path, and drops expired cookies") {
  HTTPCookieStorage storage;
  storage.setCookie(named("a", "1"));
  storage.setCookie(named("a", "1", "example.com", "/other"));
  storage.setCookie(named("a", "1", ".example.com"));
  CHECK(storage.cookies().size() == 3);
  storage.setCookie(named("a", "2"));
  REQUIRE(storage.cookies().size() == 3);
  CHECK(storage.cookies()[0].value() == "2");  // in place: it keeps its age

  auto expired = made({{HTTPCookiePropertyKey::name, "a"}, {HTTPCookiePropertyKey::value, ""},
                       {HTTPCookiePropertyKey::domain, "example.com"}, {HTTPCookiePropertyKey::maximumAge, "0"}});
  storage.setCookie(expired);
  CHECK(storage.cookies().size() == 2);
  storage.deleteCookie(named("a", "whatever", ".example.com"));
  REQUIRE(storage.cookies().size() == 1);
  CHECK(storage.cookies()[0].path() == "/other");

  // Longer paths first.
  storage.setCookie(named("root", "r"));
  auto forPage = storage.cookies(URL("http://example.com/other/page"));
  REQUIRE(forPage.size() == 2);
  CHECK(forPage[0].path() == "/other");
  CHECK(forPage[1].name() == "root");

  const auto cut = std::chrono::system_clock::now();
  storage.setCookie(named("late", "l"));
  storage.removeCookies(cut);
  CHECK(storage.cookies().size() == 2);
}

TEST_CASE("accept policies") {
  using Policy = HTTPCookie::AcceptPolicy;
  auto api = named("a", "1", "api.example.com");
  auto wide = named("b", "1", ".example.com");
  const std::optional<URL> page = URL("https://example.com/index.html");
  CHECK(HTTPCookieStorage::accepts(Policy::always, api, page));
  CHECK_FALSE(HTTPCookieStorage::accepts(Policy::never, api, std::nullopt));
  CHECK(HTTPCookieStorage::accepts(Policy::onlyFromMainDocumentDomain, api, page));
  CHECK(HTTPCookieStorage::accepts(Policy::onlyFromMainDocumentDomain, wide, page));
  CHECK(HTTPCookieStorage::accepts(Policy::onlyFromMainDocumentDomain, wide, URL("https://www.example.com/")));
  CHECK_FALSE(HTTPCookieStorage::accepts(Policy::onlyFromMainDocumentDomain, api, URL("https://tracker.net/")));
  CHECK(HTTPCookieStorage::accepts(Policy::onlyFromMainDocumentDomain, api, std::nullopt));

  HTTPCookieStorage storage;
  storage.setCookieAcceptPolicy(Policy::onlyFromMainDocumentDomain);
  storage.setCookies({api, named("t", "1", "tracker.net")}, URL("https://api.example.com/"), page);
  REQUIRE(storage.cookies().size() == 1);
  CHECK(storage.cookies()[0].name() == "a");
}

TEST_CASE("cookie-file lines round-trip, and damaged ones are refused") {
  auto plain = named("a", "b c", "example.com", "/p");
  auto rich = made({{HTTPCookiePropertyKey::name, "id"}, {HTTPCookiePropertyKey::value, "x=y"},
                    {HTTPCookiePropertyKey::domain, ".example.com"}, {HTTPCookiePropertyKey::secure, "TRUE"},
                    {HTTPCookiePropertyKey::httpOnly, "TRUE"},
                    {HTTPCookiePropertyKey::expires, "Wed, 21 Oct 2037 07:28:00 GMT"}});
  CHECK(CookieJar::netscapeLine(plain) == "example.com\tFALSE\t/p\tFALSE\t0\ta\tb c");
  CHECK(CookieJar::netscapeLine(rich) == "#HttpOnly_.example.com\tTRUE\t/\tTRUE\t2139722880\tid\tx=y");
  CHECK(CookieJar::fromNetscapeLine(CookieJar::netscapeLine(plain)) == plain);
  CHECK(CookieJar::fromNetscapeLine(CookieJar::netscapeLine(rich)) == rich);
  CHECK(CookieJar::fromNetscapeLine("example.com\tTRUE\t/\tFALSE\t0\tn\tv")->domain() == ".example.com");
  CHECK_FALSE(CookieJar::fromNetscapeLine("example.com\tFALSE\t/\tFALSE\t0\tn"));
  CHECK_FALSE(CookieJar::fromNetscapeLine("example.com\tFALSE\t/\tFALSE\tsoon\tn\tv"));
  CHECK_FALSE(CookieJar::fromNetscapeLine("\tFALSE\t/\tFALSE\t0\tn\tv"));
  CHECK_FALSE(CookieJar::fromNetscapeLine(""));
}

TEST_CASE("HTTPCookie::cookies(responseHeaderFields, url) refuses a Domain that is a public suffix") {
  auto names = [](const std::vector<HTTPCookie>& cookies) {
    std::vector<std::string> out;
    for (const auto& c : cookies) out.push_back(c.name() + "@" + c.domain());
    return out;
  };
  // One Set-Cookie field per call: the fields of a map are one value each.
  auto parse = [&](const std::string& line, const char* url) {
    return names(HTTPCookie::cookies({{"Set-Cookie", line}}, URL(url)));
  };
  CHECK(parse("super=1; Domain=co.uk", "https://www.example.co.uk/").empty());
  CHECK(parse("super=1; Domain=.com", "https://example.com/").empty());
  CHECK(parse("pages=1; Domain=github.io", "https://someone.github.io/").empty());
  CHECK(parse("site=1; Domain=example.co.uk", "https://www.example.co.uk/") ==
        std::vector<std::string>{"site@.example.co.uk"});
  CHECK(parse("own=1; Domain=someone.github.io", "https://someone.github.io/") ==
        std::vector<std::string>{"own@.someone.github.io"});
  CHECK(parse("hostonly=1", "https://www.example.co.uk/") == std::vector<std::string>{"hostonly@www.example.co.uk"});
}

TEST_CASE("HTTPCookie::cookies(responseHeaderFields, url) parses Set-Cookie with the URL's defaults") {
  const URL url("https://shop.example.com/cart/items?x=1");
  auto cookies = HTTPCookie::cookies(
      {{"Content-Type", "text/html"},
       {"set-cookie", "a=1, b=2; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Secure; HttpOnly, "
                      "c=3; Domain=example.com, evil=4; Domain=other.net, d=5; Max-Age=0"}},
      url);
  REQUIRE(cookies.size() == 4);
  CHECK(cookies[0].name() == "a");
  CHECK(cookies[0].domain() == "shop.example.com");  // host-only
  CHECK(cookies[0].path() == "/cart");               // the URL's directory
  CHECK(cookies[0].isSessionOnly());
  CHECK(cookies[1].name() == "b");
  CHECK(cookies[1].path() == "/");
  REQUIRE(cookies[1].expiresDate());
  CHECK(std::chrono::system_clock::to_time_t(*cookies[1].expiresDate()) == 2139722880);
  CHECK(cookies[1].isSecure());
  CHECK(cookies[1].isHTTPOnly());
  CHECK(cookies[2].name() == "c");
  CHECK(cookies[2].domain() == ".example.com");
  CHECK(cookies[3].name() == "d");
  CHECK(cookies[3].isExpired());

  CHECK(HTTPCookie::cookies({{"Set-Cookie", "x=1"}}, URL("http://example.com"))[0].path() == "/");
  CHECK(HTTPCookie::cookies({{"Set-Cookie", "x=1"}}, URL("http://example.com/file"))[0].path() == "/");
  CHECK(HTTPCookie::cookies({{"Set-Cookie", "=; ;"}}, url).empty());
  CHECK(HTTPCookie::cookies({{"Location", "/"}}, url).empty());
}

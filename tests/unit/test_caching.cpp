// URLCache's storage rules (policies, capacities, eviction, disk) and the HTTP caching rules
// sessions judge stored responses by.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <foundation_net/HTTPURLResponse.hpp>
#include <foundation_net/URLCache.hpp>

#include "TempFolder.hpp"
#include "cache/HTTPCaching.hpp"
#include "model/Text.hpp"

using namespace foundation;
using fntest::TempFolder;
using foundation::text::httpDate;
namespace cache = foundation::detail::cache;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

std::shared_ptr<HTTPURLResponse> responseWith(Fields fields, int status = 200, std::string url = "http://example.com/a") {
  return std::make_shared<HTTPURLResponse>(URL(url), status, "HTTP/1.1", std::move(fields));
}

URLRequest requestFor(const std::string& url) { return URLRequest(URL(url)); }

CachedURLResponse cachedBody(std::size_t size, URLCache::StoragePolicy policy = URLCache::StoragePolicy::allowed) {
  return CachedURLResponse(responseWith({}), Data(std::string(size, 'x')), {}, policy);
}

cache::FieldLookup noFields() {
  return [](std::string_view) { return std::optional<std::string>(); };
}

URLCache::Entry entryOf(Fields fields, Date storedAt = std::chrono::system_clock::now()) {
  return URLCache::Entry{CachedURLResponse(responseWith(std::move(fields)), Data("body")), storedAt, {}, "http://example.com/a"};
}

}  // namespace

TEST_CASE("URLCache stores, replaces and removes responses by URL") {
  URLCache store(1'000'000, 0);
  const auto a = requestFor("http://example.com/a"), b = requestFor("http://example.com/b");
  CHECK_FALSE(store.cachedResponse(a));
  store.storeCachedResponse(CachedURLResponse(responseWith({}), Data("one")), a);
  store.storeCachedResponse(CachedURLResponse(responseWith({}), Data("two")), b);
  REQUIRE(store.cachedResponse(a));
  CHECK(store.cachedResponse(a)->data().view() == "one");
  store.storeCachedResponse(CachedURLResponse(responseWith({}), Data("three")), a);
  CHECK(store.cachedResponse(a)->data().view() == "three");
  CHECK(store.cachedResponse(requestFor("http://example.com/a#fragment"))->data().view() == "three");
  store.removeCachedResponse(a);
  CHECK_FALSE(store.cachedResponse(a));
  CHECK(store.cachedResponse(b));
  store.removeAllCachedResponses();
  CHECK_FALSE(store.cachedResponse(b));
  CHECK(store.currentMemoryUsage() == 0);
}

TEST_CASE("URLCache honours storage policies and the 5 % rule") {
  TempFolder folder("fntest-urlcache");
  const auto request = requestFor("http://example.com/p");
  {
    URLCache store(100'000, 1'000'000, folder.path().string());
    store.storeCachedResponse(cachedBody(10, URLCache::StoragePolicy::notAllowed), request);
    CHECK_FALSE(store.cachedResponse(request));
    store.storeCachedResponse(cachedBody(10, URLCache::StoragePolicy::allowedInMemoryOnly), request);
    CHECK(store.cachedResponse(request));
    store.flush();
    CHECK(store.currentDiskUsage() == 0);
    // 6,000 bytes: over 5 % of the memory capacity, within 5 % of the disk's.
    const auto large = requestFor("http://example.com/large");
    store.storeCachedResponse(cachedBody(6'000), large);
    CHECK(store.currentMemoryUsage() < 6'000);
    store.flush();
    CHECK(store.currentDiskUsage() > 6'000);
    CHECK(store.cachedResponse(large)->data().size() == 6'000);  // read back from disk
    // Over 5 % of both: kept nowhere.
    const auto huge = requestFor("http://example.com/huge");
    store.storeCachedResponse(cachedBody(60'000), huge);
    CHECK_FALSE(store.cachedResponse(huge));
  }
  URLCache reopened(100'000, 1'000'000, folder.path().string());
  CHECK_FALSE(reopened.cachedResponse(request));  // memory only, gone with its cache
  CHECK(reopened.cachedResponse(requestFor("http://example.com/large")));
  // The file and its WAL are the user's alone (responses may be anyone's data).
  for (const char* name : {"Cache.db", "Cache.db-wal"}) {
    REQUIRE(std::filesystem::exists(folder.path() / name));
    const auto permissions = std::filesystem::status(folder.path() / name).permissions() & std::filesystem::perms::all;
    CHECK_MESSAGE(permissions == (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write), name);
  }
}

TEST_CASE("URLCache evicts the least recently used responses beyond its capacities") {
  URLCache store(20'000, 0);
  for (int i = 0; i < 30; ++i) store.storeCachedResponse(cachedBody(900), requestFor("http://example.com/" + std::to_string(i)));
  CHECK(store.currentMemoryUsage() <= 20'000);
  CHECK_FALSE(store.cachedResponse(requestFor("http://example.com/0")));
  CHECK(store.cachedResponse(requestFor("http://example.com/29")));
  // A response used recently survives newer ones.
  REQUIRE(store.cachedResponse(requestFor("http://example.com/15")));
  for (int i = 30; i < 40; ++i) store.storeCachedResponse(cachedBody(900), requestFor("http://example.com/" + std::to_string(i)));
  CHECK(store.cachedResponse(requestFor("http://example.com/15")));
  CHECK_FALSE(store.cachedResponse(requestFor("http://example.com/16")));
  store.setMemoryCapacity(0);
  CHECK(store.currentMemoryUsage() == 0);
  CHECK_FALSE(store.cachedResponse(requestFor("http://example.com/39")));

  TempFolder folder("fntest-urlcache");
  URLCache disk(0, 40'000, folder.path().string());
  for (int i = 0; i < 40; ++i) disk.storeCachedResponse(cachedBody(1'500), requestFor("http://example.com/" + std::to_string(i)));
  disk.flush();
  CHECK(disk.currentDiskUsage() <= 40'000);
  CHECK_FALSE(disk.cachedResponse(requestFor("http://example.com/0")));
  CHECK(disk.cachedResponse(requestFor("http://example.com/39")));
  disk.setDiskCapacity(10'000);
  CHECK(disk.currentDiskUsage() <= 10'000);
  CHECK(disk.cachedResponse(requestFor("http://example.com/39")));
}

TEST_CASE("URLCache::removeCachedResponses(since:) removes what was stored from then on") {
  TempFolder folder("fntest-urlcache");
  URLCache store(1'000'000, 1'000'000, folder.path().string());
  store.storeCachedResponse(cachedBody(10), requestFor("http://example.com/old"));
  store.flush();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const auto since = std::chrono::system_clock::now();
  store.storeCachedResponse(cachedBody(10), requestFor("http://example.com/new"));
  store.removeCachedResponses(since);
  CHECK(store.cachedResponse(requestFor("http://example.com/old")));
  CHECK_FALSE(store.cachedResponse(requestFor("http://example.com/new")));
  store.flush();
  URLCache reopened(1'000'000, 1'000'000, folder.path().string());
  CHECK(reopened.cachedResponse(requestFor("http://example.com/old")));
  CHECK_FALSE(reopened.cachedResponse(requestFor("http://example.com/new")));
}

TEST_CASE("URLCache keeps working in memory when its disk cannot be used") {
  TempFolder folder("fntest-urlcache");
  SUBCASE("a directory that cannot be created") {
    std::ofstream(folder.path() / "file") << "x";
    URLCache store(1'000'000, 1'000'000, (folder.path() / "file" / "below").string());
    store.storeCachedResponse(cachedBody(10), requestFor("http://example.com/x"));
    store.flush();
    CHECK(store.cachedResponse(requestFor("http://example.com/x")));
    CHECK(store.currentDiskUsage() == 0);
  }
  SUBCASE("a Cache.db that is not a database") {
    std::ofstream(folder.path() / "Cache.db") << std::string(4096, 'g');
    URLCache store(1'000'000, 1'000'000, folder.path().string());
    CHECK_FALSE(store.cachedResponse(requestFor("http://example.com/x")));
    store.storeCachedResponse(cachedBody(10), requestFor("http://example.com/x"));
    store.flush();
    CHECK(store.cachedResponse(requestFor("http://example.com/x")));
  }
}

TEST_CASE("Cache-Control parsing") {
  auto control = cache::parseCacheControl("Max-Age=\"30\", no-cache, must-revalidate, private");
  CHECK(control.maxAge == 30);
  CHECK(control.noCache);
  CHECK(control.mustRevalidate);
  CHECK_FALSE(control.noStore);
  CHECK(cache::parseCacheControl("no-store").noStore);
  CHECK(cache::parseCacheControl("max-age=abc").maxAge == 0);  // unreadable: stale
  CHECK_FALSE(cache::parseCacheControl("").maxAge);
  CHECK(cache::parseCacheControl("max-age=99999999999999999999").maxAge > 0);
}

TEST_CASE("storable responses") {
  const auto get = requestFor("http://example.com/a");
  CHECK(cache::isStorable(get, *responseWith({})));
  CHECK(cache::isStorable(get, *responseWith({}, 204)));
  CHECK_FALSE(cache::isStorable(get, *responseWith({}, 206)));
  CHECK_FALSE(cache::isStorable(get, *responseWith({}, 301)));
  CHECK_FALSE(cache::isStorable(get, *responseWith({}, 500)));
  CHECK_FALSE(cache::isStorable(get, *responseWith({{"Cache-Control", "no-store"}})));
  CHECK_FALSE(cache::isStorable(get, *responseWith({{"Vary", "Accept, *"}})));
  auto post = get;
  post.httpMethod = "POST";
  CHECK_FALSE(cache::isStorable(post, *responseWith({})));
  CHECK(cache::invalidates(post, *responseWith({})));
  CHECK_FALSE(cache::invalidates(post, *responseWith({}, 500)));
  CHECK_FALSE(cache::invalidates(get, *responseWith({})));
}

TEST_CASE("freshness") {
  const auto now = std::chrono::system_clock::now();
  using std::chrono::seconds;
  CHECK(cache::isFresh(entryOf({{"Cache-Control", "max-age=60"}}, now - seconds(30)), noFields(), now));
  CHECK_FALSE(cache::isFresh(entryOf({{"Cache-Control", "max-age=60"}}, now - seconds(90)), noFields(), now));
  // Age counts: it arrived already 50 s old.
  CHECK_FALSE(cache::isFresh(entryOf({{"Cache-Control", "max-age=60"}, {"Age", "50"}}, now - seconds(20)), noFields(), now));
  // A Date in the past makes it older than its time here.
  CHECK_FALSE(cache::isFresh(entryOf({{"Cache-Control", "max-age=60"}, {"Date", httpDate(now - seconds(100))}}, now), noFields(), now));
  // Expires relative to Date.
  CHECK(cache::isFresh(entryOf({{"Date", httpDate(now)}, {"Expires", httpDate(now + seconds(120))}}, now), noFields(), now + seconds(60)));
  CHECK_FALSE(cache::isFresh(entryOf({{"Date", httpDate(now)}, {"Expires", httpDate(now + seconds(120))}}, now), noFields(), now + seconds(180)));
  // Heuristic: a tenth of the time since Last-Modified.
  const Fields modified{{"Date", httpDate(now)}, {"Last-Modified", httpDate(now - seconds(1000))}};
  CHECK(cache::isFresh(entryOf(modified, now), noFields(), now + seconds(90)));
  CHECK_FALSE(cache::isFresh(entryOf(modified, now), noFields(), now + seconds(110)));
  // Nothing to go by: stale.
  CHECK_FALSE(cache::isFresh(entryOf({}, now), noFields(), now));
  // no-cache on either side.
  CHECK_FALSE(cache::isFresh(entryOf({{"Cache-Control", "max-age=60, no-cache"}}, now), noFields(), now));
  auto asksMaxAge = [](std::string_view name) {
    return name == "Cache-Control" ? std::optional<std::string>("max-age=10") : std::nullopt;
  };
  CHECK_FALSE(cache::isFresh(entryOf({{"Cache-Control", "max-age=60"}}, now - seconds(20)), asksMaxAge, now));
  CHECK(cache::isFresh(entryOf({{"Cache-Control", "max-age=60"}}, now - seconds(5)), asksMaxAge, now));
}

TEST_CASE("revalidation fields and 304 updates") {
  auto stored = responseWith({{"ETag", "\"1\""}, {"Last-Modified", "Tue, 01 Jan 2019 00:00:00 GMT"},
                              {"Content-Length", "4"}, {"Content-Type", "text/plain"}, {"X-A", "old"}});
  CHECK(cache::conditionalFields(*stored) ==
        Fields{{"If-None-Match", "\"1\""}, {"If-Modified-Since", "Tue, 01 Jan 2019 00:00:00 GMT"}});
  CHECK(cache::conditionalFields(*responseWith({})).empty());
  auto notModified = responseWith({{"X-A", "new"}, {"X-B", "added"}, {"Content-Length", "0"}, {"Content-Type", "x/y"}}, 304);
  auto updated = cache::updatedBy(*stored, *notModified);
  CHECK(updated->statusCode() == 200);
  CHECK(updated->value("X-A") == "new");
  CHECK(updated->value("X-B") == "added");
  CHECK(updated->value("Content-Length") == "4");
  CHECK(updated->value("Content-Type") == "text/plain");
  CHECK(updated->value("ETag") == "\"1\"");
}

TEST_CASE("Vary fields are matched on the request's values") {
  auto response = responseWith({{"Vary", "Accept-Language, X-Mode"}});
  auto english = [](std::string_view name) {
    return name == "Accept-Language" ? std::optional<std::string>("en") : std::nullopt;
  };
  auto fields = cache::varyFields(*response, english);
  CHECK(fields == Fields{{"Accept-Language", "en"}, {"X-Mode", ""}});
  URLCache::Entry entry{CachedURLResponse(response, Data()), std::chrono::system_clock::now(), fields, "k"};
  CHECK(cache::varyMatches(entry, english));
  CHECK_FALSE(cache::varyMatches(entry, noFields()));
}

TEST_CASE("URLCache knows which keys its disk holds, so other lookups never read it") {
  TempFolder folder("fntest-urlcache");
  URLCache store(0, 1'000'000, folder.path().string());  // nothing in memory
  bool unknown = false;
  CHECK_FALSE(store.entryInMemory("http://example.com/stored", unknown));
  CHECK(unknown);  // the disk was never opened: it may hold anything
  store.storeCachedResponse(cachedBody(10), requestFor("http://example.com/stored"));
  store.flush();
  CHECK_FALSE(store.entryInMemory("http://example.com/stored", unknown));
  CHECK(unknown);  // on disk only
  CHECK(store.entry("http://example.com/stored"));
  CHECK_FALSE(store.entryInMemory("http://example.com/never", unknown));
  CHECK_FALSE(unknown);
  store.removeAllCachedResponses();
  CHECK_FALSE(store.entryInMemory("http://example.com/stored", unknown));
  CHECK_FALSE(unknown);
}

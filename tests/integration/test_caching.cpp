// URLCache and the cache policies: what sessions store, when a stored response answers a
// request without the network, how it is revalidated, and the willCacheResponse delegate call.
#include <doctest/doctest.h>

#include "Recorder.hpp"
#include "TempFolder.hpp"
#include "TestServer.hpp"

using namespace fntest;

namespace {

constexpr const char* kLastModified = "Tue, 01 Jan 2019 00:00:00 GMT";

// /r* answers with the body "v<version>" and the headers its query asks for: cc (Cache-Control),
// etag (an ETag naming the version), lm (a Last-Modified that changes with the version),
// expires, vary (with Vary: Accept-Language the body ends with the request's), pragma. A request whose validator matches the current version gets a 304
// (with "X-Checked: yes"); every answer carries X-Version.
struct CacheServer {
  TestServer server;
  std::atomic<int> version{1};
  CacheServer() {
    server.route("/r*", [this](const RecordedRequest& request, Responder& responder) {
      const std::string current = "v" + std::to_string(version.load());
      const std::string etag = "\"" + current + "\"";
      const std::string lastModified = version == 1 ? kLastModified : "Wed, 01 Jan 2020 00:00:00 GMT";
      HeaderList headers{{"X-Version", current}};
      auto has = [&](const char* key) { return request.query.count(key) > 0; };
      if (has("cc")) headers.emplace_back("Cache-Control", request.query.at("cc"));
      if (has("etag")) headers.emplace_back("ETag", etag);
      if (has("lm")) headers.emplace_back("Last-Modified", lastModified);
      if (has("expires")) headers.emplace_back("Expires", request.query.at("expires"));
      if (has("vary")) headers.emplace_back("Vary", request.query.at("vary"));
      if (has("pragma")) headers.emplace_back("Pragma", request.query.at("pragma"));
      const bool etagMatches = has("etag") && request.header("If-None-Match") == etag;
      const bool dateMatches = has("lm") && request.header("If-Modified-Since") == lastModified;
      if (etagMatches || dateMatches) {
        headers.emplace_back("X-Checked", "yes");
        responder.send(304, headers, "");
        return;
      }
      const bool byLanguage = has("vary") && request.query.at("vary") == "Accept-Language";
      responder.send(200, headers, current + (byLanguage ? " " + request.header("Accept-Language").value_or("-") : ""));
    });
  }
  std::string url(std::string_view query) const { return server.url(std::string("/r?") + std::string(query)); }
  // The requests that reached the server for `url`'s target.
  std::vector<RecordedRequest> requestsFor(const std::string& url) const {
    std::vector<RecordedRequest> found;
    const auto target = url.substr(url.find('/', std::string("http://").size()));
    for (auto& request : server.requests())
      if (request.target == target) found.push_back(request);
    return found;
  }
};

// A session of its own cache (memory only unless a directory is given).
std::shared_ptr<URLSession> sessionWith(std::shared_ptr<URLCache> cache,
                                        URLRequest::CachePolicy policy = URLRequest::CachePolicy::useProtocolCachePolicy) {
  auto configuration = URLSessionConfiguration::ephemeral();
  configuration.urlCache = std::move(cache);
  configuration.requestCachePolicy = policy;
  return URLSession::make(configuration);
}

std::shared_ptr<URLCache> memoryCache() { return std::make_shared<URLCache>(4'000'000, 0); }

URLRequest requestWith(const std::string& url, URLRequest::CachePolicy policy) {
  URLRequest request{URL(url)};
  request.cachePolicy = policy;
  return request;
}

struct Loaded {
  std::string body;
  int status = 0;
  std::optional<std::string> version, checked;
  std::optional<Error> error;
};

Loaded get(const std::shared_ptr<URLSession>& session, const URLRequest& request) {
  auto result = load(session, request);
  Loaded loaded;
  loaded.error = result.error;
  if (result.data) loaded.body = std::string(result.data->view());
  loaded.status = statusOf(result.response);
  if (auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(result.response)) {
    loaded.version = http->value("X-Version");
    loaded.checked = http->value("X-Checked");
  }
  return loaded;
}

Loaded get(const std::shared_ptr<URLSession>& session, const std::string& url) { return get(session, URLRequest(URL(url))); }

// Records willCacheResponse among the events and answers with `answer(proposal)`.
class CachingRecorder : public Recorder {
 public:
  std::function<std::optional<CachedURLResponse>(const CachedURLResponse&)> answer =
      [](const CachedURLResponse& proposal) { return std::optional(proposal); };
  std::vector<std::string> offered;  // the proposals' bodies
  void willCacheResponse(URLSession&, URLSessionDataTask& task, const CachedURLResponse& proposal,
                         std::function<void(std::optional<CachedURLResponse>)> handler) override {
    const auto seen = events(task.taskIdentifier()).size();
    {
      std::lock_guard lock(mutex);
      offered.emplace_back(proposal.data().view());
      cacheEvents[task.taskIdentifier()] = seen;
    }
    handler(answer(proposal));
  }
  // How many events the task had recorded when willCacheResponse came.
  std::map<std::uint64_t, std::size_t> cacheEvents;
  std::mutex mutex;
};

}  // namespace

TEST_CASE("a fresh response answers the next request without the network") {
  CacheServer server;
  auto cache = memoryCache();
  auto session = sessionWith(cache);
  const auto url = server.url("cc=max-age%3D60");
  auto first = get(session, url);
  REQUIRE_FALSE(first.error);
  CHECK(first.body == "v1");
  server.version = 2;
  auto second = get(session, url);
  REQUIRE_FALSE(second.error);
  CHECK(second.status == 200);
  CHECK(second.body == "v1");  // the stored response, not the server's new one
  CHECK(second.version == "v1");
  CHECK(server.requestsFor(url).size() == 1);
  // The cache itself hands the same response out.
  auto stored = cache->cachedResponse(URLRequest(URL(url)));
  REQUIRE(stored);
  CHECK(stored->data().view() == "v1");
  CHECK(cache->currentMemoryUsage() > 0);
  // A URL differing only in its fragment is the same entry.
  CHECK(get(session, url + "#part").body == "v1");
  CHECK(server.requestsFor(url).size() == 1);
  session->invalidateAndCancel();
}

TEST_CASE("a delegate sees a response from the cache as from the network, with localCache metrics") {
  CacheServer server;
  auto recorder = std::make_shared<CachingRecorder>();
  auto configuration = URLSessionConfiguration::ephemeral();
  configuration.urlCache = memoryCache();
  auto session = URLSession::make(configuration, recorder);
  const auto url = server.url("cc=max-age%3D60&d=1");
  auto first = session->dataTask(URL(url));
  first->resume();
  REQUIRE(recorder->waitForCompletions(1));
  // willCacheResponse after the body, before the metrics and the completion.
  const std::vector<std::string> stored{"didCreateTask", "didReceiveResponse", "didReceiveData",
                                        "didFinishCollectingMetrics", "didCompleteWithError"};
  CHECK(recorder->events(first->taskIdentifier()) == stored);
  CHECK(recorder->cacheEvents[first->taskIdentifier()] == 3);
  auto second = session->dataTask(URL(url));
  second->resume();
  REQUIRE(recorder->waitForCompletions(2));
  CHECK(recorder->events(second->taskIdentifier()) == stored);
  CHECK(recorder->cacheEvents.count(second->taskIdentifier()) == 0);  // a cached response is not offered again
  CHECK(recorder->body(second->taskIdentifier()) == "v1");
  CHECK_FALSE(recorder->completion(second->taskIdentifier()).error);
  CHECK(statusOf(second->response()) == 200);
  auto metrics = recorder->metrics(second->taskIdentifier());
  REQUIRE(metrics);
  REQUIRE(metrics->transactionMetrics.size() == 1);
  CHECK(metrics->transactionMetrics[0].resourceFetchType == URLSessionTaskTransactionMetrics::ResourceFetchType::localCache);
  auto firstMetrics = recorder->metrics(first->taskIdentifier());
  REQUIRE(firstMetrics);
  REQUIRE_FALSE(firstMetrics->transactionMetrics.empty());
  CHECK(firstMetrics->transactionMetrics.back().resourceFetchType !=
        URLSessionTaskTransactionMetrics::ResourceFetchType::localCache);
  CHECK(server.requestsFor(url).size() == 1);
  CHECK(recorder->overlaps() == 0);
  session->invalidateAndCancel();
}

TEST_CASE("willCacheResponse decides what is stored") {
  CacheServer server;
  auto cache = memoryCache();
  auto recorder = std::make_shared<CachingRecorder>();
  auto configuration = URLSessionConfiguration::ephemeral();
  configuration.urlCache = cache;
  auto session = URLSession::make(configuration, recorder);
  auto run = [&](const std::string& url) {
    const auto before = recorder->completionCount();
    session->dataTask(URL(url))->resume();
    REQUIRE(recorder->waitForCompletions(before + 1));
  };

  SUBCASE("nullopt stores nothing") {
    recorder->answer = [](const CachedURLResponse&) { return std::nullopt; };
    const auto url = server.url("cc=max-age%3D60&refuse=1");
    run(url);
    CHECK_FALSE(cache->cachedResponse(URLRequest(URL(url))));
    run(url);
    CHECK(server.requestsFor(url).size() == 2);
    CHECK(recorder->offered == std::vector<std::string>{"v1", "v1"});
  }
  SUBCASE("a changed response is stored as changed") {
    recorder->answer = [](const CachedURLResponse& proposal) {
      return std::optional(CachedURLResponse(proposal.response(), Data("changed"), {{"note", "mine"}}));
    };
    const auto url = server.url("cc=max-age%3D60&change=1");
    run(url);
    auto stored = cache->cachedResponse(URLRequest(URL(url)));
    REQUIRE(stored);
    CHECK(stored->data().view() == "changed");
    CHECK(stored->userInfo().at("note") == "mine");
    CHECK(get(session, url).body == "changed");
  }
  SUBCASE("a task with a completion handler stores without asking") {
    const auto url = server.url("cc=max-age%3D60&handler=1");
    CHECK(get(session, url).body == "v1");
    CHECK(recorder->offered.empty());
    CHECK(cache->cachedResponse(URLRequest(URL(url))));
  }
  session->invalidateAndCancel();
}

TEST_CASE("responses that may not be stored are not") {
  CacheServer server;
  auto cache = memoryCache();
  auto session = sessionWith(cache);
  for (const char* query : {"cc=no-store", "cc=max-age%3D60%2C%20no-store", "cc=max-age%3D60&vary=*"}) {
    CAPTURE(query);
    const auto url = server.url(query);
    CHECK(get(session, url).body == "v1");
    CHECK(get(session, url).body == "v1");
    CHECK(server.requestsFor(url).size() == 2);
    CHECK_FALSE(cache->cachedResponse(URLRequest(URL(url))));
  }
  // Not a 2xx: a 404 and a redirect's 302 are not kept.
  const auto missing = server.server.url("/status/404");
  get(session, missing);
  CHECK_FALSE(cache->cachedResponse(URLRequest(URL(missing))));
  // A request that says no-store is neither answered from nor stored in the cache.
  const auto url = server.url("cc=max-age%3D60&own=1");
  URLRequest noStore{URL(url)};
  noStore.setValue("no-store", "Cache-Control");
  get(session, noStore);
  CHECK_FALSE(cache->cachedResponse(URLRequest(URL(url))));
  // A body larger than 5 % of the cache's capacity is not kept.
  auto small = std::make_shared<URLCache>(10'000, 0);
  auto smallSession = sessionWith(small);
  const auto large = server.server.url("/bytes?n=600");
  get(smallSession, large);
  CHECK_FALSE(small->cachedResponse(URLRequest(URL(large))));
  session->invalidateAndCancel();
  smallSession->invalidateAndCancel();
}

TEST_CASE("a stale response with a validator is revalidated; a 304 brings it up to date") {
  CacheServer server;
  auto cache = memoryCache();
  auto session = sessionWith(cache);

  SUBCASE("ETag") {
    const auto url = server.url("etag=1&cc=max-age%3D0");
    CHECK(get(session, url).body == "v1");
    auto second = get(session, url);
    CHECK(second.status == 200);  // the task sees the stored 200, not the 304
    CHECK(second.body == "v1");
    CHECK(second.checked == "yes");  // with the 304's fields
    auto sent = server.requestsFor(url);
    REQUIRE(sent.size() == 2);
    CHECK_FALSE(sent[0].header("If-None-Match"));
    CHECK(sent[1].header("If-None-Match") == "\"v1\"");
    // The stored response got the 304's fields too.
    auto stored = cache->cachedResponse(URLRequest(URL(url)));
    REQUIRE(stored);
    CHECK(std::dynamic_pointer_cast<const HTTPURLResponse>(stored->response())->value("X-Checked") == "yes");
    // A changed resource: the new response replaces the stored one.
    server.version = 2;
    auto third = get(session, url);
    CHECK(third.body == "v2");
    CHECK_FALSE(third.checked);
    CHECK(cache->cachedResponse(URLRequest(URL(url)))->data().view() == "v2");
    CHECK(server.requestsFor(url).back().header("If-None-Match") == "\"v1\"");
    get(session, url);
    CHECK(server.requestsFor(url).back().header("If-None-Match") == "\"v2\"");
  }
  SUBCASE("Last-Modified, and no-cache") {
    const auto url = server.url("lm=1&cc=no-cache");
    CHECK(get(session, url).body == "v1");
    CHECK(get(session, url).checked == "yes");
    CHECK(get(session, url).checked == "yes");  // no-cache: asked every time
    auto sent = server.requestsFor(url);
    REQUIRE(sent.size() == 3);
    CHECK(sent[2].header("If-Modified-Since") == kLastModified);
  }
  SUBCASE("a stale response without a validator is loaded again") {
    const auto url = server.url("cc=max-age%3D0&plain=1");
    get(session, url);
    get(session, url);
    auto sent = server.requestsFor(url);
    REQUIRE(sent.size() == 2);
    CHECK_FALSE(sent[1].header("If-None-Match"));
    CHECK_FALSE(sent[1].header("If-Modified-Since"));
  }
  SUBCASE("a delegate task revalidates too") {
    auto recorder = std::make_shared<CachingRecorder>();
    auto configuration = URLSessionConfiguration::ephemeral();
    configuration.urlCache = cache;
    auto delegated = URLSession::make(configuration, recorder);
    const auto url = server.url("etag=1&cc=max-age%3D0&delegate=1");
    delegated->dataTask(URL(url))->resume();
    REQUIRE(recorder->waitForCompletions(1));
    auto task = delegated->dataTask(URL(url));
    task->resume();
    REQUIRE(recorder->waitForCompletions(2));
    CHECK(recorder->body(task->taskIdentifier()) == "v1");
    CHECK(statusOf(task->response()) == 200);
    CHECK(recorder->events(task->taskIdentifier()) ==
          std::vector<std::string>{"didCreateTask", "didReceiveResponse", "didReceiveData", "didFinishCollectingMetrics",
                                   "didCompleteWithError"});
    CHECK(recorder->offered.size() == 1);  // the revalidated response is not offered again
    delegated->invalidateAndCancel();
  }
  session->invalidateAndCancel();
}

TEST_CASE("freshness: Expires, heuristic Last-Modified, and the request's own Cache-Control") {
  CacheServer server;
  auto session = sessionWith(memoryCache());
  auto countAfterTwo = [&](const std::string& url, const URLRequest& second) {
    get(session, url);
    get(session, second);
    return server.requestsFor(url).size();
  };
  const auto future = server.url("expires=Thu%2C%2001%20Jan%202099%2000%3A00%3A00%20GMT");
  CHECK(countAfterTwo(future, URLRequest(URL(future))) == 1);
  const auto past = server.url("expires=Thu%2C%2001%20Jan%202004%2000%3A00%3A00%20GMT");
  CHECK(countAfterTwo(past, URLRequest(URL(past))) == 2);
  const auto garbage = server.url("expires=0");
  CHECK(countAfterTwo(garbage, URLRequest(URL(garbage))) == 2);
  // Modified years ago: fresh for 10 % of that age (at most a week) without being asked.
  const auto heuristic = server.url("lm=1");
  CHECK(countAfterTwo(heuristic, URLRequest(URL(heuristic))) == 1);
  // max-age wins over Expires.
  const auto both = server.url("cc=max-age%3D0&expires=Thu%2C%2001%20Jan%202099%2000%3A00%3A00%20GMT");
  CHECK(countAfterTwo(both, URLRequest(URL(both))) == 2);
  // A request asking for a fresh answer bypasses a fresh stored one.
  const auto fresh = server.url("cc=max-age%3D60&ask=1");
  URLRequest noCache{URL(fresh)};
  noCache.setValue("no-cache", "Cache-Control");
  CHECK(countAfterTwo(fresh, noCache) == 2);
  const auto pragma = server.url("cc=max-age%3D60&ask=2");
  URLRequest pragmaNoCache{URL(pragma)};
  pragmaNoCache.setValue("no-cache", "Pragma");
  CHECK(countAfterTwo(pragma, pragmaNoCache) == 2);
  session->invalidateAndCancel();
}

TEST_CASE("cache policies: the request's, else the configuration's") {
  CacheServer server;
  auto cache = memoryCache();
  auto session = sessionWith(cache);
  using Policy = URLRequest::CachePolicy;

  SUBCASE("reloadIgnoringLocalCacheData loads, and stores what it loads") {
    const auto url = server.url("cc=max-age%3D60&p=1");
    get(session, url);
    server.version = 2;
    CHECK(get(session, requestWith(url, Policy::reloadIgnoringLocalCacheData)).body == "v2");
    CHECK(get(session, url).body == "v2");
    CHECK(server.requestsFor(url).size() == 2);
  }
  SUBCASE("reloadIgnoringLocalAndRemoteCacheData tells intermediaries too") {
    const auto url = server.url("cc=max-age%3D60&p=4");
    get(session, url);
    get(session, requestWith(url, Policy::reloadIgnoringLocalAndRemoteCacheData));
    auto sent = server.requestsFor(url);
    REQUIRE(sent.size() == 2);
    CHECK(sent[1].header("Cache-Control") == "no-cache");
    CHECK(sent[1].header("Pragma") == "no-cache");
  }
  SUBCASE("returnCacheDataElseLoad uses a stale response, and loads when there is none") {
    const auto url = server.url("cc=max-age%3D0&p=2");
    CHECK(get(session, requestWith(url, Policy::returnCacheDataElseLoad)).body == "v1");
    server.version = 2;
    CHECK(get(session, requestWith(url, Policy::returnCacheDataElseLoad)).body == "v1");
    CHECK(server.requestsFor(url).size() == 1);
  }
  SUBCASE("returnCacheDataDontLoad: the stored response, or NSURLErrorCannotLoadFromNetwork without the network") {
    const auto missing = server.url("p=3&missing=1");
    auto failed = get(session, requestWith(missing, Policy::returnCacheDataDontLoad));
    REQUIRE(failed.error);
    CHECK(failed.error->code == URLError::cannotLoadFromNetwork);
    CHECK(failed.error->failingURL == URL(missing));
    CHECK(server.requestsFor(missing).empty());
    const auto url = server.url("cc=no-cache&p=3");
    get(session, url);
    server.version = 2;
    CHECK(get(session, requestWith(url, Policy::returnCacheDataDontLoad)).body == "v1");
    CHECK(server.requestsFor(url).size() == 1);
  }
  SUBCASE("reloadRevalidatingCacheData asks even when the stored response is fresh") {
    const auto url = server.url("cc=max-age%3D60&etag=1&p=5");
    get(session, url);
    auto revalidated = get(session, requestWith(url, Policy::reloadRevalidatingCacheData));
    CHECK(revalidated.body == "v1");
    CHECK(revalidated.checked == "yes");
    CHECK(server.requestsFor(url).size() == 2);
  }
  SUBCASE("the configuration's policy applies to requests that keep the default") {
    auto offline = sessionWith(cache, Policy::returnCacheDataDontLoad);
    const auto url = server.url("cc=max-age%3D0&p=6");
    auto failed = get(offline, url);
    REQUIRE(failed.error);
    CHECK(failed.error->code == URLError::cannotLoadFromNetwork);
    get(session, url);  // stored through the other session, same cache
    CHECK(get(offline, url).body == "v1");
    // The request's own policy wins over the configuration's.
    server.version = 2;
    CHECK(get(offline, requestWith(url, Policy::reloadIgnoringLocalCacheData)).body == "v2");
    offline->invalidateAndCancel();
  }
  session->invalidateAndCancel();
}

TEST_CASE("Vary: a stored response answers only requests with the same values of the fields it names") {
  CacheServer server;
  auto cache = memoryCache();
  auto session = sessionWith(cache);
  const auto url = server.url("cc=max-age%3D60&vary=Accept-Language");
  URLRequest english{URL(url)};
  english.setValue("en", "Accept-Language");
  URLRequest french{URL(url)};
  french.setValue("fr", "Accept-Language");
  CHECK(get(session, english).body == "v1 en");
  CHECK(get(session, english).body == "v1 en");
  CHECK(server.requestsFor(url).size() == 1);
  CHECK(get(session, french).body == "v1 fr");
  CHECK(server.requestsFor(url).size() == 2);
  CHECK_FALSE(cache->cachedResponse(URLRequest(URL(url))));  // no Accept-Language: not the stored one
  CHECK(cache->cachedResponse(french));
  session->invalidateAndCancel();
}

TEST_CASE("a successful unsafe request makes the stored response for its URL out of date") {
  CacheServer server;
  auto cache = memoryCache();
  auto session = sessionWith(cache);
  const auto url = server.url("cc=max-age%3D60&unsafe=1");
  get(session, url);
  REQUIRE(cache->cachedResponse(URLRequest(URL(url))));
  URLRequest post{URL(url)};
  post.httpMethod = "POST";
  post.httpBody = Data("x");
  CHECK(get(session, post).status == 200);
  CHECK_FALSE(cache->cachedResponse(URLRequest(URL(url))));
  get(session, url);
  CHECK(server.requestsFor(url).size() == 3);
  session->invalidateAndCancel();
}

TEST_CASE("a redirect's target is cached, the redirect itself is not") {
  CacheServer server;
  auto cache = memoryCache();
  auto session = sessionWith(cache);
  const auto target = server.url("cc=max-age%3D60&target=1");
  server.server.route("/hop", [&](const RecordedRequest&, Responder& responder) {
    responder.send(302, {{"Location", target}}, "");
  });
  const auto hop = server.server.url("/hop");
  CHECK(get(session, hop).body == "v1");
  CHECK(get(session, hop).body == "v1");
  CHECK(server.requestsFor(hop).size() == 2);
  CHECK(server.requestsFor(target).size() == 1);
  session->invalidateAndCancel();
}

TEST_CASE("sessions: default ones share URLCache::shared(), ephemeral ones keep their own, reset empties it") {
  CacheServer server;
  CHECK(URLSessionConfiguration::defaultConfiguration().urlCache == URLCache::shared());
  auto first = URLSessionConfiguration::ephemeral().urlCache;
  auto second = URLSessionConfiguration::ephemeral().urlCache;
  REQUIRE(first);
  CHECK(first != second);
  CHECK(first->diskCapacity() == 0);
  CHECK_FALSE(URLSessionConfiguration::background("fntest.caching").urlCache);

  auto ephemeral = URLSession::make(URLSessionConfiguration::ephemeral());
  auto other = URLSession::make(URLSessionConfiguration::ephemeral());
  const auto url = server.url("cc=max-age%3D60&sessions=1");
  get(ephemeral, url);
  get(other, url);
  CHECK(server.requestsFor(url).size() == 2);  // nothing shared between ephemeral sessions
  get(ephemeral, url);
  CHECK(server.requestsFor(url).size() == 2);

  Awaited<bool> reset;
  ephemeral->reset([&] { reset.set(true); });
  REQUIRE(reset.wait());
  get(ephemeral, url);
  CHECK(server.requestsFor(url).size() == 3);
  ephemeral->invalidateAndCancel();
  other->invalidateAndCancel();
}

TEST_CASE("a stored response on disk outlives its cache object, and is read without blocking the network thread") {
  CacheServer server;
  TempFolder folder("fntest-cache");
  const auto url = server.url("cc=max-age%3D600&disk=1");
  {
    auto cache = std::make_shared<URLCache>(4'000'000, 20'000'000, folder.path().string());
    auto session = sessionWith(cache);
    CHECK(get(session, url).body == "v1");
    cache->flush();
    session->invalidateAndCancel();
  }
  CHECK(std::filesystem::exists(folder.path() / "Cache.db"));
  auto reopened = std::make_shared<URLCache>(4'000'000, 20'000'000, folder.path().string());
  CHECK(reopened->currentMemoryUsage() == 0);
  CHECK(reopened->currentDiskUsage() > 0);
  auto session = sessionWith(reopened);
  server.version = 2;
  auto loaded = get(session, url);
  CHECK(loaded.body == "v1");
  CHECK(loaded.version == "v1");
  CHECK(server.requestsFor(url).size() == 1);
  // Read once from disk, then kept in memory.
  CHECK(reopened->currentMemoryUsage() > 0);
  session->invalidateAndCancel();
}

TEST_CASE("a cache being destroyed writes what waited to go to disk") {
  TempFolder folder("fntest-cache");
  const URLRequest request{URL("http://example.invalid/stored")};
  auto response = std::make_shared<HTTPURLResponse>(*request.url, 200, "HTTP/1.1",
                                                    std::vector<std::pair<std::string, std::string>>{{"ETag", "\"a\""}});
  {
    URLCache cache(4'000'000, 20'000'000, folder.path().string());
    cache.storeCachedResponse(CachedURLResponse(response, Data("kept"), {{"k", "v"}}), request);
  }
  URLCache reopened(4'000'000, 20'000'000, folder.path().string());
  auto stored = reopened.cachedResponse(request);
  REQUIRE(stored);
  CHECK(stored->data().view() == "kept");
  CHECK(stored->userInfo().at("k") == "v");
  auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(stored->response());
  REQUIRE(http);
  CHECK(http->statusCode() == 200);
  CHECK(http->value("ETag") == "\"a\"");
  CHECK(stored->response()->url() == request.url);
}

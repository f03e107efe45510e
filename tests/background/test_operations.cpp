// Restartable operations (Uploader, Downloader) against a real urlsessiond: results sorted into
// NetworkResponse, identifiers re-attached instead of started twice, results that finished
// while the app was away handed to the next launch that re-issues them, and the coroutine form.
#include <doctest/doctest.h>

#include <ctime>

#include "BackgroundFixture.hpp"
#include "Files.hpp"

#include <foundation_net/foundation_net.hpp>

using namespace fntest;
using namespace foundation;

namespace {

std::string contentsOf(const fs::path& path) { return fileContents(path); }

// Collects the results handed to completion handlers.
class Results {
 public:
  Downloader::Handler handler() {
    return [this](const std::string& identifier, NetworkResponse response) {
      std::lock_guard lock(mutex_);
      received_.emplace_back(identifier, std::move(response));
      changed_.notify_all();
    };
  }
  bool waitFor(std::size_t count, std::chrono::milliseconds limit = 20s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return received_.size() >= count; });
  }
  NetworkResponse of(const std::string& identifier) {
    std::lock_guard lock(mutex_);
    for (const auto& [id, response] : received_)
      if (id == identifier) return response;
    throw std::runtime_error("no result for " + identifier);
  }
  std::size_t count(const std::string& identifier) {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(
        std::count_if(received_.begin(), received_.end(), [&](const auto& entry) { return entry.first == identifier; }));
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::pair<std::string, NetworkResponse>> received_;
};

std::size_t requestsTo(BackgroundEnvironment& env, const std::string& path) {
  std::size_t n = 0;
  for (const auto& r : env.server.requests()) n += r.path == path;
  return n;
}

bool waitUntil(const std::function<bool()>& condition, std::chrono::milliseconds limit = 20s) {
  for (auto deadline = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < deadline;) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

// An IMF-fixdate, as a server writes it in Retry-After.
std::string httpDate(Date date) {
  std::time_t t = std::chrono::system_clock::to_time_t(date);
  std::tm utc{};
  ::gmtime_r(&t, &utc);
  char text[64];
  std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return text;
}

std::string queryEscaped(const std::string& value) {
  std::string out;
  for (char c : value) out += c == ' ' ? "%20" : c == ',' ? "%2C" : std::string(1, c);
  return out;
}

HTTPURLResponse responseWith(int status, std::vector<std::pair<std::string, std::string>> headers = {}) {
  return HTTPURLResponse(URL("http://example.com/x"), status, "HTTP/1.1", std::move(headers));
}

}  // namespace

TEST_CASE("NetworkResponse sorts statuses as the Background library does") {
  using Kind = NetworkResponse::Kind;
  for (int status : {200, 201, 202, 204}) CHECK(NetworkResponse::kindForStatus(status) == Kind::success);
  for (int status : {408, 429, 500, 502, 503, 504}) CHECK(NetworkResponse::kindForStatus(status) == Kind::retry);
  for (int status : {203, 206, 301, 304, 400, 401, 403, 404, 409, 410, 501, 505}) CHECK(NetworkResponse::kindForStatus(status) == Kind::rejected);
  CHECK(NetworkResponse::kindForStatus(101) == Kind::failed);

  auto ok = std::make_shared<HTTPURLResponse>(responseWith(200));
  CHECK(NetworkResponse::from(ok, std::nullopt).isSuccess());
  // A download that succeeded without its file did not succeed.
  auto noFile = NetworkResponse::from(ok, std::nullopt, std::nullopt, std::nullopt, true);
  CHECK(noFile.kind() == Kind::failed);
  REQUIRE(noFile.error());
  CHECK(noFile.error()->code == URLError::cannotOpenFile);
  // An error wins over any status; the response stays.
  auto lost = NetworkResponse::from(ok, Error::url(URLError::networkConnectionLost));
  CHECK(lost.kind() == Kind::failed);
  CHECK(lost.error()->code == URLError::networkConnectionLost);
  CHECK(lost.statusCode() == 200);
  auto nothing = NetworkResponse::from(nullptr, std::nullopt);
  CHECK(nothing.kind() == Kind::failed);
  CHECK(nothing.error()->code == URLError::unknown);
  auto informational = NetworkResponse::from(std::make_shared<HTTPURLResponse>(responseWith(101)), std::nullopt);
  CHECK(informational.error()->code == URLError::badServerResponse);
  CHECK(NetworkResponse::from(std::make_shared<HTTPURLResponse>(responseWith(404)), std::nullopt).description() == "rejected (404)");
}

TEST_CASE("Retry-After: delta-seconds and the three HTTP-date forms") {
  const Date now = std::chrono::sys_days(std::chrono::year(1994) / 11 / 6) + std::chrono::hours(8) + std::chrono::minutes(49);
  auto after = [&](std::string value) {
    return NetworkResponse::retryAfterInterval(responseWith(503, {{"Retry-After", std::move(value)}}), now);
  };
  CHECK(after("7") == 7.0);
  CHECK(after(" 120 ") == 120.0);
  CHECK(after("Sun, 06 Nov 1994 08:49:37 GMT") == 37.0);
  CHECK(after("Sunday, 06-Nov-94 08:49:37 GMT") == 37.0);
  CHECK(after("Sun Nov  6 08:49:37 1994") == 37.0);
  CHECK(after("Sun, 06 Nov 1994 08:48:00 GMT") == 0.0);  // already past: go now
  CHECK_FALSE(after("soon"));
  CHECK_FALSE(after("-5"));
  CHECK_FALSE(after("Sun, 31 Feb 1994 08:49:37 GMT"));
  CHECK_FALSE(after("Sun, 06 Nov 1994 08:49:37 GMT trailing"));
  CHECK_FALSE(NetworkResponse::retryAfterInterval(responseWith(503), now));
}

TEST_CASE("Downloader: the exact bytes, moved to the caller's destination or the kept-files folder") {
  BackgroundEnvironment env;
  Downloader downloader(URLSessionConfiguration::background("ops-download"), nullptr, (env.root / "ops").string());
  CHECK_THROWS_AS(Downloader(URLSessionConfiguration::defaultConfiguration()), std::invalid_argument);
  Results results;
  const fs::path destination = env.root / "out" / "report.bin";
  downloader.beginDownload(URLRequest(URL(env.server.url("/bytes?n=300000"))), "report", results.handler(),
                           URL::fileURLWithPath(destination.string()));
  downloader.beginDownload(URLRequest(URL(env.server.url("/bytes?n=5000"))), "small/one", results.handler());
  REQUIRE(results.waitFor(2));

  auto report = results.of("report");
  CHECK(report.kind() == NetworkResponse::Kind::success);
  CHECK(report.statusCode() == 200);
  REQUIRE(report.file());
  CHECK(fs::path(report.file()->path()) == destination);
  CHECK(contentsOf(destination) == pattern(0, 300000));

  auto small = results.of("small/one");
  REQUIRE(small.file());
  CHECK(fs::path(small.file()->path()).parent_path() == fs::path(downloader.folder()) / "files");
  CHECK(contentsOf(small.file()->path()) == pattern(0, 5000));
  CHECK(downloader.heldIdentifiers().empty());
  CHECK_FALSE(downloader.handleBackgroundEvents("another-session", [] {}));
}

TEST_CASE("Uploader: the server gets the exact bytes; 201 is a success with the server's answer") {
  BackgroundEnvironment env;
  env.server.route("/sink", [](const RecordedRequest& request, Responder& out) {
    const bool exact = request.body == pattern(0, request.body.size());
    out.send(201, {{"Content-Type", "text/plain"}}, (exact ? "exact " : "corrupt ") + std::to_string(request.body.size()));
  });
  const fs::path file = env.root / "upload.bin";
  std::ofstream(file, std::ios::binary) << pattern(0, 300000);
  Uploader uploader(URLSessionConfiguration::background("ops-upload"), nullptr, (env.root / "ops").string());
  Results results;
  URLRequest request(URL(env.server.url("/sink")));
  request.httpMethod = "POST";
  uploader.beginUpload(URL::fileURLWithPath(file.string()), request, "photo", results.handler());
  REQUIRE(results.waitFor(1));
  auto photo = results.of("photo");
  CHECK(photo.kind() == NetworkResponse::Kind::success);
  CHECK(photo.statusCode() == 201);
  REQUIRE(photo.body());
  CHECK(photo.body()->view() == "exact 300000");
  CHECK(requestsTo(env, "/sink") == 1);
}

TEST_CASE("Downloader: rejected, retry with Retry-After seconds or an HTTP-date, 201 success") {
  BackgroundEnvironment env;
  Downloader downloader(URLSessionConfiguration::background("ops-status"), nullptr, (env.root / "ops").string());
  Results results;
  const auto retryDate = httpDate(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto issue = [&](const std::string& path, const std::string& identifier) {
    downloader.beginDownload(URLRequest(URL(env.server.url(path))), identifier, results.handler());
  };
  issue("/status/201", "created");
  issue("/status/404", "missing");
  issue("/status/503?retry_after=7", "busy");
  issue("/status/429?retry_after=" + queryEscaped(retryDate), "limited");
  issue("/status/408", "slow");
  REQUIRE(results.waitFor(5));

  auto created = results.of("created");
  CHECK(created.kind() == NetworkResponse::Kind::success);
  REQUIRE(created.file());
  CHECK(contentsOf(created.file()->path()) == "status 201");

  auto missing = results.of("missing");
  CHECK(missing.kind() == NetworkResponse::Kind::rejected);
  CHECK(missing.statusCode() == 404);
  CHECK_FALSE(missing.file());

  auto busy = results.of("busy");
  CHECK(busy.kind() == NetworkResponse::Kind::retry);
  CHECK(busy.statusCode() == 503);
  CHECK(busy.retryAfter() == 7.0);

  auto limited = results.of("limited");
  CHECK(limited.kind() == NetworkResponse::Kind::retry);
  CHECK(limited.statusCode() == 429);
  REQUIRE(limited.retryAfter());
  CHECK(*limited.retryAfter() > 15.0);  // 30 s from when the test began, less the time it took
  CHECK(*limited.retryAfter() <= 30.0);

  auto slow = results.of("slow");
  CHECK(slow.kind() == NetworkResponse::Kind::retry);
  CHECK_FALSE(slow.retryAfter());
}

TEST_CASE("Downloader: failed with the error once the background retries run out") {
  BackgroundEnvironment env;
  auto configuration = URLSessionConfiguration::background("ops-refused");
  configuration.timeoutIntervalForResource = 1.5;
  Downloader downloader(configuration, nullptr, (env.root / "ops").string());
  Results results;
  const std::string url = "http://127.0.0.1:" + std::to_string(closedPort()) + "/nothing";
  downloader.beginDownload(URLRequest(URL(url)), "refused", results.handler());
  REQUIRE(results.waitFor(1));
  auto refused = results.of("refused");
  CHECK(refused.kind() == NetworkResponse::Kind::failed);
  REQUIRE(refused.error());
  CHECK(refused.error()->code == URLError::cannotConnectToHost);
  CHECK_FALSE(refused.response());
}

TEST_CASE("Downloader: issuing an identifier that is in flight attaches to its task") {
  BackgroundEnvironment env;
  Downloader downloader(URLSessionConfiguration::background("ops-attach"), nullptr, (env.root / "ops").string());
  Results results;
  URLRequest request(URL(env.server.url("/bytes?n=400000&pace_ms=30&chunk=40000")));
  downloader.beginDownload(request, "shared", results.handler());
  REQUIRE(waitUntil([&] { return requestsTo(env, "/bytes") == 1; }));
  downloader.beginDownload(request, "shared", results.handler());  // while the bytes still trickle in
  REQUIRE(results.waitFor(2));
  std::this_thread::sleep_for(200ms);
  CHECK(results.count("shared") == 2);  // each caller gets the result, once
  auto shared = results.of("shared");
  REQUIRE(shared.file());
  CHECK(contentsOf(shared.file()->path()) == pattern(0, 400000));
  CHECK(requestsTo(env, "/bytes") == 1);
}

namespace {

// Parameters by value: a coroutine's reference parameters would dangle once it suspends.
Task<NetworkResponse> fetch(Downloader& downloader, URLRequest request, std::string identifier,
                            std::shared_ptr<OperationQueue> expectedQueue, std::atomic<bool>& resumedOnQueue) {
  NetworkResponse response = co_await downloader.download(request, identifier);
  resumedOnQueue = OperationQueue::current() == expectedQueue;
  co_return response;
}

Task<std::string> fetchAndRead(Downloader& downloader, URLRequest request, std::shared_ptr<OperationQueue> queue,
                               std::atomic<bool>& resumedOnQueue) {
  NetworkResponse response = co_await fetch(downloader, request, "awaited", queue, resumedOnQueue);
  co_return response.file() ? contentsOf(response.file()->path()) : response.description();
}

Task<NetworkResponse> send(Uploader& uploader, URLRequest request, URL file) {
  co_return co_await uploader.upload(request, file, "sent");
}

}  // namespace

TEST_CASE("co_await: downloads and uploads resume on the delegate queue with their NetworkResponse") {
  BackgroundEnvironment env;
  auto queue = std::make_shared<OperationQueue>();
  queue->setMaxConcurrentOperationCount(1);
  Downloader downloader(URLSessionConfiguration::background("ops-await-down"), queue, (env.root / "down").string());
  std::atomic<bool> resumedOnQueue{false};
  auto task = fetchAndRead(downloader, URLRequest(URL(env.server.url("/bytes?n=70000"))), queue, resumedOnQueue);
  CHECK(task.get() == pattern(0, 70000));
  CHECK(resumedOnQueue);

  const fs::path file = env.root / "upload.bin";
  std::ofstream(file, std::ios::binary) << pattern(0, 20000);
  Uploader uploader(URLSessionConfiguration::background("ops-await-up"), nullptr, (env.root / "up").string());
  URLRequest request(URL(env.server.url("/status/503?retry_after=2")));
  request.httpMethod = "POST";
  auto sent = send(uploader, request, URL::fileURLWithPath(file.string())).get();
  CHECK(sent.kind() == NetworkResponse::Kind::retry);
  CHECK(sent.retryAfter() == 2.0);
}

TEST_CASE("across a restart: the app killed mid-transfer re-issues the identifier and attaches to its task") {
  BackgroundEnvironment env;
  const auto url = env.server.url("/bytes?n=1200000&pace_ms=40&chunk=32768");
  const auto root = env.root.string();
  {
    App first({"ops-restart", root, "--download", url, "big"}, OPS_APP_PATH);
    REQUIRE_FALSE(first.waitFor("issued").empty());
    REQUIRE(waitUntil([&] { return requestsTo(env, "/bytes") == 1; }));
    first.kill9();
  }
  App second({"ops-restart", root, "--download", url, "big"}, OPS_APP_PATH);
  CHECK(second.waitFor("result", 30s) == "result big success 200 1200000 exact");
  CHECK(second.waitFor("held") == "held");
  second.wait();
  CHECK(second.count("result") == 1);
  CHECK(requestsTo(env, "/bytes") == 1);

  App third({"ops-restart", root, "--wait-ms", "800"}, OPS_APP_PATH);
  CHECK(third.waitFor("held") == "held");  // delivered and acknowledged: nothing comes again
  third.wait();
  CHECK(third.count("result") == 0);
}

TEST_CASE("across a restart: a result that finished while no app ran is held until its identifier is re-issued") {
  BackgroundEnvironment env;
  std::atomic<bool> sent{false};
  env.server.route("/later", [&sent](const RecordedRequest&, Responder& out) {
    out.sleepFor(800ms);
    out.send(200, {{"Content-Type", "application/octet-stream"}}, pattern(0, 200000));
    sent = true;
  });
  const auto url = env.server.url("/later");
  const auto root = env.root.string();
  {
    App first({"ops-away", root, "--download", url, "report"}, OPS_APP_PATH);
    REQUIRE(waitUntil([&] { return requestsTo(env, "/later") == 1; }));
    first.kill9();
  }
  REQUIRE(waitUntil([&] { return sent.load(); }));
  std::this_thread::sleep_for(500ms);  // the daemon stores the completion

  // Launched for the events, without re-issuing: the result is held, on disk, past this process.
  App woken({"ops-away", root, "--events"}, OPS_APP_PATH);
  CHECK_FALSE(woken.waitFor("events-handled").empty());
  CHECK(woken.waitFor("held") == "held report");
  woken.wait();
  CHECK(woken.count("result") == 0);

  App relaunched({"ops-away", root, "--download", url, "report", "--coroutine"}, OPS_APP_PATH);
  CHECK(relaunched.waitFor("result") == "result report success 200 200000 exact");
  CHECK(relaunched.waitFor("held") == "held");
  relaunched.wait();
  CHECK(relaunched.count("result") == 1);
  CHECK(contentsOf(env.root / "report.out") == pattern(0, 200000));
  CHECK(requestsTo(env, "/later") == 1);
}

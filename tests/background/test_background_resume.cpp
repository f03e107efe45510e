// Resume data in background sessions, with a real urlsessiond: the daemon keeps the partial file
// in its staging folder, the resume data names it, and the resumed task takes it over.
#include <doctest/doctest.h>

#include "../integration/Recorder.hpp"
#include "BackgroundFixture.hpp"

using namespace fntest;

namespace {

// A session (background, or not) whose delegate records everything and keeps each downloaded file's bytes.
struct Client {
  std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>();
  std::shared_ptr<URLSession> session;
  explicit Client(const URLSessionConfiguration& configuration) {
    recorder->keepsDownloads = true;
    session = URLSession::make(configuration, recorder);
  }
  std::string content(std::uint64_t task) const { return recorder->downloaded(task); }
  // Starts a download of `url` and cancels it for resume data after `atLeast` bytes.
  std::optional<Data> cancelForResumeData(const std::string& url, std::int64_t atLeast) {
    auto task = session->downloadTask(URL(url));
    task->resume();
    return fntest::cancelForResumeData(*recorder, *task, atLeast);
  }
};

std::vector<fs::path> resumableFiles(BackgroundEnvironment& env) {
  std::vector<fs::path> found;
  std::error_code ignored;
  for (const auto& entry : fs::directory_iterator(env.root / "state" / "staging", ignored))
    if (entry.path().extension() == ".resumable") found.push_back(entry.path());
  return found;
}

std::string paced(BackgroundEnvironment& env, std::size_t size, const std::string& options) {
  return env.server.url("/bytes?n=" + std::to_string(size) + "&pace_ms=20&chunk=16384&" + options);
}

}  // namespace

TEST_CASE("background: cancelByProducingResumeData, then downloadTaskWithResumeData continues the daemon's file") {
  BackgroundEnvironment env;
  Client app(URLSessionConfiguration::background("resume"));
  const std::size_t size = 500000;
  auto data = app.cancelForResumeData(paced(env, size, "ranges=1&etag=v1"), 80000);
  REQUIRE(data);
  // The partial file waits in staging, under the name the resume data gives.
  auto kept = resumableFiles(env);
  REQUIRE(kept.size() == 1);
  const auto offset = static_cast<std::int64_t>(fs::file_size(kept[0]));
  CHECK(offset >= 80000);
  CHECK(offset < static_cast<std::int64_t>(size));

  env.server.clearRequests();
  const auto completed = app.recorder->completionCount();
  auto resumed = app.session->downloadTaskWithResumeData(*data);
  resumed->resume();
  REQUIRE(app.recorder->waitForCompletions(completed + 1, 30s));
  const auto id = resumed->taskIdentifier();
  CHECK_FALSE(app.recorder->completion(id).error);
  CHECK(app.content(id) == pattern(0, size));
  CHECK(statusOf(resumed->response()) == 206);
  auto requests = env.server.requests();
  REQUIRE_FALSE(requests.empty());
  CHECK(requests.front().header("Range") == "bytes=" + std::to_string(offset) + "-");
  CHECK(requests.front().header("If-Range") == "\"v1\"");
  CHECK(app.recorder->resumes(id) == std::vector<std::pair<std::int64_t, std::int64_t>>{{offset, size}});
  CHECK(app.recorder->bytesWritten(id) == static_cast<std::int64_t>(size));
  CHECK(app.recorder->overlaps() == 0);
  // Taken over by the new task, and gone with it.
  CHECK(resumableFiles(env).empty());
}

TEST_CASE("background: no resume data without a validator; damaged or orphaned resume data fails cleanly") {
  BackgroundEnvironment env;
  Client app(URLSessionConfiguration::background("resume-refusals"));
  CHECK_FALSE(app.cancelForResumeData(paced(env, 400000, "ranges=1"), 20000));
  CHECK(resumableFiles(env).empty());

  auto garbage = app.session->downloadTaskWithResumeData(Data("garbage"));
  garbage->resume();
  REQUIRE(app.recorder->waitForCompletions(2));
  CHECK(app.recorder->completion(garbage->taskIdentifier()).error->code == URLError::cannotDecodeRawData);

  auto data = app.cancelForResumeData(paced(env, 400000, "ranges=1&etag=v2"), 20000);
  REQUIRE(data);
  for (const auto& file : resumableFiles(env)) fs::remove(file);
  auto orphan = app.session->downloadTaskWithResumeData(*data);
  orphan->resume();
  REQUIRE(app.recorder->waitForCompletions(4));
  CHECK(app.recorder->completion(orphan->taskIdentifier()).error->code == URLError::cannotOpenFile);
}

TEST_CASE("resume data moves between background and default sessions both ways") {
  BackgroundEnvironment env;
  Client background(URLSessionConfiguration::background("resume-across"));
  Client local(URLSessionConfiguration::defaultConfiguration());
  const std::size_t size = 400000;

  // Produced by the daemon, continued in this process from the staging folder.
  auto fromDaemon = background.cancelForResumeData(paced(env, size, "ranges=1&etag=a"), 40000);
  REQUIRE(fromDaemon);
  auto here = local.session->downloadTaskWithResumeData(*fromDaemon);
  here->resume();
  REQUIRE(local.recorder->waitForCompletions(1));
  CHECK(local.content(here->taskIdentifier()) == pattern(0, size));
  CHECK(local.recorder->resumes(here->taskIdentifier()).at(0).first > 0);
  CHECK(resumableFiles(env).empty());

  // Produced in this process, taken over by the daemon.
  auto fromHere = local.cancelForResumeData(paced(env, size, "ranges=1&etag=b"), 40000);
  REQUIRE(fromHere);
  auto there = background.session->downloadTaskWithResumeData(*fromHere);
  there->resume();
  REQUIRE(background.recorder->waitForCompletions(2, 30s));
  CHECK_FALSE(background.recorder->completion(there->taskIdentifier()).error);
  CHECK(background.content(there->taskIdentifier()) == pattern(0, size));
  CHECK(statusOf(there->response()) == 206);
}

TEST_CASE("background: a download out of retries on a lost connection hands over resume data") {
  BackgroundEnvironment env;
  const std::size_t size = 300000;
  std::atomic<bool> healthy{false};
  // Until healthy, every response breaks off 40 KB into what it promised.
  env.server.route("/flaky", [&](const RecordedRequest& r, Responder& out) {
    const auto range = r.header("Range");
    const std::size_t first = range ? std::stoul(range->substr(6)) : 0;
    HeaderList headers{{"ETag", "\"f1\""}, {"Accept-Ranges", "bytes"}, {"Content-Length", std::to_string(size - first)}};
    if (range) headers.emplace_back("Content-Range", "bytes " + std::to_string(first) + "-" + std::to_string(size - 1) + "/" + std::to_string(size));
    if (!out.sendHead(range ? 206 : 200, headers)) return;
    out.writeRaw(pattern(first, healthy ? size - first : std::min<std::size_t>(40000, size - first - 1)));
    if (!healthy) out.close();
  });
  auto configuration = URLSessionConfiguration::background("resume-retries");
  configuration.timeoutIntervalForResource = 1.5;
  Client app(configuration);
  auto task = app.session->downloadTask(URL(env.server.url("/flaky")));
  task->resume();
  REQUIRE(app.recorder->waitForCompletions(1, 30s));
  auto error = app.recorder->completion(task->taskIdentifier()).error;
  REQUIRE(error);
  CHECK(error->code == URLError::networkConnectionLost);
  REQUIRE(error->resumeData);
  REQUIRE(resumableFiles(env).size() == 1);

  healthy = true;
  Client local(URLSessionConfiguration::defaultConfiguration());
  auto resumed = local.session->downloadTaskWithResumeData(*error->resumeData);
  resumed->resume();
  REQUIRE(local.recorder->waitForCompletions(1));
  CHECK_FALSE(local.recorder->completion(resumed->taskIdentifier()).error);
  CHECK(local.content(resumed->taskIdentifier()) == pattern(0, size));
  CHECK(local.recorder->resumes(resumed->taskIdentifier()).at(0).first >= 40000);
}

TEST_CASE("background: a data task that loses its connection mid-body is not retried, so no byte arrives twice") {
  BackgroundEnvironment env;
  std::atomic<int> requests{0};
  env.server.route("/cut", [&](const RecordedRequest&, Responder& out) {
    ++requests;
    if (!out.sendHead(200, {{"Content-Length", "100000"}})) return;
    out.writeRaw(pattern(0, 30000));
    out.close();
  });
  Client app(URLSessionConfiguration::background("data-cut"));
  auto task = app.session->dataTask(URL(env.server.url("/cut")));
  task->resume();
  REQUIRE(app.recorder->waitForCompletions(1, 30s));
  auto error = app.recorder->completion(task->taskIdentifier()).error;
  REQUIRE(error);
  CHECK(error->code == URLError::networkConnectionLost);
  CHECK(app.recorder->body(task->taskIdentifier()) == pattern(0, 30000));
  CHECK(requests == 1);
}

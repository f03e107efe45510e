// Download resume data: when it is produced, resuming with Range + If-Range, the 200 restart,
// transient failures, and resume data that cannot be used.
#include <doctest/doctest.h>

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "Recorder.hpp"
#include "TempFolder.hpp"
#include "TestServer.hpp"

using namespace fntest;
namespace fs = std::filesystem;

namespace {

// Points TMPDIR (where downloads keep their partial files) at a folder of the test's own,
// so that the test can see, and delete, the partial file.
struct DownloadFolder {
  TempFolder folder{"fnresume"};
  std::optional<std::string> previous;
  DownloadFolder() {
    if (const char* old = ::getenv("TMPDIR")) previous = old;
    ::setenv("TMPDIR", folder.path().c_str(), 1);
  }
  ~DownloadFolder() {
    if (previous) ::setenv("TMPDIR", previous->c_str(), 1);
    else ::unsetenv("TMPDIR");
  }
  // What the folder holds once the files the session discarded are gone: a finished download's
  // file is renamed to "….discarded" and unlinked off the delegate queue, within moments.
  std::vector<fs::path> files() const {
    std::vector<fs::path> found;
    for (int attempt = 0; attempt < 250; ++attempt) {
      found.clear();
      bool discarding = false;
      for (const auto& entry : fs::directory_iterator(folder.path())) {
        found.push_back(entry.path());
        discarding = discarding || entry.path().extension() == ".discarded";
      }
      if (!discarding) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return found;
  }
};

struct Fixture {
  TestServer server;
  DownloadFolder downloads;
  std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>();
  std::shared_ptr<URLSession> session =
      URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);

  Fixture() { recorder->keepsDownloads = true; }
  ~Fixture() { session->invalidateAndCancel(); }
  std::string content(std::uint64_t task) const { return recorder->downloaded(task); }

  // Starts a download and cancels it for resume data once `atLeast` bytes were written.
  std::optional<Data> cancelForResumeData(const URLRequest& request, std::int64_t atLeast,
                                          std::shared_ptr<URLSessionDownloadTask>* started = nullptr) {
    auto task = session->downloadTask(request);
    task->resume();
    if (started) *started = task;
    return fntest::cancelForResumeData(*recorder, *task, atLeast);
  }

  std::shared_ptr<URLSessionDownloadTask> resumeWith(const Data& resumeData) {
    const auto completed = recorder->completionCount();
    auto task = session->downloadTaskWithResumeData(resumeData);
    task->resume();
    REQUIRE(recorder->waitForCompletions(completed + 1));
    return task;
  }
};

std::string pacedBytes(std::size_t size, const std::string& options) {
  return "/bytes?n=" + std::to_string(size) + "&pace_ms=15&chunk=16384&" + options;
}

int count(const std::vector<std::string>& events, const std::string& name) {
  return static_cast<int>(std::count(events.begin(), events.end(), name));
}

}  // namespace

TEST_CASE("cancelByProducingResumeData, then downloadTaskWithResumeData, yields the exact bytes") {
  Fixture f;
  const std::size_t size = 400000;
  std::string options, ifRange;
  SUBCASE("strong ETag") {
    options = "ranges=1&etag=v1";
    ifRange = "\"v1\"";
  }
  SUBCASE("Last-Modified only") {
    options = "ranges=1&lastmod=1";
    ifRange = "Wed, 21 Oct 2015 07:28:00 GMT";
  }
  URLRequest request(URL(f.server.url(pacedBytes(size, options))));
  std::shared_ptr<URLSessionDownloadTask> first;
  auto data = f.cancelForResumeData(request, 60000, &first);
  REQUIRE(data);
  // The partial file stays for the resumed task.
  auto partial = f.downloads.files();
  REQUIRE(partial.size() == 1);
  const auto offset = static_cast<std::int64_t>(fs::file_size(partial[0]));
  CHECK(offset >= 60000);
  CHECK(offset < static_cast<std::int64_t>(size));
  CHECK(count(f.recorder->events(first->taskIdentifier()), "didFinishDownloadingTo") == 0);

  f.server.clearRequests();
  auto resumed = f.resumeWith(*data);
  const auto id = resumed->taskIdentifier();
  CHECK_FALSE(f.recorder->completion(id).error);
  CHECK(statusOf(resumed->response()) == 206);
  CHECK(f.content(id) == pattern(0, size));
  // Asked for the rest, on condition that it is the same resource.
  auto requests = f.server.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].header("Range") == "bytes=" + std::to_string(offset) + "-");
  CHECK(requests[0].header("If-Range") == ifRange);
  CHECK(resumed->currentRequest()->value("Range") == "bytes=" + std::to_string(offset) + "-");
  CHECK_FALSE(resumed->originalRequest()->value("Range"));
  CHECK(resumed->originalRequest()->url == request.url);
  // didResumeAtOffset(N, total) comes before any didWriteData, whose totals count the offset.
  auto events = f.recorder->events(id);
  REQUIRE(count(events, "didResumeAtOffset") == 1);
  auto resumedAt = std::find(events.begin(), events.end(), "didResumeAtOffset");
  CHECK(resumedAt < std::find(events.begin(), events.end(), "didWriteData"));
  CHECK(f.recorder->resumes(id) == std::vector<std::pair<std::int64_t, std::int64_t>>{{offset, size}});
  CHECK(f.recorder->bytesWritten(id) == static_cast<std::int64_t>(size));
  CHECK(f.recorder->expectedToWrite(id) == static_cast<std::int64_t>(size));
  CHECK(f.recorder->overlaps() == 0);
  // The finished file was handed over and deleted, like any download's.
  CHECK(f.downloads.files().empty());
}

TEST_CASE("a resource that changed restarts from zero with didResumeAtOffset(0, total)") {
  Fixture f;
  const std::size_t size = 300000;
  std::atomic<int> version{1};
  // Each version has its own bytes and ETag; a range is served only for the current version.
  f.server.route("/versioned", [&](const RecordedRequest& request, Responder& out) {
    const int v = version.load();
    const std::string etag = "\"v" + std::to_string(v) + "\"";
    const std::string body = pattern(static_cast<std::uint64_t>(v) * 7, size);
    std::size_t first = 0;
    int status = 200;
    HeaderList headers{{"ETag", etag}, {"Accept-Ranges", "bytes"}};
    auto range = request.header("Range");
    if (range && request.header("If-Range") == etag && range->rfind("bytes=", 0) == 0) {
      first = std::stoul(range->substr(6));
      status = 206;
      headers.emplace_back("Content-Range", "bytes " + std::to_string(first) + "-" + std::to_string(size - 1) + "/" +
                                                std::to_string(size));
    }
    headers.emplace_back("Content-Length", std::to_string(size - first));
    if (!out.sendHead(status, headers)) return;
    for (std::size_t at = first; at < size; at += 16384) {
      if (!out.writeRaw(std::string_view(body).substr(at, 16384)) || !out.sleepFor(10ms)) return out.close();
    }
  });
  auto data = f.cancelForResumeData(URLRequest(URL(f.server.url("/versioned"))), 50000);
  REQUIRE(data);
  version = 2;
  auto resumed = f.resumeWith(*data);
  const auto id = resumed->taskIdentifier();
  CHECK_FALSE(f.recorder->completion(id).error);
  CHECK(statusOf(resumed->response()) == 200);
  CHECK(f.content(id) == pattern(14, size));  // version 2, whole
  CHECK(f.recorder->resumes(id) == std::vector<std::pair<std::int64_t, std::int64_t>>{{0, size}});
  CHECK(f.recorder->bytesWritten(id) == static_cast<std::int64_t>(size));
  CHECK(f.downloads.files().empty());
}

TEST_CASE("no resume data without validators, with a weak ETag, without byte ranges, or for a POST") {
  Fixture f;
  URLRequest request(URL("http://invalid.invalid/"));
  SUBCASE("no validator") { request = URLRequest(URL(f.server.url(pacedBytes(300000, "ranges=1")))); }
  SUBCASE("weak ETag") { request = URLRequest(URL(f.server.url(pacedBytes(300000, "ranges=1&etag=v1&weak=1")))); }
  SUBCASE("no Accept-Ranges") { request = URLRequest(URL(f.server.url(pacedBytes(300000, "etag=v1&lastmod=1")))); }
  SUBCASE("POST") {
    request = URLRequest(URL(f.server.url(pacedBytes(300000, "ranges=1&etag=v1"))));
    request.httpMethod = "POST";
  }
  auto data = f.cancelForResumeData(request, 20000);
  CHECK_FALSE(data);
  // Nothing to resume from: the partial file went, as for any cancelled download.
  CHECK(f.downloads.files().empty());
}

TEST_CASE("cancelByProducingResumeData before any response, or after the end, answers nullopt") {
  Fixture f;
  auto never = f.session->downloadTask(URL(f.server.url("/bytes?n=10&ranges=1&etag=v1")));
  Awaited<std::optional<Data>> notStarted;
  never->cancelByProducingResumeData([&](std::optional<Data> data) { notStarted.set(std::move(data)); });
  REQUIRE(notStarted.wait());
  CHECK_FALSE(*notStarted.value);
  REQUIRE(f.recorder->waitForCompletions(1));
  CHECK(f.recorder->completion(never->taskIdentifier()).error->code == URLError::cancelled);

  auto done = f.session->downloadTask(URL(f.server.url("/bytes?n=10&ranges=1&etag=v1")));
  done->resume();
  REQUIRE(f.recorder->waitForCompletions(2));
  Awaited<std::optional<Data>> afterEnd;
  done->cancelByProducingResumeData([&](std::optional<Data> data) { afterEnd.set(std::move(data)); });
  REQUIRE(afterEnd.wait());
  CHECK_FALSE(*afterEnd.value);
  CHECK_FALSE(f.recorder->completion(done->taskIdentifier()).error);
}

TEST_CASE("a transient failure carries resume data, and resuming from it completes the download") {
  Fixture f;
  const std::size_t size = 300000;
  URLRequest request(URL("http://invalid.invalid/"));
  int expectedCode = 0;
  SUBCASE("connection lost") {
    request = URLRequest(URL(f.server.url("/bytes?n=300000&ranges=1&etag=v1&drop_after=100000")));
    expectedCode = URLError::networkConnectionLost;
  }
  SUBCASE("timed out") {
    // The first response stalls after 64 KiB, for longer than the request's timeout; ranges are whole.
    f.server.route("/stall", [](const RecordedRequest& r, Responder& out) {
      const bool ranged = r.header("Range").has_value();
      const std::size_t first = ranged ? std::stoul(r.header("Range")->substr(6)) : 0;
      HeaderList headers{{"ETag", "\"s1\""}, {"Accept-Ranges", "bytes"},
                         {"Content-Length", std::to_string(300000 - first)}};
      if (ranged)
        headers.emplace_back("Content-Range", "bytes " + std::to_string(first) + "-299999/300000");
      if (!out.sendHead(ranged ? 206 : 200, headers)) return;
      if (ranged) {
        out.writeRaw(pattern(first, 300000 - first));
        return;
      }
      out.writeRaw(pattern(0, 65536));
      out.sleepFor(3s);
      out.close();
    });
    request = URLRequest(URL(f.server.url("/stall")));
    request.setTimeoutInterval(0.5);
    expectedCode = URLError::timedOut;
  }
  auto task = f.session->downloadTask(request);
  task->resume();
  REQUIRE(f.recorder->waitForCompletions(1));
  auto error = f.recorder->completion(task->taskIdentifier()).error;
  REQUIRE(error);
  CHECK(error->code == expectedCode);
  REQUIRE(error->resumeData);
  REQUIRE(f.downloads.files().size() == 1);

  // With a completion handler this time; the file is valid during the handler.
  Awaited<std::string> result;
  std::shared_ptr<const URLResponse> response;
  auto resumed = f.session->downloadTaskWithResumeData(
      *error->resumeData, [&](std::optional<URL> location, std::shared_ptr<const URLResponse> r, std::optional<Error> e) {
        response = r;
        result.set(e ? "error " + std::to_string(e->code) : location ? contentsOf(location->path()) : "no file");
      });
  resumed->resume();
  REQUIRE(result.wait());
  CHECK(*result.value == pattern(0, size));
  CHECK(statusOf(response) == 206);
  CHECK(f.recorder->resumes(resumed->taskIdentifier()).size() == 1);
  for (int i = 0; i < 200 && !f.downloads.files().empty(); ++i) std::this_thread::sleep_for(5ms);
  CHECK(f.downloads.files().empty());
}

TEST_CASE("garbage, truncated or newer resume data fails the task cleanly") {
  Fixture f;
  auto good = f.cancelForResumeData(URLRequest(URL(f.server.url(pacedBytes(200000, "ranges=1&etag=v1")))), 20000);
  REQUIRE(good);
  std::string bytes(good->view());
  std::vector<std::pair<std::string, Data>> broken = {
      {"empty", Data()},
      {"garbage", Data("this is not resume data at all")},
      {"truncated", Data(bytes.substr(0, bytes.size() / 2))},
      {"one byte short", Data(bytes.substr(0, bytes.size() - 1))},
  };
  std::string newer = bytes;
  newer[4] = 2;  // major version 2
  broken.emplace_back("newer major version", Data(newer));
  for (const auto& [what, data] : broken) {
    CAPTURE(what);
    auto task = f.resumeWith(data);
    auto error = f.recorder->completion(task->taskIdentifier()).error;
    REQUIRE(error);
    CHECK(error->code == URLError::cannotDecodeRawData);
    CHECK(f.recorder->events(task->taskIdentifier()).back() == "didCompleteWithError");
  }
  // The completion-handler form fails the same way.
  Awaited<int> code;
  f.session->downloadTaskWithResumeData(Data("junk"), [&](std::optional<URL> location, auto, std::optional<Error> e) {
    code.set(location ? 0 : e ? e->code : 1);
  })->resume();
  REQUIRE(code.wait());
  CHECK(*code.value == URLError::cannotDecodeRawData);
  // None of that touched the partial file: the good resume data still works.
  auto resumed = f.resumeWith(*good);
  CHECK(f.content(resumed->taskIdentifier()) == pattern(0, 200000));
}

TEST_CASE("resume data whose partial file was deleted fails cleanly with cannotOpenFile") {
  Fixture f;
  auto data = f.cancelForResumeData(URLRequest(URL(f.server.url(pacedBytes(200000, "ranges=1&etag=v1")))), 20000);
  REQUIRE(data);
  for (const auto& file : f.downloads.files()) fs::remove(file);
  f.server.clearRequests();
  auto task = f.resumeWith(*data);
  auto error = f.recorder->completion(task->taskIdentifier()).error;
  REQUIRE(error);
  CHECK(error->code == URLError::cannotOpenFile);
  CHECK(error->failingURL.has_value());
  CHECK(f.server.requests().empty());  // nothing was asked for
}

TEST_CASE("a partial file that already holds everything gets a 416, and the task loads the whole resource") {
  Fixture f;
  const std::size_t size = 200000;
  auto data = f.cancelForResumeData(URLRequest(URL(f.server.url(pacedBytes(size, "ranges=1&etag=v1")))), 20000);
  REQUIRE(data);
  auto files = f.downloads.files();
  REQUIRE(files.size() == 1);
  const auto have = fs::file_size(files[0]);
  std::ofstream(files[0], std::ios::binary | std::ios::app) << pattern(have, size - have);
  f.server.clearRequests();
  auto task = f.resumeWith(*data);
  CHECK_FALSE(f.recorder->completion(task->taskIdentifier()).error);
  CHECK(f.content(task->taskIdentifier()) == pattern(0, size));
  auto requests = f.server.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].header("Range") == "bytes=" + std::to_string(size) + "-");
  CHECK_FALSE(requests[1].header("Range"));
  CHECK(f.recorder->resumes(task->taskIdentifier()) == std::vector<std::pair<std::int64_t, std::int64_t>>{{0, size}});
}

TEST_CASE("a partial file that changes after the task was made fails the task instead of corrupting it") {
  Fixture f;
  auto data = f.cancelForResumeData(URLRequest(URL(f.server.url(pacedBytes(200000, "ranges=1&etag=v1")))), 20000);
  REQUIRE(data);
  auto task = f.session->downloadTaskWithResumeData(*data);  // asks for the range after the file's bytes now
  auto files = f.downloads.files();
  REQUIRE(files.size() == 1);
  std::ofstream(files[0], std::ios::binary | std::ios::app) << "more";
  const auto completed = f.recorder->completionCount();
  task->resume();
  REQUIRE(f.recorder->waitForCompletions(completed + 1));
  auto error = f.recorder->completion(task->taskIdentifier()).error;
  REQUIRE(error);
  CHECK(error->code == URLError::cannotOpenFile);
}

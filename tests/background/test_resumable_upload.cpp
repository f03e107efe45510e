// Background uploads resume by themselves when the server speaks the resumable upload draft:
// urlsessiond saves the upload resource the 104 named, and a retry after a lost connection, or
// a daemon restarted after SIGKILL, continues with HEAD + PATCH instead of sending it all again.
#include <doctest/doctest.h>

#include "../integration/Recorder.hpp"
#include "BackgroundFixture.hpp"

using namespace fntest;

namespace {

struct UploadingApp {
  std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>();
  std::shared_ptr<URLSession> session;
  fs::path file;
  std::string body;
  UploadingApp(BackgroundEnvironment& env, const std::string& sessionId, std::size_t size, int version = 6)
      : file(env.root / "upload.bin"), body(pattern(0, size)) {
    std::ofstream(file, std::ios::binary) << body;
    auto configuration = URLSessionConfiguration::background(sessionId);
    configuration.resumableUploadInteropVersion = version;  // the daemon's transfers announce it
    session = URLSession::make(configuration, recorder);
  }
  std::shared_ptr<URLSessionUploadTask> start(BackgroundEnvironment& env, const std::string& pathAndQuery) {
    URLRequest request{URL(env.server.url(pathAndQuery))};
    request.httpMethod = "POST";
    auto task = session->uploadTask(request, URL::fileURLWithPath(file.string()));
    task->resume();
    return task;
  }
  // The task's completion, which must come within a minute.
  Recorder::Completion completion(const std::shared_ptr<URLSessionUploadTask>& task) {
    REQUIRE(recorder->waitForCompletions(1, 60s));
    return recorder->completion(task->taskIdentifier());
  }
};

std::uint64_t bodyBytesOf(const ResumableUpload& upload) {
  std::uint64_t sum = 0;
  for (const auto& request : upload.requests) sum += request.bodyBytes;
  return sum;
}

}  // namespace

TEST_CASE("background: an upload interrupted by a lost connection continues with HEAD + PATCH, not from zero") {
  BackgroundEnvironment env;
  constexpr std::size_t size = 1 << 20;
  UploadingApp app(env, "resumable-retry", size, 5);
  auto task = app.start(env, "/resumable-upload?drop_after=300000");
  auto done = app.completion(task);
  CHECK_FALSE(done.error);
  CHECK(statusOf(done.response) == 200);
  CHECK(app.recorder->body(task->taskIdentifier()) == "stored " + std::to_string(size) + " bytes");
  auto uploads = env.server.resumableUploads();
  REQUIRE(uploads.size() == 1);
  const auto& upload = uploads.front();
  CHECK(upload.version == 5);
  CHECK(upload.complete);
  CHECK(upload.bytes == app.body);
  REQUIRE(upload.requests.size() == 3);
  CHECK(upload.requests[0].method == "POST");
  CHECK(upload.requests[0].bodyBytes == 300000);
  CHECK(upload.requests[1].method == "HEAD");
  CHECK(upload.requests[2].method == "PATCH");
  CHECK(upload.requests[2].offset == 300000);
  CHECK(upload.requests[2].bodyBytes == size - 300000);
  CHECK(bodyBytesOf(upload) == size);  // only the missing bytes were sent again
}

TEST_CASE("background: resumableUploadInteropVersion 0 makes the daemon send an interrupted upload again whole") {
  BackgroundEnvironment env;
  constexpr std::size_t size = 1 << 20;
  UploadingApp app(env, "resumable-off", size, 0);
  auto task = app.start(env, "/resumable-upload?plain=1&drop_after=300000");
  CHECK_FALSE(app.completion(task).error);
  auto uploads = env.server.resumableUploads();
  REQUIRE(uploads.size() == 2);  // the retry is a new upload, from byte 0
  CHECK(uploads[0].bytes.size() == 300000);
  CHECK(uploads[1].bytes == app.body);
  for (const auto& request : env.server.requests()) CHECK_FALSE(request.header("Upload-Draft-Interop-Version"));
}

TEST_CASE("background: a resumable upload survives urlsessiond's SIGKILL and continues where the server stopped") {
  BackgroundEnvironment env;
  // Larger than the loopback buffers hold, so that the kill stops the upload partway.
  constexpr std::size_t size = 8 << 20;
  UploadingApp app(env, "resumable-kill", size);
  auto task = app.start(env, "/resumable-upload?pace_ms=2");
  for (int i = 0; i < 4000; ++i) {
    auto uploads = env.server.resumableUploads();
    if (!uploads.empty() && uploads.front().bytes.size() >= 200000) break;
    std::this_thread::sleep_for(5ms);
  }
  env.killDaemon();  // the app's link starts a new daemon, which reloads the task
  auto done = app.completion(task);
  CHECK_FALSE(done.error);
  CHECK(statusOf(done.response) == 200);
  auto uploads = env.server.resumableUploads();
  REQUIRE(uploads.size() == 1);
  const auto& upload = uploads.front();
  CHECK(upload.complete);
  CHECK(upload.bytes == app.body);
  REQUIRE(upload.requests.size() >= 3);
  CHECK(upload.requests[0].method == "POST");
  CHECK(upload.requests[0].bodyBytes >= 200000);
  CHECK(upload.requests[0].bodyBytes < size);
  CHECK(upload.requests[1].method == "HEAD");
  CHECK(upload.requests.back().method == "PATCH");
  CHECK(bodyBytesOf(upload) == size);
}

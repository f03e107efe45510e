// Resumable uploads (the IETF "Resumable Uploads for HTTP" draft, interop versions 3, 5 and 6)
// in default sessions, against the test server's /resumable-upload: the 104, resume data from an
// interrupted or cancelled upload, HEAD + PATCH from it, the 409 path, servers without the draft,
// and resume data that cannot be used.
#include <doctest/doctest.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "Recorder.hpp"
#include "TempFolder.hpp"
#include "TestServer.hpp"

using namespace fntest;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t bodySize = 1 << 20;
constexpr std::size_t dropAt = 300000;

// Records didSendBodyData's totals as well.
class UploadRecorder : public Recorder {
 public:
  void didSendBodyData(URLSession& session, URLSessionTask& task, std::int64_t sent, std::int64_t total,
                       std::int64_t expected) override {
    Recorder::didSendBodyData(session, task, sent, total, expected);
    std::lock_guard lock(mutex_);
    auto& list = totals_[task.taskIdentifier()];
    list.push_back({total, expected});
  }
  // (totalBytesSent, totalBytesExpectedToSend) of each didSendBodyData, in order.
  std::vector<std::pair<std::int64_t, std::int64_t>> totals(std::uint64_t task) const {
    std::lock_guard lock(mutex_);
    auto it = totals_.find(task);
    return it == totals_.end() ? std::vector<std::pair<std::int64_t, std::int64_t>>{} : it->second;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::uint64_t, std::vector<std::pair<std::int64_t, std::int64_t>>> totals_;
};

// TMPDIR points at a folder of the test's own, where a Data upload's copy would be.
struct Fixture {
  TempFolder folder{"fnresup"};
  std::optional<std::string> previousTmp;
  TestServer server;
  std::shared_ptr<UploadRecorder> recorder = std::make_shared<UploadRecorder>();
  std::shared_ptr<URLSession> session;
  const std::string body;
  const std::string bodyPath = (folder.path() / "body.bin").string();

  explicit Fixture(int version = 6, std::size_t size = bodySize) : body(pattern(0, size)) {
    if (const char* old = ::getenv("TMPDIR")) previousTmp = old;
    ::setenv("TMPDIR", folder.path().c_str(), 1);
    auto configuration = URLSessionConfiguration::defaultConfiguration();
    configuration.resumableUploadInteropVersion = version;
    session = URLSession::make(configuration, recorder);
    std::ofstream(bodyPath, std::ios::binary) << body;
  }
  ~Fixture() {
    session->invalidateAndCancel();
    if (previousTmp) ::setenv("TMPDIR", previousTmp->c_str(), 1);
    else ::unsetenv("TMPDIR");
  }

  URLRequest post(const std::string& pathAndQuery) const {
    URLRequest request{URL(server.url(pathAndQuery))};
    request.httpMethod = "POST";
    request.setValue("application/octet-stream", "Content-Type");
    return request;
  }
  // Runs `task` to its completion and returns it.
  Recorder::Completion run(const std::shared_ptr<URLSessionTask>& task) {
    const auto before = recorder->completionCount();
    task->resume();
    REQUIRE(recorder->waitForCompletions(before + 1));
    return recorder->completion(task->taskIdentifier());
  }
  // The resume data of a file upload of /resumable-upload`query` that the server interrupts.
  Data interruptedUpload(const std::string& query) {
    auto task = session->uploadTask(post("/resumable-upload" + query), URL::fileURLWithPath(bodyPath));
    auto failed = run(task);
    REQUIRE(failed.error);
    CHECK(failed.error->code == URLError::networkConnectionLost);
    REQUIRE(failed.error->resumeData);
    return *failed.error->resumeData;
  }
  // Starts a file upload the server reads slowly, and returns once the server holds 100,000 bytes.
  std::shared_ptr<URLSessionUploadTask> startSlowUpload() {
    auto task = session->uploadTask(post("/resumable-upload?pace_ms=2"), URL::fileURLWithPath(bodyPath));
    task->resume();
    for (int i = 0; i < 2000; ++i) {
      auto uploads = server.resumableUploads();
      if (!uploads.empty() && uploads.front().bytes.size() >= 100000) break;
      std::this_thread::sleep_for(5ms);
    }
    return task;
  }
  ResumableUpload upload() const {
    auto uploads = server.resumableUploads();
    REQUIRE(uploads.size() == 1);
    return uploads.front();
  }
  std::vector<std::string> filesInTmp() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(folder.path())) names.push_back(entry.path().filename().string());
    return names;
  }
};

// A data completion handler that fills `result`.
URLSession::DataCompletionHandler handlerFor(Awaited<DataResult>& result) {
  return [&result](std::optional<Data> d, std::shared_ptr<const URLResponse> r, std::optional<Error> e) {
    result.set({std::move(d), std::move(r), std::move(e)});
  };
}

std::uint64_t bodyBytesOf(const ResumableUpload& upload) {
  std::uint64_t sum = 0;
  for (const auto& request : upload.requests) sum += request.bodyBytes;
  return sum;
}

// The resumed task asked the offset, then sent exactly the missing bytes in one PATCH.
void checkResumedOnce(const ResumableUpload& upload, std::uint64_t offset, std::uint64_t size = bodySize) {
  REQUIRE(upload.requests.size() == 3);
  CHECK(upload.requests[0].method == "POST");
  CHECK(upload.requests[0].status == 0);  // dropped
  CHECK(upload.requests[1].method == "HEAD");
  CHECK(upload.requests[2].method == "PATCH");
  CHECK(upload.requests[2].offset == offset);
  CHECK(upload.requests[2].bodyBytes == size - offset);
  CHECK(upload.requests[2].status == 200);
  CHECK(bodyBytesOf(upload) == size);
}

}  // namespace

TEST_CASE("resumable upload: interrupted, then resumed from its resume data, for interop versions 3, 5 and 6") {
  int version = 0;
  SUBCASE("version 3") { version = 3; }
  SUBCASE("version 5") { version = 5; }
  SUBCASE("version 6") { version = 6; }
  CAPTURE(version);
  Fixture f(version);
  auto first = f.session->uploadTask(f.post("/resumable-upload?drop_after=" + std::to_string(dropAt)),
                                     URL::fileURLWithPath(f.bodyPath));
  auto failed = f.run(first);
  REQUIRE(failed.error);
  CHECK(failed.error->code == URLError::networkConnectionLost);
  REQUIRE(failed.error->resumeData);
  auto events = f.recorder->events(first->taskIdentifier());
  CHECK(std::find(events.begin(), events.end(), "didReceiveInformationalResponse") != events.end());

  auto resumed = f.session->uploadTaskWithResumeData(*failed.error->resumeData);
  CHECK(resumed->originalRequest()->url == first->originalRequest()->url);
  CHECK(resumed->originalRequest()->httpMethod == "POST");
  auto done = f.run(resumed);
  REQUIRE_FALSE(done.error);
  CHECK(statusOf(done.response) == 200);
  CHECK(f.recorder->body(resumed->taskIdentifier()) == "stored " + std::to_string(bodySize) + " bytes");
  CHECK(f.recorder->events(resumed->taskIdentifier()) ==
        std::vector<std::string>{"didCreateTask", "didSendBodyData", "didReceiveResponse", "didReceiveData",
                                 "didFinishCollectingMetrics", "didCompleteWithError"});

  auto upload = f.upload();
  CHECK(upload.version == version);
  CHECK(upload.complete);
  CHECK(upload.bytes == f.body);
  checkResumedOnce(upload, dropAt);

  // What went on the wire, per version.
  std::vector<RecordedRequest> requests;
  for (const auto& request : f.server.requests())
    if (request.path.starts_with("/resumable-upload")) requests.push_back(request);
  REQUIRE(requests.size() == 3);
  for (const auto& request : requests) CHECK(request.header("Upload-Draft-Interop-Version") == std::to_string(version));
  const auto& creation = requests[0];
  const auto& patch = requests[2];
  if (version == 3) {
    CHECK(creation.header("Upload-Incomplete") == "?0");
    CHECK(patch.header("Upload-Incomplete") == "?0");
  } else {
    CHECK(creation.header("Upload-Complete") == "?1");
    CHECK(patch.header("Upload-Complete") == "?1");
  }
  CHECK(patch.header("Upload-Offset") == std::to_string(dropAt));
  if (version == 6) CHECK(patch.header("Content-Type") == "application/partial-upload");

  // totalBytesSent is the position in the body: it starts past the offset and ends at its length.
  auto totals = f.recorder->totals(resumed->taskIdentifier());
  REQUIRE_FALSE(totals.empty());
  CHECK(totals.front().first > static_cast<std::int64_t>(dropAt));
  CHECK(totals.back() == std::pair<std::int64_t, std::int64_t>(bodySize, bodySize));
  CHECK(resumed->countOfBytesSent() == static_cast<std::int64_t>(bodySize));
}

TEST_CASE("resumable upload: a Data body is kept in a temporary copy the resumed task removes") {
  Fixture f;
  auto first = f.session->uploadTask(f.post("/resumable-upload?drop_after=" + std::to_string(dropAt)), Data(f.body));
  auto failed = f.run(first);
  REQUIRE(failed.error);
  REQUIRE(failed.error->resumeData);
  auto files = f.filesInTmp();
  CHECK(std::count_if(files.begin(), files.end(), [](const std::string& name) {
          return name.starts_with("CFNetworkUpload_");
        }) == 1);

  Awaited<DataResult> result;
  auto resumed = f.session->uploadTaskWithResumeData(*failed.error->resumeData, handlerFor(result));
  resumed->resume();
  REQUIRE(result.wait());
  REQUIRE_FALSE(result.value->error);
  CHECK(statusOf(result.value->response) == 200);
  CHECK(result.value->data->view() == "stored " + std::to_string(bodySize) + " bytes");
  auto upload = f.upload();
  CHECK(upload.bytes == f.body);
  checkResumedOnce(upload, dropAt);
  CHECK(f.filesInTmp() == std::vector<std::string>{"body.bin"});
}

TEST_CASE("resumable upload: cancelByProducingResumeData mid-upload, then resumed") {
  // Larger than what the loopback buffers hold, so that the cancellation stops the upload.
  constexpr std::size_t size = 8 << 20;
  Fixture f(6, size);
  auto task = f.startSlowUpload();
  Awaited<std::optional<Data>> produced;
  task->cancelByProducingResumeData([&](std::optional<Data> data) { produced.set(std::move(data)); });
  REQUIRE(produced.wait());
  REQUIRE(*produced.value);
  REQUIRE(f.recorder->waitForCompletions(1));
  auto cancelled = f.recorder->completion(task->taskIdentifier());
  REQUIRE(cancelled.error);
  CHECK(cancelled.error->code == URLError::cancelled);
  CHECK(cancelled.error->resumeData == *produced.value);

  auto resumed = f.session->uploadTaskWithResumeData(**produced.value);
  auto done = f.run(resumed);
  REQUIRE_FALSE(done.error);
  CHECK(statusOf(done.response) == 200);
  auto upload = f.upload();
  CHECK(upload.bytes == f.body);
  REQUIRE(upload.requests.size() == 3);
  const auto heldAtCancel = upload.requests[0].bodyBytes;
  CHECK(heldAtCancel >= 100000);
  CHECK(heldAtCancel < size);
  checkResumedOnce(upload, heldAtCancel, size);
}

TEST_CASE("resumable upload: cancel() deletes the upload on the server") {
  constexpr std::size_t size = 8 << 20;
  Fixture f(6, size);
  auto task = f.startSlowUpload();
  task->cancel();
  REQUIRE(f.recorder->waitForCompletions(1));
  auto cancelled = f.recorder->completion(task->taskIdentifier());
  REQUIRE(cancelled.error);
  CHECK(cancelled.error->code == URLError::cancelled);
  CHECK_FALSE(cancelled.error->resumeData);
  bool deleted = false;
  for (int i = 0; i < 2000 && !deleted; ++i) {
    deleted = f.upload().deleted;
    if (!deleted) std::this_thread::sleep_for(5ms);
  }
  CHECK(deleted);
  CHECK(f.upload().requests.back().method == "DELETE");
  CHECK(f.upload().requests.back().status == 204);
}

TEST_CASE("resumable upload: a 409 on the PATCH continues from the offset the server holds") {
  Fixture f;
  // The first HEAD reports 1000 bytes fewer than the server holds: the PATCH there gets a 409.
  auto resumed = f.session->uploadTaskWithResumeData(
      f.interruptedUpload("?head_lag=1000&drop_after=" + std::to_string(dropAt)));
  auto done = f.run(resumed);
  REQUIRE_FALSE(done.error);
  CHECK(statusOf(done.response) == 200);
  auto upload = f.upload();
  CHECK(upload.bytes == f.body);
  REQUIRE(upload.requests.size() == 4);
  CHECK(upload.requests[1].method == "HEAD");
  CHECK(upload.requests[2].method == "PATCH");
  CHECK(upload.requests[2].offset == dropAt - 1000);
  CHECK(upload.requests[2].status == 409);
  CHECK(upload.requests[2].bodyBytes == 0);
  CHECK(upload.requests[3].offset == dropAt);
  CHECK(upload.requests[3].status == 200);
  CHECK(bodyBytesOf(upload) == bodySize);
  // The 409 is the resumption's own business: the delegate sees only the final response.
  CHECK(f.recorder->body(resumed->taskIdentifier()) == "stored " + std::to_string(bodySize) + " bytes");
}

TEST_CASE("resumable upload: an upload the server completed but whose response was lost ends with the HEAD's answer") {
  int version = 0;
  SUBCASE("version 3") { version = 3; }
  SUBCASE("version 6") { version = 6; }
  CAPTURE(version);
  Fixture f(version);
  auto resumed = f.session->uploadTaskWithResumeData(f.interruptedUpload("?lose_response=1"));
  auto done = f.run(resumed);
  REQUIRE_FALSE(done.error);
  CHECK(statusOf(done.response) == 204);  // the HEAD's: the POST's own answer is gone for good
  auto upload = f.upload();
  CHECK(upload.complete);
  CHECK(upload.bytes == f.body);
  // Nothing was sent again: no PATCH (the server would refuse one on a complete upload).
  REQUIRE(upload.requests.size() == 2);
  CHECK(upload.requests[1].method == "HEAD");
  CHECK(bodyBytesOf(upload) == bodySize);
  CHECK(resumed->countOfBytesSent() == static_cast<std::int64_t>(bodySize));
}

TEST_CASE("resumable upload: a resumed upload interrupted again gives resume data again") {
  Fixture f;
  auto second = f.session->uploadTaskWithResumeData(f.interruptedUpload("?drop_after=200000,600000"));
  auto failedAgain = f.run(second);
  REQUIRE(failedAgain.error);
  CHECK(failedAgain.error->code == URLError::networkConnectionLost);
  REQUIRE(failedAgain.error->resumeData);
  auto third = f.session->uploadTaskWithResumeData(*failedAgain.error->resumeData);
  auto done = f.run(third);
  REQUIRE_FALSE(done.error);
  auto upload = f.upload();
  CHECK(upload.bytes == f.body);
  CHECK(bodyBytesOf(upload) == bodySize);
  REQUIRE(upload.requests.size() == 5);
  CHECK(upload.requests[2].offset == 200000);
  CHECK(upload.requests[4].offset == 600000);
}

TEST_CASE("resumable upload: a server without the draft gives no resume data") {
  Fixture f;
  auto task = f.session->uploadTask(f.post("/resumable-upload?plain=1&drop_after=" + std::to_string(dropAt)),
                                    URL::fileURLWithPath(f.bodyPath));
  auto failed = f.run(task);
  REQUIRE(failed.error);
  CHECK(failed.error->code == URLError::networkConnectionLost);
  CHECK_FALSE(failed.error->resumeData);
  auto events = f.recorder->events(task->taskIdentifier());
  CHECK(std::find(events.begin(), events.end(), "didReceiveInformationalResponse") == events.end());

  // Cancelled for resume data, an upload the server did not make resumable gives none.
  auto slow = f.session->uploadTask(f.post("/resumable-upload?plain=1&pace_ms=10"), URL::fileURLWithPath(f.bodyPath));
  slow->resume();
  for (int i = 0; i < 2000 && slow->countOfBytesSent() < 100000; ++i) std::this_thread::sleep_for(5ms);
  Awaited<std::optional<Data>> produced;
  slow->cancelByProducingResumeData([&](std::optional<Data> data) { produced.set(std::move(data)); });
  REQUIRE(produced.wait());
  CHECK_FALSE(*produced.value);
}

TEST_CASE("resumable upload: resumableUploadInteropVersion 0 announces nothing") {
  Fixture f(0);
  auto task = f.session->uploadTask(f.post("/echo"), Data("hello"));
  auto done = f.run(task);
  REQUIRE_FALSE(done.error);
  auto echoed = parseEcho(f.recorder->body(task->taskIdentifier()));
  CHECK_FALSE(echoed.header("Upload-Draft-Interop-Version"));
  CHECK_FALSE(echoed.header("Upload-Complete"));
  CHECK(echoed.body == "hello");
}

TEST_CASE("resumable upload: resume data that cannot be used fails the task cleanly") {
  Fixture f;
  SUBCASE("garbage") {
    auto task = f.session->uploadTaskWithResumeData(Data("garbage, not resume data"));
    auto failed = f.run(task);
    REQUIRE(failed.error);
    CHECK(failed.error->code == URLError::cannotDecodeRawData);
    CHECK_FALSE(failed.error->failingURL);
  }
  SUBCASE("empty, with a completion handler") {
    Awaited<DataResult> result;
    auto task = f.session->uploadTaskWithResumeData(Data(), handlerFor(result));
    task->resume();
    REQUIRE(result.wait());
    REQUIRE(result.value->error);
    CHECK(result.value->error->code == URLError::cannotDecodeRawData);
  }
  SUBCASE("upload resume data whose body file is gone") {
    const Data resumeData = f.interruptedUpload("?drop_after=" + std::to_string(dropAt));
    SUBCASE("given to downloadTaskWithResumeData") {
      auto task = f.session->downloadTaskWithResumeData(resumeData);
      auto refused = f.run(task);
      REQUIRE(refused.error);
      CHECK(refused.error->code == URLError::cannotDecodeRawData);
    }
    SUBCASE("removed") {
      fs::remove(f.bodyPath);
      auto task = f.session->uploadTaskWithResumeData(resumeData);
      auto refused = f.run(task);
      REQUIRE(refused.error);
      CHECK(refused.error->code == URLError::cannotOpenFile);
    }
    SUBCASE("changed length") {
      std::ofstream(f.bodyPath, std::ios::binary | std::ios::app) << "more";
      auto task = f.session->uploadTaskWithResumeData(resumeData);
      auto refused = f.run(task);
      REQUIRE(refused.error);
      CHECK(refused.error->code == URLError::cannotOpenFile);
    }
    CHECK(f.upload().requests.size() == 1);  // nothing was sent for the refused tasks
  }
}

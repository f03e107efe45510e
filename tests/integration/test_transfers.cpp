// Download and upload tasks: files, progress, completion handlers, upload errors.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "Recorder.hpp"
#include "TestServer.hpp"

using namespace fntest;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("fntest-" + std::to_string(::getpid()) + "-" +
                                               std::to_string(reinterpret_cast<std::uintptr_t>(this)));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("a download task writes the body to a temporary file that is deleted afterwards") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  std::string location, contents;
  recorder->onDownloaded = [&](URLSessionDownloadTask&, const URL& url) {
    location = url.path();
    contents = contentsOf(location);
  };
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  auto task = session->downloadTask(URL(server.url("/bytes?n=3000000")));
  task->resume();
  REQUIRE(recorder->waitForCompletions(1));
  CHECK(recorder->events(task->taskIdentifier()) ==
        std::vector<std::string>{"didCreateTask", "didWriteData", "didFinishDownloadingTo",
                                 "didFinishCollectingMetrics", "didCompleteWithError"});
  CHECK(contents == pattern(0, 3000000));
  CHECK(recorder->bytesWritten(task->taskIdentifier()) == 3000000);
  CHECK(recorder->overlaps() == 0);
  CHECK_FALSE(location.empty());
  CHECK_FALSE(fs::exists(location));
  // Renamed away at once and unlinked off the delegate queue: soon nothing is left under any name.
  const auto discarded = location + ".discarded";
  for (int i = 0; i < 250 && fs::exists(discarded); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK_FALSE(fs::exists(discarded));
}

TEST_CASE("a download with unknown length reports -1 as the expected total") {
  TestServer server;
  struct Expectation : Recorder {
    std::atomic<std::int64_t> expected{0};
    void didWriteData(URLSession& s, URLSessionDownloadTask& t, std::int64_t w, std::int64_t total,
                      std::int64_t e) override {
      expected = e;
      Recorder::didWriteData(s, t, w, total, e);
    }
  };
  auto recorder = std::make_shared<Expectation>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  session->downloadTask(URL(server.url("/bytes?n=5000&chunked=1")))->resume();
  REQUIRE(recorder->waitForCompletions(1));
  CHECK(recorder->expected == -1);
}

TEST_CASE("a completion-handler download keeps the file valid during the handler") {
  TestServer server;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  Awaited<std::pair<std::string, std::string>> result;
  session->downloadTask(URL(server.url("/bytes?n=10000")),
      [&](std::optional<URL> location, std::shared_ptr<const URLResponse> response, std::optional<Error> error) {
        REQUIRE(location);
        CHECK_FALSE(error);
        CHECK(statusOf(response) == 200);
        result.set({location->path(), contentsOf(location->path())});
      })->resume();
  REQUIRE(result.wait());
  CHECK(result.value->second == pattern(0, 10000));
  // The file goes once the handler has returned.
  for (int i = 0; i < 100 && fs::exists(result.value->first); ++i) std::this_thread::sleep_for(10ms);
  CHECK_FALSE(fs::exists(result.value->first));
}

TEST_CASE("an upload from Data reports progress and gets the response body") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  URLRequest request(URL(server.url("/echo")));
  request.httpMethod = "PUT";
  std::string body = pattern(0, 1 << 20);
  auto task = session->uploadTask(request, Data(body));
  CHECK(task->countOfBytesExpectedToSend() == 1 << 20);
  task->resume();
  REQUIRE(recorder->waitForCompletions(1));
  CHECK(recorder->events(task->taskIdentifier()) ==
        std::vector<std::string>{"didCreateTask", "didSendBodyData", "didReceiveResponse", "didReceiveData",
                                 "didFinishCollectingMetrics", "didCompleteWithError"});
  auto echo = parseEcho(recorder->body(task->taskIdentifier()));
  CHECK(echo.method == "PUT");
  CHECK(echo.body == body);
  CHECK(task->countOfBytesSent() == 1 << 20);
}

TEST_CASE("an upload from a file sends the file; missing, directory and unreadable files fail") {
  TestServer server;
  TempDir dir;
  auto file = dir.path / "upload body.bin";
  std::ofstream(file, std::ios::binary) << pattern(0, 500000);
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  URLRequest request(URL(server.url("/echo")));
  request.httpMethod = "POST";

  Awaited<DataResult> sent;
  session->uploadTask(request, URL::fileURLWithPath(file.string()),
      [&](std::optional<Data> d, std::shared_ptr<const URLResponse> r, std::optional<Error> e) {
        sent.set({d, r, e});
      })->resume();
  REQUIRE(sent.wait());
  REQUIRE_FALSE(sent.value->error);
  CHECK(parseEcho(sent.value->data->view()).body == pattern(0, 500000));

  auto failWith = [&](const fs::path& path) {
    Awaited<DataResult> result;
    session->uploadTask(request, URL::fileURLWithPath(path.string()),
        [&](std::optional<Data> d, std::shared_ptr<const URLResponse> r, std::optional<Error> e) {
          result.set({d, r, e});
        })->resume();
    REQUIRE(result.wait());
    REQUIRE(result.value->error);
    return result.value->error->code;
  };
  CHECK(failWith(dir.path / "missing") == URLError::fileDoesNotExist);
  CHECK(failWith(dir.path) == URLError::fileIsDirectory);
  if (::geteuid() != 0) {  // root reads everything
    auto locked = dir.path / "locked";
    std::ofstream(locked) << "secret";
    fs::permissions(locked, fs::perms::none);
    CHECK(failWith(locked) == URLError::noPermissionsToReadFile);
  }
}

TEST_CASE("becomeDownload turns the rest of a data task into a download task") {
  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  recorder->disposition = URLSession::ResponseDisposition::becomeDownload;
  std::string contents;
  recorder->onDownloaded = [&](URLSessionDownloadTask&, const URL& url) { contents = contentsOf(url.path()); };
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  auto task = session->dataTask(URL(server.url("/bytes?n=700000")));
  task->resume();
  REQUIRE(recorder->waitForCompletions(1));
  auto download = recorder->becameDownload();
  REQUIRE(download);
  CHECK(download->taskIdentifier() != task->taskIdentifier());
  CHECK(recorder->events(task->taskIdentifier()) ==
        std::vector<std::string>{"didCreateTask", "didReceiveResponse", "didBecomeDownloadTask"});
  auto events = recorder->events(download->taskIdentifier());
  REQUIRE_FALSE(events.empty());
  CHECK(events.back() == "didCompleteWithError");
  CHECK(contents == pattern(0, 700000));
  CHECK(task->state() == URLSessionTask::State::completed);
  // The recorder holds the download task, which holds the session, which holds the recorder:
  // invalidating releases the delegate, as on Apple's platforms.
  session->finishTasksAndInvalidate();
  CHECK(recorder->waitForInvalidation());
}

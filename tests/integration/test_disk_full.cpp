// A download into a file system that fills up: cannotWriteToFile through the delegate, no file
// handed over, nothing left behind, and the next download that fits works.
#include <doctest/doctest.h>

#include <stdlib.h>

#include <algorithm>
#include <filesystem>

#include "Recorder.hpp"
#include "SmallFilesystem.hpp"
#include "TempFolder.hpp"
#include "TestServer.hpp"

using namespace fntest;
namespace fs = std::filesystem;

TEST_CASE("a download that fills the disk fails with cannotWriteToFile and leaves no file") {
  TempFolder folder("fntest-full");
  SmallFilesystem small(folder.path() / "tmp", 512 * 1024);
  if (!small.mounted()) {
    MESSAGE("cannot mount a tmpfs (not root): the disk-full download is not exercised");
    return;
  }
  // The session's temporary downloads go to TMPDIR, read when each file is made.
  const char* previous = ::getenv("TMPDIR");
  const std::string saved = previous ? previous : "";
  ::setenv("TMPDIR", (folder.path() / "tmp").c_str(), 1);

  TestServer server;
  auto recorder = std::make_shared<Recorder>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  auto big = session->downloadTask(URL(server.url("/bytes?n=2097152")));
  big->resume();
  REQUIRE(recorder->waitForCompletions(1));
  auto error = recorder->completion(big->taskIdentifier()).error;
  REQUIRE(error);
  CHECK(error->code == URLError::cannotWriteToFile);
  REQUIRE(error->failingURL);
  CHECK(error->failingURL->absoluteString() == server.url("/bytes?n=2097152"));
  auto events = recorder->events(big->taskIdentifier());
  CHECK(std::count(events.begin(), events.end(), "didFinishDownloadingTo") == 0);
  CHECK(fs::is_empty(folder.path() / "tmp"));

  auto small_download = session->downloadTask(URL(server.url("/bytes?n=100000")));
  recorder->keepsDownloads = true;
  small_download->resume();
  REQUIRE(recorder->waitForCompletions(2));
  CHECK_FALSE(recorder->completion(small_download->taskIdentifier()).error);
  CHECK(recorder->downloaded(small_download->taskIdentifier()).size() == 100000);
  session->invalidateAndCancel();

  if (previous) ::setenv("TMPDIR", saved.c_str(), 1);
  else ::unsetenv("TMPDIR");
}

// urlsessiond with a staging folder that fills up: the download that does not fit fails with
// cannotWriteToFile, its partial file goes, and the daemon goes on serving the next one.
#include <doctest/doctest.h>

#include <algorithm>

#include "../integration/Recorder.hpp"
#include "BackgroundFixture.hpp"
#include "SmallFilesystem.hpp"

using namespace fntest;

TEST_CASE("background: a download that fills the staging folder fails with cannotWriteToFile; the next one works") {
  BackgroundEnvironment env;
  // Partial and finished downloads live in staging/; the store stays on the roomy disk.
  SmallFilesystem small(env.root / "state" / "staging", 1024 * 1024);
  if (!small.mounted()) {
    MESSAGE("cannot mount a tmpfs (not root): the disk-full download is not exercised");
    return;
  }
  auto recorder = std::make_shared<Recorder>();
  recorder->keepsDownloads = true;
  auto session = URLSession::make(URLSessionConfiguration::background("disk-full"), recorder);
  auto big = session->downloadTask(URL(env.server.url("/bytes?n=3145728")));
  big->resume();
  REQUIRE(recorder->waitForCompletions(1, 30s));
  auto error = recorder->completion(big->taskIdentifier()).error;
  REQUIRE(error);
  CHECK(error->code == URLError::cannotWriteToFile);
  auto events = recorder->events(big->taskIdentifier());
  CHECK(std::count(events.begin(), events.end(), "didFinishDownloadingTo") == 0);

  auto fits = session->downloadTask(URL(env.server.url("/bytes?n=200000")));
  fits->resume();
  REQUIRE(recorder->waitForCompletions(2, 30s));
  CHECK_FALSE(recorder->completion(fits->taskIdentifier()).error);
  CHECK(recorder->downloaded(fits->taskIdentifier()) == pattern(0, 200000));
  // The failed download's partial file is gone (acknowledged events take their files along).
  std::this_thread::sleep_for(300ms);
  std::size_t left = 0;
  for (const auto& entry : fs::directory_iterator(env.root / "state" / "staging")) {
    (void)entry;
    ++left;
  }
  CHECK(left == 0);
  session->finishTasksAndInvalidate();
}

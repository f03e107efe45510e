// Issue 4's bad conditions against a real urlsessiond: a server that lies about Content-Length,
// an upload file that changes or vanishes around its snapshot, a daemon that restarts while the
// app is inside a delegate method.
#include <doctest/doctest.h>

#include "../integration/Recorder.hpp"
#include "BackgroundFixture.hpp"

using namespace fntest;

TEST_CASE("a completion replayed by a restarted daemon while the delegate still runs is not acknowledged early") {
  BackgroundEnvironment env;
  {
    // The app sits in didFinishDownloadingTo while the daemon is killed; the library reconnects
    // and the new daemon replays the completion; then the app dies inside the method.
    App app({"early-ack", "download", env.server.url("/bytes?n=50000"), "--exit-in-finish-after", "2500"});
    REQUIRE_FALSE(app.waitFor("in-finish").empty());
    env.killDaemon();
    app.wait();
  }
  App relaunched({"early-ack", "attach"});
  CHECK(relaunched.waitFor("downloaded") == "downloaded 1 50000 exact bg-app-download");
  CHECK(relaunched.waitFor("complete") == "complete 1 0 200");
}

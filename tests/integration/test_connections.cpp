// The engine's connections between transfers: a kept-alive connection stays watched while it is
// idle (engine/Multi.cpp, Multi::Socket), so what happens to it then must neither busy the loop
// nor confuse the next transfer; and sockets whose connect fails, which libcurl 7.88 closes
// before it says it stopped watching them, must not be watched after they are gone.
#include <doctest/doctest.h>

#include <sys/resource.h>

#include "Recorder.hpp"
#include "TestServer.hpp"

using namespace fntest;

namespace {

// CPU time this process (every thread of it) has used so far.
std::chrono::microseconds processCpuTime() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto micros = [](const timeval& t) { return std::chrono::seconds(t.tv_sec) + std::chrono::microseconds(t.tv_usec); };
  return micros(usage.ru_utime) + micros(usage.ru_stime);
}

}  // namespace

TEST_CASE("a connection the server closes while it is idle costs no CPU, and the next request opens a new one") {
  TestServer server;
  // A keep-alive response, then, once the client holds the connection idle, the server closes it.
  server.route("/closes-when-idle", [](const RecordedRequest&, Responder& out) {
    out.writeRaw("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nidle");
    out.sleepFor(100ms);
    out.close();
  });
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  auto first = load(session, URLRequest(URL(server.url("/closes-when-idle"))));
  REQUIRE_FALSE(first.error);
  CHECK(first.data->view() == "idle");

  // The end of the idle connection reaches the loop thread once; were the socket still watched
  // afterwards, the loop would wake for it again and again, a core's worth of CPU.
  const auto cpuBefore = processCpuTime();
  std::this_thread::sleep_for(600ms);
  const auto cpuUsed = processCpuTime() - cpuBefore;
  CHECK(cpuUsed < 150ms);

  auto second = load(session, URLRequest(URL(server.url("/hello"))));
  REQUIRE_FALSE(second.error);
  CHECK(second.data->view() == "Hello, world!");
  CHECK(server.connectionsAccepted() == 2);
  session->invalidateAndCancel();
}

// A refused connect fails at once, before curl watches the socket; a connect that times out is
// watched and then closed by curl before it says it stopped watching (see Multi::Socket).
TEST_CASE("connects that fail, between requests on a kept-alive connection, leave the session working") {
  TestServer server;
  UnansweredPort unanswered;
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  URLRequest refused(URL("http://127.0.0.1:" + std::to_string(closedPort()) + "/"));
  URLRequest unansweredRequest(URL("http://127.0.0.1:" + std::to_string(unanswered.port()) + "/"));
  unansweredRequest.setTimeoutInterval(0.1);
  for (int round = 0; round < 12; ++round) {
    const bool timesOut = round % 2 == 1;
    auto failed = load(session, timesOut ? unansweredRequest : refused);
    REQUIRE(failed.error);
    CHECK(failed.error->code == (timesOut ? URLError::timedOut : URLError::cannotConnectToHost));
    auto answered = load(session, URLRequest(URL(server.url("/hello"))));
    REQUIRE_FALSE(answered.error);
    CHECK(answered.data->view() == "Hello, world!");
  }
  CHECK(server.connectionsAccepted() == 1);
  session->invalidateAndCancel();
}

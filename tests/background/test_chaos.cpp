// Chaos: 50 background downloads and 20 background uploads while urlsessiond is SIGKILLed and
// restarted about every second and the app (chaos_app, a real process) is killed and relaunched,
// some of its launches dying inside a delegate method. Every transfer must end with its exact
// bytes (SHA-256 against what the server sent or received), and no completion may reach the app
// twice except after a delivery that the app did not live to acknowledge.
//
// The short form runs in the suite; FNTEST_CHAOS=long (the `chaos-long` meson suite) makes the
// transfers a few MiB each and the run longer.
#include <doctest/doctest.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <sstream>

#include "BackgroundFixture.hpp"
#include "Sha256.hpp"

using namespace fntest;

namespace {

struct ChaosShape {
  std::size_t downloads, uploads;
  std::size_t downloadSize, uploadSize;
  int paceMs;              // a download chunk every paceMs
  std::size_t chunk;
  int uploadAnswerMs;      // how long the server holds an upload's answer
  int appKills;            // SIGKILLs from the test, besides the launches that die in a delegate
  std::chrono::seconds limit;
};

ChaosShape shape() {
  const char* mode = std::getenv("FNTEST_CHAOS");
  if (mode && std::string(mode) == "long") return {50, 20, 3 << 20, 2 << 20, 40, 65536, 600, 5, std::chrono::seconds(400)};
  return {50, 20, 192 << 10, 128 << 10, 200, 32768, 400, 3, std::chrono::seconds(50)};
}

struct Delivery {
  std::string name;
  long pid = 0;
  std::int64_t ms = 0;
  int error = 0;
  int status = 0;
  std::string digest;
};

std::int64_t monotonicMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

TEST_CASE("chaos: background transfers survive daemon and app kills with exact bytes, each completion delivered once") {
  const ChaosShape s = shape();
  BackgroundEnvironment env("chaosapp");
  ::setenv("FOUNDATION_NET_MAX_TRANSFERS", "16", 1);
  const std::string session = "chaos";

  // Uploads: the server answers with the digest of the body it got, after holding it a while.
  std::atomic<std::uint64_t> uploadBytesReceived{0};
  env.server.route("/sink", [&](const RecordedRequest& r, Responder& out) {
    uploadBytesReceived += r.bodySize;
    if (!out.sleepFor(std::chrono::milliseconds(s.uploadAnswerMs))) return out.close();
    out.send(200, {{"Content-Type", "text/plain"}}, sha256Hex(r.body));
  });

  std::map<std::string, std::string> expected;  // name -> digest
  std::uint64_t resourceBytes = 0, uploadBytes = 0;
  {
    std::ofstream plan(env.root / "plan");
    for (std::size_t i = 0; i < s.downloads; ++i) {
      const std::size_t size = s.downloadSize + i * 1013;
      const std::string name = "d" + std::to_string(i);
      plan << "download " << name << " "
           << env.server.url("/bytes?n=" + std::to_string(size) + "&ranges=1&etag=c" + std::to_string(i) +
                             "&pace_ms=" + std::to_string(s.paceMs) + "&chunk=" + std::to_string(s.chunk))
           << "\n";
      expected[name] = sha256Hex(pattern(0, size));
      resourceBytes += size;
    }
    for (std::size_t i = 0; i < s.uploads; ++i) {
      const std::string name = "u" + std::to_string(i);
      const auto file = env.root / (name + ".body");
      const std::string body = pattern(i * 97 + 1, s.uploadSize + i * 1009);
      std::ofstream(file, std::ios::binary) << body;
      plan << "upload " << name << " " << env.server.url("/sink?name=" + name) << " " << file.string() << "\n";
      expected[name] = sha256Hex(body);
      uploadBytes += body.size();
    }
  }
  const auto log = env.root / "deliveries.log";
  const std::uint64_t sentBefore = env.server.bytesSent();

  // Launches: some die inside a delegate method, some are killed by the test, the last runs to the end.
  std::vector<std::vector<std::string>> dieOptions{
      {"--die-after", "2", "--die-in", "complete"}, {"--die-after", "1", "--die-in", "finish"}};
  std::mt19937 random(12345);
  std::map<long, std::int64_t> deathOf;  // pid -> when it died (killed or exited inside a delegate)
  std::atomic<int> daemonKills{0};
  int appKills = 0, appDeathsInDelegate = 0, launches = 0;
  auto launch = [&] {
    std::vector<std::string> arguments{session, (env.root / "plan").string(), log.string()};
    if (launches < static_cast<int>(dieOptions.size()))
      arguments.insert(arguments.end(), dieOptions[launches].begin(), dieOptions[launches].end());
    ++launches;
    auto app = std::make_unique<App>(arguments, CHAOS_APP_PATH);
    REQUIRE_FALSE(app->waitFor("created", 30s).empty());  // every task exists (the test kills only after)
    return app;
  };
  const auto start = std::chrono::steady_clock::now();
  // The daemon dies about every second, whatever the app is doing, and is started again at once.
  std::atomic<bool> stop{false};
  std::thread killer([&] {
    std::mt19937 jitter(54321);
    while (!stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(700 + jitter() % 600));
      if (stop) break;
      if (env.daemonPid() > 0) {
        env.killDaemon();
        ++daemonKills;
      }
      env.startDaemon();
    }
  });
  auto app = launch();
  auto nextAppKill = start + 2500ms;
  bool finished = false;
  while (std::chrono::steady_clock::now() - start < s.limit) {
    std::this_thread::sleep_for(50ms);
    if (!app->running()) {
      if (app->count("all-delivered") > 0) {
        finished = true;
        break;
      }
      deathOf[app->pid()] = monotonicMillis();
      ++appDeathsInDelegate;
      app = launch();
    }
    const auto now = std::chrono::steady_clock::now();
    if (appKills < s.appKills && now >= nextAppKill) {
      deathOf[app->pid()] = monotonicMillis();
      app->kill9();
      ++appKills;
      app = launch();
      nextAppKill = now + std::chrono::milliseconds(2000 + random() % 3000);
    }
  }
  stop = true;
  killer.join();
  REQUIRE_MESSAGE(finished, "not every transfer was delivered within the time limit");

  // What reached the app, launch by launch: the downloaded files, and the completions.
  std::map<std::string, std::vector<Delivery>> files, completions;
  std::map<std::string, long> diedIn;  // name -> pid of the launch that died inside its delegate
  for (const auto& line : logLines(log)) {
    std::istringstream fields(line);
    std::string word;
    Delivery d;
    fields >> word >> d.name >> d.pid >> d.ms;
    if (word == "dying") diedIn[d.name] = d.pid;
    if (word == "downloaded") {
      fields >> d.digest;
      files[d.name].push_back(d);
    }
    if (word == "delivered") {
      fields >> d.error >> d.status >> d.digest;
      completions[d.name].push_back(d);
    }
  }
  int duplicates = 0, redeliveries = 0, wrong = 0;
  // A second delivery is allowed only when the launch that had the first never acknowledged it:
  // it died inside a delegate method of that task, or was killed within a few seconds after.
  auto countRepeats = [&](const std::string& name, const std::vector<Delivery>& list) {
    for (std::size_t k = 1; k < list.size(); ++k) {
      const auto& before = list[k - 1];
      const bool unacknowledged =
          list[k].pid != before.pid && ((diedIn.count(name) && diedIn[name] == before.pid) ||
                                        (deathOf.count(before.pid) && deathOf[before.pid] - before.ms < 5000));
      if (unacknowledged) {
        ++redeliveries;
      } else {
        ++duplicates;
        MESSAGE(name << " delivered again in " << list[k].pid << " after " << before.pid << " had it");
      }
    }
  };
  for (const auto& [name, digest] : expected) {
    const bool download = name[0] == 'd';
    CHECK_MESSAGE(!completions[name].empty(), name << " was never delivered");
    if (download) CHECK_MESSAGE(!files[name].empty(), name << ": no file was delivered");
    for (const auto& d : files[name])
      if (d.digest != digest) {
        ++wrong;
        MESSAGE(name << ": a file with digest " << d.digest);
      }
    for (const auto& d : completions[name])
      if (d.error != 0 || (d.status != 200 && d.status != 206) || (!download && d.digest != digest)) {
        ++wrong;
        MESSAGE(name << ": error " << d.error << ", status " << d.status << ", body " << d.digest);
      }
    countRepeats(name, files[name]);
    countRepeats(name, completions[name]);
  }
  for (const auto& [name, list] : completions)
    if (!expected.count(name)) {
      ++wrong;
      MESSAGE("a completion nobody asked for: " << name);
    }

  // Nothing is left to deliver: a fresh launch gets no completion.
  env.killDaemon();
  const auto linesBefore = logLines(log).size();
  {
    App last({session, (env.root / "plan").string(), log.string()}, CHAOS_APP_PATH);
    CHECK(last.waitFor("all-delivered", 20s) == "all-delivered");
    CHECK(last.waitFor("created") == "created 0");
    last.wait();
  }
  std::this_thread::sleep_for(500ms);  // a late completion would have been logged by now
  CHECK(logLines(log).size() == linesBefore);

  const auto sent = static_cast<std::int64_t>(env.server.bytesSent() - sentBefore);
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto resent = sent - static_cast<std::int64_t>(resourceBytes);
  const auto uploadsResent = static_cast<std::int64_t>(uploadBytesReceived.load() - uploadBytes);
  const char* mode = std::getenv("FNTEST_CHAOS");
  MESSAGE("chaos (" << std::string(mode ? mode : "short") << "): " << s.downloads << " downloads, " << s.uploads << " uploads in "
          << seconds << " s; kills survived: daemon " << daemonKills.load() << ", app " << appKills << " + "
          << appDeathsInDelegate << " inside a delegate; bytes re-sent by the server beyond the resources (heads "
          << "included): " << resent << " (of " << resourceBytes << "); upload bytes received beyond the files: "
          << uploadsResent << " (of " << uploadBytes << "); re-deliveries of unacknowledged completions: "
          << redeliveries << "; duplicates: " << duplicates << "; wrong: " << wrong);
  CHECK(duplicates == 0);
  CHECK(wrong == 0);
  CHECK(daemonKills.load() >= 5);
}

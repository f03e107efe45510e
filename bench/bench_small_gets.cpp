// bench-small-gets: many small GETs of /hello (13 bytes) over keep-alive loopback connections,
// with a fixed number in flight, through
//   raw       the reference client (libcurl multi + libuv, bench/raw_multi_client.cpp)
//   handler   URLSession, dataTask(url, completionHandler); each handler starts the next task
//   delegate  URLSession with a URLSessionDataDelegate; each didCompleteWithError starts the next
//   raw-libopts  (diagnostic) the raw client with the easy options foundation_net sets (request
//             headers, Accept-Encoding, header callback, 256 KiB buffer…): how much of the gap is
//             curl's configuration rather than the library's own work
// All of them use the same in-process fntest::TestServer and at most --in-flight connections.
// Rounds are interleaved (raw, handler, delegate, raw-libopts, raw, …) after one warm-up round
// of each; the headline is the median round, the best round is printed too, and so is the
// process's CPU time per request, which other load on the machine disturbs much less.
//
//   bench-small-gets [--requests 20000] [--in-flight 16] [--rounds 3] [--warmup 2000]
//                    [--only raw|handler|delegate|raw-libopts] [--server-url http://127.0.0.1:PORT]
// --only and --server-url (a server already running, e.g. build/tests/support/fntest-server)
// are for profiling the client alone.
#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <exception>
#include <future>
#include <memory>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include <foundation_net/foundation_net.hpp>

#include "TestServer.hpp"
#include "bench_util.hpp"
#include "raw_multi_client.hpp"

using namespace foundation;

namespace {

constexpr std::size_t helloLength = 13;

struct RoundResult {
  double seconds = 0;
  std::size_t ok = 0, failed = 0;
  int connections = 0;        // accepted by the server during the round
  double cpuSeconds = 0;      // user + system time of the whole process (server included)
  long contextSwitches = 0;   // voluntary + involuntary, whole process
  long pageFaults = 0;        // minor + major, whole process: memory the allocator gave back and took again
  double rate() const { return seconds > 0 ? static_cast<double>(ok) / seconds : 0; }
};

struct Usage {
  double cpu;
  long switches;
  long faults;
  static Usage now() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    auto secs = [](timeval t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    return {secs(u.ru_utime) + secs(u.ru_stime), u.ru_nvcsw + u.ru_nivcsw, u.ru_minflt + u.ru_majflt};
  }
};

bool isGood(const std::shared_ptr<const URLResponse>& response, std::size_t bytes,
            const std::optional<Error>& error) {
  auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(response);
  return !error && http && http->statusCode() == 200 && bytes == helloLength;
}

void reportFailure(const char* variant, const std::optional<Error>& error) {
  if (error) {
    fmt::print(stderr, "{}: task failed: {} ({})\n", variant, error->localizedDescription, error->code);
  } else {
    fmt::print(stderr, "{}: unexpected response\n", variant);
  }
}

// ---- completion handlers -------------------------------------------------------------------

class HandlerRun : public std::enable_shared_from_this<HandlerRun> {
 public:
  HandlerRun(std::shared_ptr<URLSession> session, URL url, std::size_t total)
      : session_(std::move(session)), url_(std::move(url)), total_(total) {}

  RoundResult run(std::size_t inFlight) {
    auto done = done_.get_future();
    const auto start = bench::Clock::now();
    for (std::size_t i = 0; i < inFlight; ++i) startNext();
    bench::waitOrDie(done, "handler round");
    RoundResult r;
    r.seconds = bench::secondsSince(start);
    r.ok = ok_;
    r.failed = failed_;
    return r;
  }

 private:
  void startNext() {
    if (started_.fetch_add(1) >= total_) return;
    auto self = shared_from_this();
    session_->dataTask(url_, [self](std::optional<Data> data, std::shared_ptr<const URLResponse> response,
                                    std::optional<Error> error) {
      if (isGood(response, data ? data->size() : 0, error)) {
        ++self->ok_;
      } else if (self->failed_++ == 0) {
        reportFailure("handler", error);
      }
      self->startNext();
      if (self->finished_.fetch_add(1) + 1 == self->total_) self->done_.set_value();
    })->resume();
  }

  std::shared_ptr<URLSession> session_;
  URL url_;
  std::size_t total_;
  std::atomic<std::size_t> started_{0}, finished_{0}, ok_{0}, failed_{0};
  std::promise<void> done_;
};

// ---- delegate ------------------------------------------------------------------------------

class CountingDelegate final : public URLSessionDataDelegate {
 public:
  explicit CountingDelegate(URL url) : url_(std::move(url)) {}

  RoundResult run(URLSession& session, std::size_t total, std::size_t inFlight) {
    total_ = total;
    started_ = finished_ = ok_ = failed_ = 0;
    done_ = std::promise<void>();
    auto done = done_.get_future();
    const auto start = bench::Clock::now();
    for (std::size_t i = 0; i < inFlight; ++i) startNext(session);
    bench::waitOrDie(done, "delegate round");
    RoundResult r;
    r.seconds = bench::secondsSince(start);
    r.ok = ok_;
    r.failed = failed_;
    return r;
  }

  // Delegate calls of one session run one at a time (on its serial delegate queue), so the
  // per-task byte counts need no lock.
  void didReceiveData(URLSession&, URLSessionDataTask& task, const Data& data) override {
    bytes_[task.taskIdentifier()] += data.size();
  }

  void didCompleteWithError(URLSession& session, URLSessionTask& task,
                            const std::optional<Error>& error) override {
    std::size_t bytes = 0;
    if (auto it = bytes_.find(task.taskIdentifier()); it != bytes_.end()) {
      bytes = it->second;
      bytes_.erase(it);
    }
    if (isGood(task.response(), bytes, error)) {
      ++ok_;
    } else if (failed_++ == 0) {
      reportFailure("delegate", error);
    }
    startNext(session);
    if (finished_.fetch_add(1) + 1 == total_) done_.set_value();
  }

 private:
  void startNext(URLSession& session) {
    if (started_.fetch_add(1) >= total_) return;
    session.dataTask(url_)->resume();
  }

  URL url_;
  std::size_t total_ = 0;
  std::atomic<std::size_t> started_{0}, finished_{0}, ok_{0}, failed_{0};
  std::unordered_map<std::uint64_t, std::size_t> bytes_;
  std::promise<void> done_;
};

}  // namespace

int main(int argc, char** argv) try {
  bench::Args args(argc, argv);
  const std::size_t requests = args.number("--requests", 20000);
  const std::size_t inFlight = args.number("--in-flight", 16);
  const std::size_t rounds = args.number("--rounds", 3);
  const std::size_t warmup = args.number("--warmup", 2000);
  const std::string only = args.take("--only").value_or("");  // one variant only (for profiling)
  // --no-url-cache: sessions without URLCache, to see what consulting and filling it costs.
  const bool noURLCache = args.flag("--no-url-cache");

  // --server-url BASE: use a server that runs elsewhere (such as fntest-server), so that a
  // profiler sees the client alone. The benchmark proper uses the in-process server.
  const auto externalServer = args.take("--server-url");
  args.finish();
  std::optional<fntest::TestServer> server;
  if (!externalServer) {
    server.emplace();
    server->setRecordsRequests(false);  // the log's copying would grow with the client's header lines
  }
  const std::string url = externalServer ? *externalServer + "/hello" : server->url("/hello");
  fmt::print("small GETs: {} x GET {} ({} bytes), {} in flight, {} rounds after a {}-request warm-up\n",
             requests, url, helloLength, inFlight, rounds, warmup);
  fmt::print("load average at start: {}", bench::loadAverage());
  fmt::print("CPU and context switches are the whole process's{}\n",
             server ? ", the in-process server included" : " (the server runs elsewhere)");

  bench::RawOptions rawOptions;
  rawOptions.maxHostConnections = static_cast<long>(inFlight);
  bench::RawMultiClient raw(rawOptions);
  rawOptions.libraryEasyOptions = true;
  bench::RawMultiClient rawLibraryOptions(rawOptions);

  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.httpMaximumConnectionsPerHost = static_cast<int>(inFlight);
  if (noURLCache) configuration.urlCache = nullptr;
  auto handlerSession = URLSession::make(configuration);
  auto delegate = std::make_shared<CountingDelegate>(URL(url));
  auto delegateSession = URLSession::make(configuration, delegate);

  auto runRawWith = [&](bench::RawMultiClient& client, std::size_t n) {
    auto r = client.run(url, n, inFlight);
    RoundResult out;
    out.seconds = r.seconds;
    out.ok = r.completed;
    out.failed = r.failed + (r.bytes != r.completed * helloLength ? 1 : 0);
    return out;
  };
  auto runRaw = [&](std::size_t n) { return runRawWith(raw, n); };
  auto runRawLibraryOptions = [&](std::size_t n) { return runRawWith(rawLibraryOptions, n); };
  auto runHandler = [&](std::size_t n) {
    return std::make_shared<HandlerRun>(handlerSession, URL(url), n)->run(inFlight);
  };
  auto runDelegate = [&](std::size_t n) { return delegate->run(*delegateSession, n, inFlight); };

  struct Variant {
    Variant(std::string n, std::function<RoundResult(std::size_t)> r) : name(std::move(n)), run(std::move(r)) {}
    std::string name;
    std::function<RoundResult(std::size_t)> run;
    std::vector<double> rates;
    std::vector<double> cpuPerRequest;  // microseconds
    std::size_t failed = 0;
  };
  std::vector<Variant> variants = {{"raw", runRaw},
                                   {"handler", runHandler},
                                   {"delegate", runDelegate},
                                   {"raw-libopts", runRawLibraryOptions}};
  if (!only.empty()) {
    std::erase_if(variants, [&](const Variant& v) { return v.name != only; });
    if (variants.empty()) throw std::invalid_argument("--only: raw, handler, delegate or raw-libopts");
  }

  for (auto& v : variants) {
    auto r = v.run(warmup);
    v.failed += r.failed;
  }
  for (std::size_t round = 1; round <= rounds; ++round) {
    for (auto& v : variants) {
      if (server) server->resetCounters();
      const auto before = Usage::now();
      auto r = v.run(requests);
      const auto after = Usage::now();
      r.connections = server ? server->connectionsAccepted() : -1;
      r.cpuSeconds = after.cpu - before.cpu;
      r.contextSwitches = after.switches - before.switches;
      r.pageFaults = after.faults - before.faults;
      v.rates.push_back(r.rate());
      v.cpuPerRequest.push_back(r.cpuSeconds * 1e6 / static_cast<double>(requests));
      v.failed += r.failed;
      const double n = static_cast<double>(requests);
      fmt::print("  round {}  {:<11} {:>7.0f} req/s  ({:.3f} s, {:.1f} us CPU/req, {:.2f} ctx switches/req, "
                 "{:.3f} page faults/req, {} ok, {} failed, {} new connections)\n",
                 round, v.name, r.rate(), r.seconds, r.cpuSeconds * 1e6 / n,
                 static_cast<double>(r.contextSwitches) / n, static_cast<double>(r.pageFaults) / n, r.ok, r.failed,
                 r.connections);
      std::fflush(stdout);
    }
  }

  fmt::print("load average at end: {}", bench::loadAverage());
  handlerSession->finishTasksAndInvalidate();
  delegateSession->finishTasksAndInvalidate();
  bool failures = false;
  for (auto& v : variants) failures = failures || v.failed > 0;
  // A benchmark fails only when requests fail; a missed target is reported, not an error.
  if (!only.empty()) return failures ? 1 : 0;

  const double rawMedian = bench::median(variants[0].rates);
  const double rawCpu = bench::median(variants[0].cpuPerRequest);
  fmt::print("\n{:<12} {:>13} {:>11} {:>14} {:>17} {:>16} {:>9}\n", "variant", "median req/s", "best req/s",
             "median vs raw", "median CPU us/req", "raw CPU / this", "failures");
  for (auto& v : variants) {
    const double cpu = bench::median(v.cpuPerRequest);
    fmt::print("{:<12} {:>13.0f} {:>11.0f} {:>13.3f}x {:>17.1f} {:>15.3f}x {:>9}\n", v.name, bench::median(v.rates),
               bench::best(v.rates), rawMedian > 0 ? bench::median(v.rates) / rawMedian : 0.0, cpu,
               cpu > 0 ? rawCpu / cpu : 0.0, v.failed);
  }
  const double target = 0.85;
  for (std::size_t i = 1; i < 3; ++i) {
    const double ratio = rawMedian > 0 ? bench::median(variants[i].rates) / rawMedian : 0;
    fmt::print("target URLSession/raw >= {:.2f}x ({}): {:.3f}x -> {}\n", target, variants[i].name, ratio,
               ratio >= target ? "met" : "MISSED");
  }
  return failures ? 1 : 0;
} catch (const std::exception& error) {
  std::fprintf(stderr, "bench-small-gets: %s\n", error.what());
  return 2;
}

// bench-download: one large body (default 1 GiB of /bytes) from the out-of-process fntest-server,
// through
//   curl-null      the curl tool: curl -s -o /dev/null URL               (subprocess, wall time)
//   curl-file      the curl tool writing a real file in the temp dir       (subprocess, wall time)
//   download-task  URLSession download task to a file; didFinishDownloadingTo ignores the file
//   data-delegate  URLSession data task, URLSessionDataDelegate::didReceiveData discarding
//   data-delegate-hashing  the same, but didReceiveData hashes the body (FNV-1a over 8-byte words,
//                  about as much CPU as the network thread spends on it), as a delegate that
//                  processes its data does; no target: it shows how far the delegate queue's work
//                  overlaps the network thread's
//   raw            the reference client (bench/raw_multi_client.cpp), CURLOPT_BUFFERSIZE 256 KiB
//   raw-copy       raw, copying each chunk into alternating 256 KiB buffers on its loop thread:
//                  the library's one copy without its threads (diagnostic, no target)
// The last four each run in a fresh child process (this executable re-executed with
// --variant NAME), which reports its throughput and its peak RSS (VmHWM) — so the server's and
// the other variants' memory never count. Rounds are interleaved; the headline is the median.
// data-delegate, raw and raw-copy, a fraction of a second each, run in more rounds
// (--data-rounds): on a small machine whose server shares the CPUs, single runs of any of them
// vary two- to threefold with where the scheduler puts the threads (bench/README.md), and three
// samples give a coin toss.
// Files go to a fresh directory under $TMPDIR (or /tmp), which the children get as TMPDIR,
// so the download task's temporary file and curl's output share one file system.
//
// The server runs at a nice value 19 above the benchmark's (--server-nice): on a machine with
// two CPUs, a client made of more than one thread (the network thread and the delegate queue)
// otherwise competes with the server for them, which a server on another machine never does.
//
//   bench-download [--size BYTES] [--rounds 3] [--data-rounds 9] [--server PATH] [--server-nice 19]
//   bench-download --variant download-task|data-delegate|data-delegate-hashing|raw|raw-copy --url URL --size BYTES   (child)
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <foundation_net/foundation_net.hpp>

#include "bench_util.hpp"
#include "raw_multi_client.hpp"

using namespace foundation;

namespace {

// ---- child side ----------------------------------------------------------------------------

struct ChildReport {
  std::uint64_t bytes = 0;
  std::uint64_t chunks = 0;  // didReceiveData calls / write callbacks / didWriteData calls
  double seconds = 0;       // resume → last message (didCompleteWithError)
  double fileSeconds = -1;  // resume → didFinishDownloadingTo (download task only)
  bool ok = false;
};

class DownloadDelegate final : public URLSessionDownloadDelegate {
 public:
  explicit DownloadDelegate(bench::Clock::time_point& start) : start_(start) {}
  std::promise<void> done;
  ChildReport report;

  void didFinishDownloadingTo(URLSession&, URLSessionDownloadTask& task, const URL& location) override {
    report.fileSeconds = bench::secondsSince(start_);
    struct stat st {};
    if (::stat(location.path().c_str(), &st) == 0) report.bytes = static_cast<std::uint64_t>(st.st_size);
    auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(task.response());
    report.ok = http && http->statusCode() == 200;
    // The session deletes the file when this returns.
  }
  void didWriteData(URLSession&, URLSessionDownloadTask&, std::int64_t, std::int64_t, std::int64_t) override {
    ++report.chunks;
  }
  void didCompleteWithError(URLSession&, URLSessionTask&, const std::optional<Error>& error) override {
    report.seconds = bench::secondsSince(start_);
    if (error) {
      fmt::print(stderr, "download-task: {} ({})\n", error->localizedDescription, error->code);
      report.ok = false;
    }
    done.set_value();
  }

 private:
  bench::Clock::time_point& start_;
};

class DiscardingDataDelegate final : public URLSessionDataDelegate {
 public:
  DiscardingDataDelegate(bench::Clock::time_point& start, bool hashesBytes) : start_(start), hashesBytes_(hashesBytes) {}
  std::promise<void> done;
  ChildReport report;
  std::uint64_t hash = 14695981039346656037ULL;  // of the body so far (data-delegate-hashing)

  void didReceiveData(URLSession&, URLSessionDataTask&, const Data& data) override {
    if (hashesBytes_) {
      const std::uint8_t* bytes = data.bytes();
      for (std::size_t i = 0, n = data.size(); i + 8 <= n; i += 8) {
        std::uint64_t word;
        std::memcpy(&word, bytes + i, 8);
        hash = (hash ^ word) * 1099511628211ULL;
      }
    }
    report.bytes += data.size();
    ++report.chunks;
  }
  void didCompleteWithError(URLSession&, URLSessionTask& task, const std::optional<Error>& error) override {
    report.seconds = bench::secondsSince(start_);
    auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(task.response());
    report.ok = !error && http && http->statusCode() == 200;
    if (error) fmt::print(stderr, "data-delegate: {} ({})\n", error->localizedDescription, error->code);
    done.set_value();
  }

 private:
  bench::Clock::time_point& start_;
  const bool hashesBytes_;
};

template <class Delegate, class MakeTask, class... DelegateArguments>
ChildReport runSessionVariant(MakeTask makeTask, DelegateArguments... arguments) {
  bench::Clock::time_point start;
  auto delegate = std::make_shared<Delegate>(start, arguments...);
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), delegate);
  auto finished = delegate->done.get_future();
  auto task = makeTask(*session);
  start = bench::Clock::now();
  task->resume();
  bench::waitOrDie(finished, "session download");
  session->finishTasksAndInvalidate();
  return delegate->report;
}

int runChildVariant(const std::string& variant, const std::string& url, std::uint64_t size) {
  const long rssBefore = bench::statusKiB("VmRSS");
  ChildReport report;
  if (variant == "download-task") {
    report = runSessionVariant<DownloadDelegate>([&](URLSession& s) { return s.downloadTask(URL(url)); });
  } else if (variant == "data-delegate" || variant == "data-delegate-hashing") {
    report = runSessionVariant<DiscardingDataDelegate>([&](URLSession& s) { return s.dataTask(URL(url)); },
                                                       variant == "data-delegate-hashing");
  } else if (variant == "raw" || variant == "raw-copy") {
    bench::RawOptions options;
    options.copyBody = variant == "raw-copy";
    options.bufferSize = 256 * 1024;  // at least the library's receive buffer (120 KiB, HTTPProtocol.cpp)
    bench::RawMultiClient raw(options);
    auto r = raw.run(url, 1, 1);
    report.bytes = r.bytes;
    report.seconds = r.seconds;
    report.chunks = r.writes;
    report.ok = r.completed == 1;
  } else {
    fmt::print(stderr, "unknown variant {}\n", variant);
    return 2;
  }
  report.ok = report.ok && report.bytes == size;
  fmt::print("RESULT ok={} bytes={} chunks={} seconds={:.6f} file_seconds={:.6f} hwm_kib={} rss_before_kib={}\n",
             report.ok ? 1 : 0, report.bytes, report.chunks, report.seconds, report.fileSeconds,
             bench::statusKiB("VmHWM"), rssBefore);
  std::fflush(stdout);
  return report.ok ? 0 : 1;
}

// ---- parent side ---------------------------------------------------------------------------

struct Sample {
  double seconds = 0;        // the variant's time (see the header)
  double fileSeconds = -1;   // download task: resume → didFinishDownloadingTo (file complete)
  double curlOwnSeconds = -1;  // curl: its own %{time_total}
  long peakKiB = 0;          // VmHWM (children) or ru_maxrss (curl)
  long beforeKiB = -1;       // VmRSS before the transfer (children)
  std::uint64_t chunks = 0;  // body chunks the client saw (children)
  double cpuSeconds = 0;     // user + system CPU of the whole child process (wait4)
  std::size_t round = 0;
};

struct VariantStats {
  std::string name;
  std::vector<Sample> samples;
  int failures = 0;

  template <class Seconds>
  std::vector<double> rates(std::uint64_t size, Seconds seconds) const {
    std::vector<double> out;
    for (const auto& s : samples) {
      double t = seconds(s);
      if (t > 0) out.push_back(static_cast<double>(size) / t / 1e6);
    }
    return out;
  }
  std::vector<double> rates(std::uint64_t size) const {
    return rates(size, [](const Sample& s) { return s.seconds; });
  }
  long peakKiB() const {
    long p = 0;
    for (const auto& s : samples) p = std::max(p, s.peakKiB);
    return p;
  }
  long beforeKiB() const {
    long b = -1;
    for (const auto& s : samples) b = std::max(b, s.beforeKiB);
    return b;
  }
  double medianCpu() const {
    std::vector<double> cpu;
    for (const auto& s : samples) cpu.push_back(s.cpuSeconds);
    return bench::median(cpu);
  }
};

std::optional<Sample> runCurl(const std::string& url, const std::string& output, std::uint64_t size) {
  auto r = bench::runChild({"curl", "-s", "-o", output, "-w", "size=%{size_download} total=%{time_total}\n", url});
  auto bytes = bench::field(r.output, "size");
  if (r.exitStatus != 0 || !bytes || static_cast<std::uint64_t>(*bytes) != size) {
    fmt::print(stderr, "curl -o {} failed (exit {}): {}\n", output, r.exitStatus, r.output);
    return std::nullopt;
  }
  if (output != "/dev/null") {
    std::error_code ec;
    if (std::filesystem::file_size(output, ec) != size) {
      fmt::print(stderr, "curl wrote a file of the wrong size\n");
      return std::nullopt;
    }
    std::filesystem::remove(output, ec);  // not timed
  }
  Sample s;
  s.seconds = r.seconds;
  s.curlOwnSeconds = bench::field(r.output, "total").value_or(-1);
  s.peakKiB = r.maxRssKiB;
  s.cpuSeconds = r.cpuSeconds;
  return s;
}

std::optional<Sample> runSelf(const std::string& variant, const std::string& url, std::uint64_t size) {
  auto r = bench::runChild({bench::selfPath(), "--variant", variant, "--url", url, "--size", std::to_string(size)});
  auto line = r.output.substr(std::min(r.output.find("RESULT"), r.output.size()));
  auto ok = bench::field(line, "ok");
  if (r.exitStatus != 0 || !ok || *ok != 1) {
    fmt::print(stderr, "{} failed (exit {}): {}\n", variant, r.exitStatus, r.output);
    return std::nullopt;
  }
  Sample s;
  s.seconds = bench::field(line, "seconds").value_or(0);
  s.fileSeconds = bench::field(line, "file_seconds").value_or(-1);
  s.peakKiB = static_cast<long>(bench::field(line, "hwm_kib").value_or(0));
  s.beforeKiB = static_cast<long>(bench::field(line, "rss_before_kib").value_or(-1));
  s.chunks = static_cast<std::uint64_t>(bench::field(line, "chunks").value_or(0));
  s.cpuSeconds = r.cpuSeconds;
  return s;
}

std::string makeTempDirectory() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/fn-bench-download-XXXXXX";
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

int runParent(const std::string& serverPath, int serverNice, std::uint64_t size, std::size_t rounds,
              std::size_t dataRounds) {
  bench::ServerProcess server(serverPath, serverNice);
  const std::string url = server.url(fmt::format("/bytes?n={}", size));
  const std::string dir = makeTempDirectory();
  setenv("TMPDIR", dir.c_str(), 1);  // the children's download files land here too
  dataRounds = std::max(rounds, dataRounds);
  fmt::print("download: GET {} ({:.1f} MiB), {} rounds ({} of data-delegate, raw and raw-copy), files in {}\n", url,
             static_cast<double>(size) / 1048576.0, rounds, dataRounds, dir);
  fmt::print("server niceness +{} (--server-nice); load average at start: {}", serverNice, bench::loadAverage());
  fmt::print("MB/s = 10^6 bytes/s. curl: wall time from fork to exit. Others: resume() to didCompleteWithError in a "
             "fresh child process;\n'download-task' includes the session deleting the downloaded file after "
             "didFinishDownloadingTo, 'download-task@file' stops the clock at didFinishDownloadingTo\n");

  std::vector<VariantStats> stats = {{"curl-null", {}, 0},     {"curl-file", {}, 0}, {"download-task", {}, 0},
                                     {"data-delegate", {}, 0}, {"raw", {}, 0},      {"data-delegate-hashing", {}, 0},
                                     {"raw-copy", {}, 0}};
  const auto isDataPair = [](const VariantStats& v) {
    return v.name == "data-delegate" || v.name == "raw" || v.name == "raw-copy";
  };
  for (std::size_t round = 1; round <= dataRounds; ++round) {
    for (auto& v : stats) {
      if (round > rounds && !isDataPair(v)) continue;
      std::optional<Sample> s;
      if (v.name == "curl-null") {
        s = runCurl(url, "/dev/null", size);
      } else if (v.name == "curl-file") {
        s = runCurl(url, dir + "/curl.out", size);
      } else {
        s = runSelf(v.name, url, size);
      }
      if (!s) {
        ++v.failures;
        continue;
      }
      s->round = round;
      v.samples.push_back(*s);
      const double rate = static_cast<double>(size) / s->seconds / 1e6;
      std::string extra;
      if (s->curlOwnSeconds > 0) extra += fmt::format(", curl's own time_total {:.3f} s", s->curlOwnSeconds);
      if (s->fileSeconds > 0)
        extra += fmt::format(", file complete at {:.3f} s = {:.0f} MB/s", s->fileSeconds,
                             static_cast<double>(size) / s->fileSeconds / 1e6);
      if (s->chunks > 0)
        extra += fmt::format(", {} {} of {:.0f} KiB on average", s->chunks,
                             v.name == "download-task" ? "didWriteData calls" : "chunks",
                             static_cast<double>(size) / static_cast<double>(s->chunks) / 1024.0);
      fmt::print("  round {}  {:<21} {:>6.0f} MB/s  ({:.3f} s, {:.3f} s CPU, peak RSS {:.1f} MiB{})\n", round, v.name,
                 rate, s->seconds, s->cpuSeconds, bench::mib(s->peakKiB), extra);
      std::fflush(stdout);
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  fmt::print("load average at end: {}", bench::loadAverage());

  std::map<std::string, double> medians;
  fmt::print("\n{:<22} {:>12} {:>10} {:>15} {:>13} {:>15} {:>9}\n", "variant", "median MB/s", "best MB/s",
             "median CPU s", "peak RSS MiB", "RSS before MiB", "failures");
  auto row = [&](const std::string& name, const std::vector<double>& rates, const VariantStats& v) {
    medians[name] = bench::median(rates);
    fmt::print("{:<22} {:>12.0f} {:>10.0f} {:>15.3f} {:>13.1f} {:>15} {:>9}\n", name, bench::median(rates),
               bench::best(rates), v.medianCpu(), bench::mib(v.peakKiB()),
               v.beforeKiB() >= 0 ? fmt::format("{:.1f}", bench::mib(v.beforeKiB())) : "-", v.failures);
  };
  for (const auto& v : stats) {
    row(v.name, v.rates(size), v);
    if (v.name == "download-task")
      row("download-task@file", v.rates(size, [](const Sample& s) { return s.fileSeconds; }), v);
  }
  fmt::print("(CPU: user + system time of the whole process, from wait4; curl rows: peak RSS is the curl process's "
             "ru_maxrss)\n\n");

  auto ratio = [&](const char* a, const char* b) { return medians[b] > 0 ? medians[a] / medians[b] : 0.0; };
  const double fileRatio = ratio("download-task@file", "curl-file");
  const double endRatio = ratio("download-task", "curl-file");
  const double dataRatio = ratio("data-delegate", "raw");
  const double peak = bench::mib(stats[2].peakKiB());
  fmt::print("target download-task/curl-file >= 0.90x: {:.3f}x to the file -> {}; {:.3f}x with the deletion -> {}\n",
             fileRatio, fileRatio >= 0.9 ? "met" : "MISSED", endRatio, endRatio >= 0.9 ? "met" : "MISSED");
  fmt::print("target data-delegate/raw       >= 0.80x: {:.3f}x -> {}\n", dataRatio, dataRatio >= 0.8 ? "met" : "MISSED");
  {
    // The same pair round by round (each data-delegate run against the raw run right after it).
    std::vector<double> pairs;
    for (const auto& dd : stats[3].samples)
      for (const auto& raw : stats[4].samples)
        if (raw.round == dd.round) pairs.push_back(raw.seconds / dd.seconds);
    std::sort(pairs.begin(), pairs.end());
    if (!pairs.empty())
      fmt::print("  (data-delegate/raw round by round: min {:.3f}x, median {:.3f}x, max {:.3f}x over {} rounds)\n",
                 pairs.front(), bench::median(pairs), pairs.back(), pairs.size());
  }
  fmt::print("target download-task peak RSS  <= 32 MiB: {:.1f} MiB -> {}\n", peak, peak <= 32 ? "met" : "MISSED");
  fmt::print("(for reference: raw/curl-null {:.3f}x, data-delegate/curl-null {:.3f}x; the copy alone: raw-copy/raw "
             "{:.3f}x, data-delegate/raw-copy {:.3f}x)\n",
             ratio("raw", "curl-null"), ratio("data-delegate", "curl-null"), ratio("raw-copy", "raw"),
             ratio("data-delegate", "raw-copy"));
  int failures = 0;
  for (const auto& v : stats) failures += v.failures;
  return failures > 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) try {
  bench::Args args(argc, argv);
  const std::uint64_t size = args.number("--size", 1ULL << 30);
  if (auto variant = args.take("--variant")) {
    auto url = args.take("--url");
    args.finish();
    if (!url) throw std::invalid_argument("--variant needs --url");
    return runChildVariant(*variant, *url, size);
  }
  const std::size_t rounds = args.number("--rounds", 3);
  const std::size_t dataRounds = args.number("--data-rounds", 9);
  const std::string server = bench::serverPath(args);
  const int serverNice = static_cast<int>(args.number("--server-nice", 19));
  args.finish();
  return runParent(server, serverNice, size, rounds, dataRounds);
} catch (const std::exception& error) {
  std::fprintf(stderr, "bench-download: %s\n", error.what());
  return 2;
}

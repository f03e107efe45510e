// The "raw" yardstick for the benchmarks: libcurl's multi interface driven by a libuv loop,
// exactly as curl's docs/examples/multi-uv.c does it (CURLMOPT_SOCKETFUNCTION and
// CURLMOPT_TIMERFUNCTION feed uv_poll and uv_timer handles, every readiness goes back through
// curl_multi_socket_action, and curl_multi_info_read is drained after each action).
//
// Differences from the example, all in the raw client's favour or neutral:
//   - a zero timeout from curl is armed as a 0 ms uv timer (the example rounds it up to 1 ms,
//     which would add up to 1 ms of idle time per new transfer; the library uses 0 too);
//   - `inFlight` transfers are kept running: each completion starts the next request, on the
//     same multi handle, so idle connections are reused (keep-alive);
//   - the write callback only counts the bytes (unless RawOptions::copyBody);
//   - a poll error is handed to curl as CURL_CSELECT_ERR (the example ignores the status).
// One easy handle per request, created with curl_easy_init and freed on completion, as the
// example and foundation_net both do.
//
// The loop runs on the thread that calls run(); the client is not thread-safe.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace bench {

struct RawOptions {
  long bufferSize = 0;          // CURLOPT_BUFFERSIZE; 0 keeps curl's default (16 KiB)
  long maxHostConnections = 0;  // CURLMOPT_MAX_HOST_CONNECTIONS; 0: unlimited
  long maxConnects = 64;        // CURLMOPT_MAXCONNECTS (idle connection cache)
  // Diagnostic: set the easy options foundation_net's HTTPProtocol::begin sets (its request
  // headers, Accept-Encoding, a header callback, 256 KiB receive / 128 KiB send buffers, …),
  // to tell the cost of curl's configuration from the cost of the library's own machinery.
  bool libraryEasyOptions = false;
  // Diagnostic: the write callback copies each chunk into rotating 256 KiB buffers (the one
  // copy the library makes into the Data that didReceiveData gets), on the loop's own thread.
  bool copyBody = false;
};

struct RawResult {
  std::uint64_t completed = 0;     // transfers that ended with CURLE_OK and status 200
  std::uint64_t failed = 0;        // anything else
  std::uint64_t bytes = 0;         // body bytes received
  std::uint64_t writes = 0;        // write callbacks (body chunks)
  std::uint64_t connections = 0;   // new connections opened (CURLINFO_NUM_CONNECTS summed)
  double seconds = 0;              // wall time of run()
};

class RawMultiClient {
 public:
  explicit RawMultiClient(RawOptions options = {});
  ~RawMultiClient();
  RawMultiClient(const RawMultiClient&) = delete;
  RawMultiClient& operator=(const RawMultiClient&) = delete;

  // GETs `url` `total` times with at most `inFlight` transfers at once; returns when all ended.
  // Connections stay in the multi's cache between calls.
  RawResult run(const std::string& url, std::size_t total, std::size_t inFlight);

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace bench

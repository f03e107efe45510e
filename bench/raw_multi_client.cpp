#include "raw_multi_client.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <curl/curl.h>
#include <uv.h>

namespace bench {

// multi-uv.c's curl_context_t: one uv_poll per socket curl asks us to watch.
struct SocketContext {
  uv_poll_t poll;
  curl_socket_t fd;
  RawMultiClient::State* state;
};

struct RawMultiClient::State {
  RawOptions options;
  uv_loop_t loop{};
  uv_timer_t timeout{};
  CURLM* multi = nullptr;

  // The current run.
  std::string url;
  std::size_t total = 0;
  std::size_t started = 0;
  std::size_t finished = 0;
  RawResult result;
  curl_slist* libraryHeaders = nullptr;
  std::vector<std::vector<char>> copyBuffers;  // options.copyBody: two batches, alternately filled
  std::size_t copyBuffer = 0, copyFill = 0;
  char errorBuffer[CURL_ERROR_SIZE] = {};

  void startOne();
  void checkMultiInfo();
  static int handleSocket(CURL* easy, curl_socket_t s, int action, void* userp, void* socketp);
  static int startTimeout(CURLM* multi, long timeoutMs, void* userp);
  static void onTimeout(uv_timer_t* timer);
  static void curlPerform(uv_poll_t* poll, int status, int events);
  static std::size_t onWrite(char* data, std::size_t size, std::size_t count, void* userp);
  static std::size_t onHeader(char* data, std::size_t size, std::size_t count, void* userp);
  void setLibraryEasyOptions(CURL* easy);
};

std::size_t RawMultiClient::State::onHeader(char*, std::size_t size, std::size_t count, void*) {
  return size * count;
}

// The options foundation_net/protocols/HTTPProtocol.cpp (begin, configureHeaders) sets for a
// plain GET with the default configuration.
void RawMultiClient::State::setLibraryEasyOptions(CURL* easy) {
  if (!libraryHeaders) {
    for (const char* header : {"Accept-Language: en-US,en;q=0.9",
                               "User-Agent: bench-small-gets foundation_net/0.1.0 (Linux)", "Expect:"})
      libraryHeaders = curl_slist_append(libraryHeaders, header);
  }
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errorBuffer);
  curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, 120L * 1024);
  curl_easy_setopt(easy, CURLOPT_UPLOAD_BUFFERSIZE, 128L * 1024);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &State::onHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, libraryHeaders);
}

std::size_t RawMultiClient::State::onWrite(char* data, std::size_t size, std::size_t count, void* userp) {
  auto* state = static_cast<State*>(userp);
  if (state->options.copyBody) {
    constexpr std::size_t batch = 256 << 10;
    if (state->copyBuffers.empty()) state->copyBuffers.assign(2, std::vector<char>(batch));
    if (state->copyFill + size * count > batch) {
      state->copyBuffer ^= 1;
      state->copyFill = 0;
    }
    std::memcpy(state->copyBuffers[state->copyBuffer].data() + state->copyFill, data,
                std::min(size * count, batch));
    state->copyFill += size * count;
  }
  state->result.bytes += size * count;
  ++state->result.writes;
  return size * count;
}

void RawMultiClient::State::startOne() {
  CURL* easy = curl_easy_init();
  if (!easy) {
    std::fputs("raw client: curl_easy_init failed\n", stderr);
    std::abort();
  }
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &State::onWrite);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, this);
  if (options.bufferSize > 0) curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, options.bufferSize);
  if (options.libraryEasyOptions) setLibraryEasyOptions(easy);
  ++started;
  curl_multi_add_handle(multi, easy);
}

// multi-uv.c's check_multi_info, plus starting the next request for each one that ended.
void RawMultiClient::State::checkMultiInfo() {
  int pending = 0;
  while (CURLMsg* message = curl_multi_info_read(multi, &pending)) {
    if (message->msg != CURLMSG_DONE) continue;
    CURL* easy = message->easy_handle;
    const CURLcode code = message->data.result;  // `message` dies with the handle
    long status = 0, connects = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
    curl_multi_remove_handle(multi, easy);
    curl_easy_cleanup(easy);
    result.connections += static_cast<std::uint64_t>(connects);
    if (code == CURLE_OK && status == 200) {
      ++result.completed;
    } else {
      if (result.failed == 0)
        std::fprintf(stderr, "raw client: transfer failed: %s (HTTP %ld)\n", curl_easy_strerror(code), status);
      ++result.failed;
    }
    ++finished;
    if (started < total) startOne();
    if (finished == total) uv_stop(&loop);
  }
}

int RawMultiClient::State::handleSocket(CURL*, curl_socket_t s, int action, void* userp, void* socketp) {
  auto* state = static_cast<State*>(userp);
  auto* context = static_cast<SocketContext*>(socketp);
  switch (action) {
    case CURL_POLL_IN:
    case CURL_POLL_OUT:
    case CURL_POLL_INOUT: {
      if (!context) {
        context = new SocketContext{{}, s, state};
        uv_poll_init_socket(&state->loop, &context->poll, s);
        context->poll.data = context;
      }
      curl_multi_assign(state->multi, s, context);
      int events = 0;
      if (action != CURL_POLL_IN) events |= UV_WRITABLE;
      if (action != CURL_POLL_OUT) events |= UV_READABLE;
      uv_poll_start(&context->poll, events, &State::curlPerform);
      break;
    }
    case CURL_POLL_REMOVE:
      if (context) {
        uv_poll_stop(&context->poll);
        uv_close(reinterpret_cast<uv_handle_t*>(&context->poll),
                 [](uv_handle_t* handle) { delete static_cast<SocketContext*>(handle->data); });
        curl_multi_assign(state->multi, s, nullptr);
      }
      break;
    default:
      break;
  }
  return 0;
}

int RawMultiClient::State::startTimeout(CURLM*, long timeoutMs, void* userp) {
  auto* state = static_cast<State*>(userp);
  if (timeoutMs < 0) {
    uv_timer_stop(&state->timeout);
  } else {
    // multi-uv.c rounds 0 up to 1 ms; 0 runs it on the next loop iteration (see the header).
    uv_timer_start(&state->timeout, &State::onTimeout, static_cast<std::uint64_t>(timeoutMs), 0);
  }
  return 0;
}

void RawMultiClient::State::onTimeout(uv_timer_t* timer) {
  auto* state = static_cast<State*>(timer->data);
  int running = 0;
  curl_multi_socket_action(state->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  state->checkMultiInfo();
}

void RawMultiClient::State::curlPerform(uv_poll_t* poll, int status, int events) {
  auto* context = static_cast<SocketContext*>(poll->data);
  int flags = 0;
  if (status < 0) {
    flags = CURL_CSELECT_ERR;
  } else {
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  }
  int running = 0;
  curl_multi_socket_action(context->state->multi, context->fd, flags, &running);
  context->state->checkMultiInfo();
}

RawMultiClient::RawMultiClient(RawOptions options) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.options = options;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  if (uv_loop_init(&s.loop) != 0) {
    std::fputs("raw client: uv_loop_init failed\n", stderr);
    std::abort();
  }
  uv_timer_init(&s.loop, &s.timeout);
  s.timeout.data = &s;
  s.multi = curl_multi_init();
  curl_multi_setopt(s.multi, CURLMOPT_SOCKETFUNCTION, &State::handleSocket);
  curl_multi_setopt(s.multi, CURLMOPT_SOCKETDATA, &s);
  curl_multi_setopt(s.multi, CURLMOPT_TIMERFUNCTION, &State::startTimeout);
  curl_multi_setopt(s.multi, CURLMOPT_TIMERDATA, &s);
  if (options.maxHostConnections > 0)
    curl_multi_setopt(s.multi, CURLMOPT_MAX_HOST_CONNECTIONS, options.maxHostConnections);
  if (options.maxConnects > 0) curl_multi_setopt(s.multi, CURLMOPT_MAXCONNECTS, options.maxConnects);
}

RawMultiClient::~RawMultiClient() {
  State& s = *state_;
  // Closing the cached connections calls handleSocket(CURL_POLL_REMOVE), which closes polls.
  curl_multi_cleanup(s.multi);
  uv_timer_stop(&s.timeout);
  uv_close(reinterpret_cast<uv_handle_t*>(&s.timeout), nullptr);
  // Anything curl did not tell us to remove (it should have) is closed too, so the loop ends.
  uv_walk(&s.loop, [](uv_handle_t* handle, void*) {
    if (!uv_is_closing(handle)) {
      uv_close(handle, [](uv_handle_t* h) { delete static_cast<SocketContext*>(h->data); });
    }
  }, nullptr);
  uv_run(&s.loop, UV_RUN_DEFAULT);  // runs the close callbacks
  uv_loop_close(&s.loop);
  curl_slist_free_all(s.libraryHeaders);
  curl_global_cleanup();
}

RawResult RawMultiClient::run(const std::string& url, std::size_t total, std::size_t inFlight) {
  State& s = *state_;
  s.url = url;
  s.total = total;
  s.started = 0;
  s.finished = 0;
  s.result = RawResult{};
  if (total == 0) return s.result;
  if (inFlight == 0) inFlight = 1;
  const auto begin = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < inFlight && s.started < total; ++i) s.startOne();
  uv_run(&s.loop, UV_RUN_DEFAULT);  // checkMultiInfo stops the loop after the last transfer
  s.result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  return s.result;
}

}  // namespace bench

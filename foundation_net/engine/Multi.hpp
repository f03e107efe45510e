// A curl multi handle driven by the shared Loop: curl tells us which sockets to watch and when
// to time out (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION); libuv watches them
// (uv_poll / uv_timer) and we hand readiness back with curl_multi_socket_action.
// One Multi is one connection pool. Everything here runs on the loop thread, and a Multi must
// not be destroyed from inside one of its owners' callbacks (defer that with Loop::post).
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <curl/curl.h>

#include "engine/Loop.hpp"

namespace foundation::engine {

// Implemented by whoever owns an easy handle added to a Multi.
class TransferOwner {
 public:
  virtual ~TransferOwner() = default;
  // The easy handle finished with `result`; it is still in the multi, and the owner must
  // remove it (Multi::remove) before returning or later.
  virtual void transferDidComplete(CURLcode result) = 0;
};

class Multi {
 public:
  struct Limits {
    long maxHostConnections = 0;   // 0: unlimited
    long maxConnectionCache = 64;  // idle connections kept for reuse
  };
  Multi(Loop& loop, Limits limits);
  ~Multi();
  Multi(const Multi&) = delete;
  Multi& operator=(const Multi&) = delete;

  // Starts driving `easy`; `owner` is told when it completes. CURLOPT_PRIVATE is taken.
  CURLMcode add(CURL* easy, TransferOwner* owner);
  // Stops driving `easy` (no callback follows); the caller then owns it again.
  void remove(CURL* easy);
  int activeTransfers() const { return active_; }
  // An easy handle with curl's default options: one recycled earlier (its buffers already
  // allocated) or a new one; nullptr when curl cannot make one.
  CURL* takeHandle();
  // A handle given back with recycleConfigured, its options as its last transfer set them;
  // nullptr when there is none.
  CURL* takeConfiguredHandle();
  // Takes back a handle that is not (or no longer) added; it is reset and kept for takeHandle.
  void recycle(CURL* easy);
  // Takes back a handle whose transfer completed, without resetting it: the owner knows that
  // its options suit the next request of the same kind (see HTTPProtocol's plain requests),
  // which then sets only what differs, as curl allows for handles used one transfer after another.
  void recycleConfigured(CURL* easy);

 private:
  struct Socket;
  static int onSocket(CURL* easy, curl_socket_t fd, int what, void* self, void* socketp);
  static int onTimer(CURLM* multi, long timeoutMs, void* self);
  void socketAction(curl_socket_t fd, int events);
  void drainCompletions();
  // HTTP/1 framing: a response that ended before all of the server's bytes were read leaves
  // them on the connection, where the next request would take them for its response (plain
  // http only; see checkIdleConnection).
  void checkIdleConnection(CURL* easy);
  static int onPrerequest(void* self, char* primaryIp, char* localIp, int primaryPort, int localPort);

  // An HTTP/1 connection back in curl's cache, found again by its two ports (the key: local
  // port << 16 | remote port) and told apart from another with the same ports by its addresses.
  // An entry whose connection went back into use keeps its node with fd = CURL_SOCKET_BAD, so
  // that a steady set of keep-alive connections costs no allocation per request.
  struct IdleConnection {
    curl_socket_t fd = CURL_SOCKET_BAD;
    std::string primaryIp;
    std::string localIp;
  };
  Loop& loop_;
  CURLM* multi_;
  Timer timer_;
  int active_ = 0;
  std::vector<CURL*> spareHandles_;       // reset
  std::vector<CURL*> configuredHandles_;  // with their last transfer's options
  std::unordered_map<std::uint32_t, IdleConnection> idleHttp1_;
  // The other way round: a socket number curl closed and reused for another connection must not
  // leave its old entry looking idle.
  std::unordered_map<curl_socket_t, std::uint32_t> idleKeyBySocket_;
};

}  // namespace foundation::engine

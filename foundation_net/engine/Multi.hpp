// A curl multi handle driven by the shared Loop: curl tells us which sockets to watch and when
// to time out (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION); libuv watches them
// (uv_poll / uv_timer) and we hand readiness back with curl_multi_socket_action.
// One Multi is one connection pool. Everything here runs on the loop thread, and a Multi must
// not be destroyed from inside one of its owners' callbacks (defer that with Loop::post).
#pragma once
#include <cstdint>
#include <memory>
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
  // Makes the sockets of `easy`'s transfers close-on-exec (curl's own are not), so that no
  // child process inherits a connection, and tracks them from open to close, so that an idle
  // connection keeps its uv_poll (see Socket); every transfer's handle goes through here (options
  // survive recycleConfigured, so each transfer sets them). With `guardHttp1Reuse`, for a
  // plain-http transfer, they are also checked for HTTP/1 framing: a server that sent more than
  // its response said leaves bytes on the connection, which the next request on it would take
  // for its response, so a reused socket with bytes waiting is not used. (Over TLS the socket
  // carries records, and HTTP/2 frames itself.)
  void setSocketCallbacks(CURL* easy, bool guardHttp1Reuse);

 private:
  struct Socket;
  static int onSocket(CURL* easy, curl_socket_t fd, int what, void* self, void* socketp);
  static int onTimer(CURLM* multi, long timeoutMs, void* self);
  void socketAction(curl_socket_t fd, int events);
  void drainCompletions();
  // Opens a socket for curl (close-on-exec) and tracks it, as guarding HTTP/1 reuse or not.
  template <bool guardsHttp1>
  static curl_socket_t onOpenSocket(void* self, curlsocktype purpose, curl_sockaddr* address);
  curl_socket_t track(curl_socket_t fd, bool guardsHttp1);
  static int onCloseSocket(void* self, curl_socket_t fd);
  void forgetSocket(curl_socket_t fd);
  static int onPrerequest(void* self, char* primaryIp, char* localIp, int primaryPort, int localPort);

  Loop& loop_;
  CURLM* multi_;
  Timer timer_;
  int active_ = 0;
  std::vector<CURL*> spareHandles_;       // reset
  std::vector<CURL*> configuredHandles_;  // with their last transfer's options
  // The sockets made through setSocketCallbacks's handles, from curl's open-socket to its
  // close-socket callback, so that a socket number is never mistaken for an earlier connection's.
  std::unordered_map<curl_socket_t, std::unique_ptr<Socket>> sockets_;
  // The labelled sockets, by their ports (local << 16 | remote).
  std::unordered_multimap<std::uint32_t, curl_socket_t> socketsByPorts_;
};

}  // namespace foundation::engine

#include "engine/Multi.hpp"

#include <utility>

#include "platform/NetworkSocket.hpp"

namespace foundation::engine {

namespace {
// As many as can be in flight on a busy pool; a handle beyond that is freed.
constexpr std::size_t spareLimit = 64;

// A connection's key in socketsByPorts_: its local port << 16 | its remote port.
std::uint32_t portKey(long localPort, long primaryPort) {
  return static_cast<std::uint32_t>((localPort & 0xffff) << 16 | (primaryPort & 0xffff));
}
}  // namespace

// A socket curl watches or made through setSocketCallbacks (tracked), with its uv_poll while it
// has one; curl_multi_assign finds it again while curl watches it, sockets_ while it is tracked.
//
// A tracked socket that has carried a transfer keeps its uv_poll until curl closes it, across
// the idle times between the transfers that reuse its connection: libuv's uv_poll_init_socket
// costs three syscalls and every uv_poll_start two epoll_ctl, which made up half the syscalls
// of a small request on a kept-alive connection. While idle it watches for input, so that a
// peer closing (or writing to) an idle connection is noticed once and the watch stopped,
// instead of waking the loop until curl next uses or closes the connection.
//
// Only a connection that got as far as a request (labelled at prerequest) is known to be closed
// through the close-socket callback: libcurl 7.88 to 8.1 closes a socket whose connect did not
// complete directly and tells us afterwards (curl PR #11439), so such a socket, like the other
// sockets curl watches (its resolver's wake-up pair), loses its uv_poll when curl removes it.
struct Multi::Socket {
  Socket(Multi* owner, curl_socket_t socket, bool madeHere) : multi(owner), fd(socket), tracked(madeHere) {}
  ~Socket() { stopWatching(); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  Multi* multi;
  curl_socket_t fd;
  bool tracked;
  uv_poll_t* poll = nullptr;
  int events = 0;  // what the uv_poll watches; 0 when stopped
  bool curlWatches = false;
  // Labelled with its addresses at its first transfer's prerequest, found again by its ports
  // (local << 16 | remote) at reuse.
  bool labelled = false;
  std::uint32_t key = 0;
  std::string primaryIp;
  std::string localIp;
  bool guardsHttp1 = false;

  // Watches for `wanted` (UV_READABLE | UV_WRITABLE), skipping libuv when that is unchanged;
  // false when libuv cannot watch the socket.
  bool watch(int wanted) {
    if (!poll) {
      poll = new uv_poll_t;
      if (uv_poll_init_socket(multi->loop_.uv(), poll, fd) != 0) {
        delete poll;
        poll = nullptr;
        return false;
      }
      poll->data = this;
    }
    if (events == wanted) return true;
    uv_poll_start(poll, wanted, &Socket::onReady);
    events = wanted;
    return true;
  }
  // Lets go of the uv_poll; libuv forgets the fd at once, so curl may close it after this.
  void stopWatching() {
    if (!poll) return;
    uv_poll_stop(poll);
    uv_close(reinterpret_cast<uv_handle_t*>(poll), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll = nullptr;
    events = 0;
  }
  static void onReady(uv_poll_t* poll, int status, int ready) {
    auto* s = static_cast<Socket*>(poll->data);
    if (!s->curlWatches) {
      // Input (or an error) on an idle connection: curl finds it when it next checks the
      // connection; until then it would only wake the loop again.
      uv_poll_stop(poll);
      s->events = 0;
      return;
    }
    int flags = 0;
    if (status < 0) {
      flags = CURL_CSELECT_ERR;
    } else {
      if (ready & UV_READABLE) flags |= CURL_CSELECT_IN;
      if (ready & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    }
    s->multi->socketAction(s->fd, flags);
  }
};

Multi::Multi(Loop& loop, Limits limits)
    : loop_(loop), multi_(curl_multi_init()), timer_(loop) {
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &Multi::onSocket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &Multi::onTimer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  if (limits.maxHostConnections > 0)
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, limits.maxHostConnections);
  // The default (4 × handles) shrinks the idle cache to nothing between bursts of tasks.
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, limits.maxConnectionCache);
}

Multi::~Multi() {
  for (CURL* easy : spareHandles_) curl_easy_cleanup(easy);
  for (CURL* easy : configuredHandles_) curl_easy_cleanup(easy);
  timer_.stop();
  // curl_multi_cleanup closes the cached connections through the close-socket callback, which
  // releases their Sockets.
  curl_multi_cleanup(multi_);
  sockets_.clear();  // only those curl closed without telling
}

CURLMcode Multi::add(CURL* easy, TransferOwner* owner) {
  curl_easy_setopt(easy, CURLOPT_PRIVATE, owner);
  CURLMcode rc = curl_multi_add_handle(multi_, easy);
  if (rc == CURLM_OK) ++active_;
  return rc;
}

void Multi::remove(CURL* easy) {
  if (curl_multi_remove_handle(multi_, easy) == CURLM_OK) --active_;
}

CURL* Multi::takeHandle() {
  if (spareHandles_.empty()) return curl_easy_init();
  CURL* easy = spareHandles_.back();
  spareHandles_.pop_back();
  return easy;
}

CURL* Multi::takeConfiguredHandle() {
  if (configuredHandles_.empty()) return nullptr;
  CURL* easy = configuredHandles_.back();
  configuredHandles_.pop_back();
  return easy;
}

void Multi::recycle(CURL* easy) {
  if (spareHandles_.size() + configuredHandles_.size() >= spareLimit) return curl_easy_cleanup(easy);
  // Every option goes back to curl's default, authentication state included; connections,
  // which belong to the multi, are not affected.
  curl_easy_reset(easy);
  spareHandles_.push_back(easy);
}

void Multi::recycleConfigured(CURL* easy) {
  if (spareHandles_.size() + configuredHandles_.size() >= spareLimit) return curl_easy_cleanup(easy);
  configuredHandles_.push_back(easy);
}

int Multi::onSocket(CURL*, curl_socket_t fd, int what, void* self, void* socketp) {
  auto* multi = static_cast<Multi*>(self);
  auto* socket = static_cast<Socket*>(socketp);
  if (!socket) {
    auto found = multi->sockets_.find(fd);
    if (found != multi->sockets_.end()) socket = found->second.get();
  }
  if (what == CURL_POLL_REMOVE) {
    if (!socket) return 0;
    socket->curlWatches = false;
    if (socket->labelled) {
      socket->watch(UV_READABLE);  // idle: see Socket
    } else {
      socket->stopWatching();  // the fd may be closed already: see Socket
      if (!socket->tracked) delete socket;
    }
    return 0;
  }
  const bool isNew = !socket;
  if (isNew) socket = new Socket(multi, fd, false);
  int events = 0;
  if (what & CURL_POLL_IN) events |= UV_READABLE;
  if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
  if (!socket->watch(events)) {
    if (isNew) delete socket;
    return -1;
  }
  if (!socketp) curl_multi_assign(multi->multi_, fd, socket);
  socket->curlWatches = true;
  return 0;
}

int Multi::onTimer(CURLM*, long timeoutMs, void* self) {
  auto* multi = static_cast<Multi*>(self);
  if (timeoutMs < 0) {
    multi->timer_.stop();
    return 0;
  }
  // The Timer is a member: destroying the Multi stops it, so `multi` is valid when it fires.
  multi->timer_.start(static_cast<std::uint64_t>(timeoutMs),
                      [multi] { multi->socketAction(CURL_SOCKET_TIMEOUT, 0); });
  return 0;
}

void Multi::socketAction(curl_socket_t fd, int events) {
  int running = 0;
  curl_multi_socket_action(multi_, fd, events, &running);
  drainCompletions();
}

void Multi::drainCompletions() {
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
    if (msg->msg != CURLMSG_DONE) continue;
    TransferOwner* owner = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&owner));
    // Copy the result first: the owner may remove (and free) the handle, which invalidates msg.
    CURLcode result = msg->data.result;
    if (owner) owner->transferDidComplete(result);
  }
}

void Multi::setSocketCallbacks(CURL* easy, bool guardHttp1Reuse) {
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION,
                   guardHttp1Reuse ? &Multi::onOpenSocket<true> : &Multi::onOpenSocket<false>);
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, this);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, &Multi::onCloseSocket);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, this);
  curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, &Multi::onPrerequest);
  curl_easy_setopt(easy, CURLOPT_PREREQDATA, this);
}

template <bool guardsHttp1>
curl_socket_t Multi::onOpenSocket(void* self, curlsocktype, curl_sockaddr* address) {
  const int fd = platform::openSocket(address->family, address->socktype, address->protocol);
  return fd < 0 ? CURL_SOCKET_BAD : static_cast<Multi*>(self)->track(fd, guardsHttp1);
}

// Starts tracking a socket just opened; returns it.
curl_socket_t Multi::track(curl_socket_t fd, bool guardsHttp1) {
  forgetSocket(fd);  // not expected: every socket made here is closed through onCloseSocket
  auto socket = std::make_unique<Socket>(this, fd, true);
  socket->guardsHttp1 = guardsHttp1;
  sockets_.emplace(fd, std::move(socket));
  return fd;
}

int Multi::onCloseSocket(void* self, curl_socket_t fd) {
  static_cast<Multi*>(self)->forgetSocket(fd);
  return platform::closeSocket(fd);
}

// Stops tracking `fd` and releases its Socket; curl is about to close it (or has).
void Multi::forgetSocket(curl_socket_t fd) {
  auto found = sockets_.find(fd);
  if (found == sockets_.end()) return;
  const std::unique_ptr<Socket> socket = std::move(found->second);
  sockets_.erase(found);
  // curl says a socket it watches is removed before it closes it; should it not, its entry
  // must not keep pointing at the Socket freed here.
  if (socket->curlWatches) curl_multi_assign(multi_, fd, nullptr);
  if (socket->labelled) {
    auto [first, last] = socketsByPorts_.equal_range(socket->key);
    for (auto it = first; it != last; ++it)
      if (it->second == fd) {
        socketsByPorts_.erase(it);
        break;
      }
  }
}

// Called by curl once a transfer has its connection, before the request goes. A socket not seen
// here before is a new connection, whose request is its first: it is labelled (see Socket). A
// socket seen before is a reused connection; if it guards HTTP/1 reuse, bytes waiting on it came
// while it was idle (curl only checks a cached connection for end-of-file), so it is shut down,
// the request fails to go out, and curl retries it on a new connection, as it does for any
// reused connection that turns out dead.
int Multi::onPrerequest(void* self, char* primaryIp, char* localIp, int primaryPort, int localPort) {
  auto* multi = static_cast<Multi*>(self);
  const auto key = portKey(localPort, primaryPort);
  auto [first, last] = multi->socketsByPorts_.equal_range(key);
  for (auto it = first; it != last; ++it) {
    auto found = multi->sockets_.find(it->second);
    if (found != multi->sockets_.end() && found->second->primaryIp == primaryIp &&
        found->second->localIp == localIp) {
      if (found->second->guardsHttp1) platform::shutDownIfReadable(it->second);
      return CURL_PREREQFUNC_OK;
    }
  }
  // Only sockets still connecting or just connected are unlabelled, so this looks at a few.
  for (auto& [fd, socket] : multi->sockets_) {
    if (socket->labelled) continue;
    auto ends = platform::socketEndpoints(fd);
    if (!ends || ends->localPort != localPort || ends->remotePort != primaryPort || ends->localIp != localIp ||
        ends->remoteIp != primaryIp)
      continue;
    socket->labelled = true;
    socket->key = key;
    socket->primaryIp = std::move(ends->remoteIp);
    socket->localIp = std::move(ends->localIp);
    multi->socketsByPorts_.emplace(key, fd);
    break;
  }
  return CURL_PREREQFUNC_OK;
}

}  // namespace foundation::engine

#include "engine/Multi.hpp"

#include <utility>

#include "platform/NetworkSocket.hpp"

namespace foundation::engine {

namespace {
// As many as can be in flight on a busy pool; a handle beyond that is freed.
constexpr std::size_t spareLimit = 64;

// A connection's key in http1SocketsByPorts_: its local port << 16 | its remote port.
std::uint32_t portKey(long localPort, long primaryPort) {
  return static_cast<std::uint32_t>((localPort & 0xffff) << 16 | (primaryPort & 0xffff));
}
}  // namespace

// One uv_poll per socket, found again through curl_multi_assign.
struct Multi::Socket {
  uv_poll_t poll;
  Multi* multi;
  curl_socket_t fd;
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
  // curl_multi_cleanup may still call the socket callback (closing connections); those calls
  // close their poll handles as usual.
  curl_multi_cleanup(multi_);
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
  if (what == CURL_POLL_REMOVE) {
    if (socket) {
      // Stop watching before curl closes the fd; libuv forgets the fd synchronously.
      uv_poll_stop(&socket->poll);
      uv_close(reinterpret_cast<uv_handle_t*>(&socket->poll),
               [](uv_handle_t* h) { delete static_cast<Socket*>(h->data); });
      curl_multi_assign(multi->multi_, fd, nullptr);
    }
    return 0;
  }
  if (!socket) {
    socket = new Socket{{}, multi, fd};
    if (uv_poll_init_socket(multi->loop_.uv(), &socket->poll, fd) != 0) {
      delete socket;
      return -1;
    }
    socket->poll.data = socket;
    curl_multi_assign(multi->multi_, fd, socket);
  }
  int events = 0;
  if (what & CURL_POLL_IN) events |= UV_READABLE;
  if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
  uv_poll_start(&socket->poll, events, [](uv_poll_t* poll, int status, int ready) {
    auto* s = static_cast<Socket*>(poll->data);
    int flags = 0;
    if (status < 0) {
      flags = CURL_CSELECT_ERR;
    } else {
      if (ready & UV_READABLE) flags |= CURL_CSELECT_IN;
      if (ready & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    }
    s->multi->socketAction(s->fd, flags);
  });
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
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, guardHttp1Reuse ? &Multi::onOpenSocket : &Multi::onOpenUntrackedSocket);
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, this);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, guardHttp1Reuse ? &Multi::onCloseSocket : nullptr);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, this);
  curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, guardHttp1Reuse ? &Multi::onPrerequest : nullptr);
  curl_easy_setopt(easy, CURLOPT_PREREQDATA, this);
}

curl_socket_t Multi::onOpenUntrackedSocket(void*, curlsocktype, curl_sockaddr* address) {
  const int fd = platform::openSocket(address->family, address->socktype, address->protocol);
  return fd < 0 ? CURL_SOCKET_BAD : fd;
}

curl_socket_t Multi::onOpenSocket(void* self, curlsocktype purpose, curl_sockaddr* address) {
  const curl_socket_t fd = onOpenUntrackedSocket(self, purpose, address);
  if (fd == CURL_SOCKET_BAD) return fd;
  auto* multi = static_cast<Multi*>(self);
  multi->forgetSocket(fd);  // not expected: every socket made here is closed through onCloseSocket
  multi->http1Sockets_.emplace(fd, Http1Socket{});
  return fd;
}

int Multi::onCloseSocket(void* self, curl_socket_t fd) {
  static_cast<Multi*>(self)->forgetSocket(fd);
  return platform::closeSocket(fd);
}

void Multi::forgetSocket(curl_socket_t fd) {
  auto found = http1Sockets_.find(fd);
  if (found == http1Sockets_.end()) return;
  if (found->second.labelled) {
    auto [first, last] = http1SocketsByPorts_.equal_range(found->second.key);
    for (auto it = first; it != last; ++it)
      if (it->second == fd) {
        http1SocketsByPorts_.erase(it);
        break;
      }
  }
  http1Sockets_.erase(found);
}

// Called by curl once a transfer has its connection, before the request goes. A socket seen
// here before is a reused connection: bytes waiting on it came while it was idle (curl only
// checks a cached connection for end-of-file), so it is shut down, the request fails to go out,
// and curl retries it on a new connection, as it does for any reused connection that turns out
// dead. A socket not seen before is a new connection, whose request is its first.
int Multi::onPrerequest(void* self, char* primaryIp, char* localIp, int primaryPort, int localPort) {
  auto* multi = static_cast<Multi*>(self);
  const auto key = portKey(localPort, primaryPort);
  auto [first, last] = multi->http1SocketsByPorts_.equal_range(key);
  for (auto it = first; it != last; ++it) {
    auto socket = multi->http1Sockets_.find(it->second);
    if (socket != multi->http1Sockets_.end() && socket->second.primaryIp == primaryIp &&
        socket->second.localIp == localIp) {
      platform::shutDownIfReadable(it->second);
      return CURL_PREREQFUNC_OK;
    }
  }
  // Only sockets still connecting or just connected are unlabelled, so this looks at a few.
  for (auto& [fd, socket] : multi->http1Sockets_) {
    if (socket.labelled) continue;
    auto ends = platform::socketEndpoints(fd);
    if (!ends || ends->localPort != localPort || ends->remotePort != primaryPort || ends->localIp != localIp ||
        ends->remoteIp != primaryIp)
      continue;
    socket = Http1Socket{true, key, std::move(ends->remoteIp), std::move(ends->localIp)};
    multi->http1SocketsByPorts_.emplace(key, fd);
    break;
  }
  return CURL_PREREQFUNC_OK;
}

}  // namespace foundation::engine

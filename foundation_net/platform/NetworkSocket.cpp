#include "platform/NetworkSocket.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

namespace foundation::platform {
namespace {

// The text and port of an IPv4 or IPv6 address, as uv_ip_name writes it; nullopt otherwise.
bool describe(const sockaddr_storage& address, std::string& ip, int& port) {
  char text[64];
  if (uv_ip_name(reinterpret_cast<const sockaddr*>(&address), text, sizeof text) != 0) return false;
  ip = text;
  port = address.ss_family == AF_INET6 ? ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port)
                                       : ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
  return true;
}

}  // namespace

// Close-on-exec: a process this one starts (the daemon launches apps) must not hold its connections.
int openSocket(int family, int type, int protocol) { return ::socket(family, type | SOCK_CLOEXEC, protocol); }

int closeSocket(int socket) { return ::close(socket); }

std::optional<SocketEndpoints> socketEndpoints(int socket) {
  sockaddr_storage local{}, remote{};
  socklen_t localLength = sizeof local, remoteLength = sizeof remote;
  if (::getsockname(socket, reinterpret_cast<sockaddr*>(&local), &localLength) != 0 ||
      ::getpeername(socket, reinterpret_cast<sockaddr*>(&remote), &remoteLength) != 0)
    return std::nullopt;
  SocketEndpoints ends;
  if (!describe(local, ends.localIp, ends.localPort) || !describe(remote, ends.remoteIp, ends.remotePort))
    return std::nullopt;
  return ends;
}

bool shutDownIfReadable(int socket) {
  char byte;
  if (::recv(socket, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0) return false;  // nothing, closed, or an error
  ::shutdown(socket, SHUT_RDWR);
  return true;
}

}  // namespace foundation::platform

// What the transfer engine does to a network socket itself, besides what curl does.
#pragma once
#include <optional>
#include <string>

namespace foundation::platform {

// A new socket as socket(2) makes it, close-on-exec (the descriptor, or -1), for curl's
// open-socket callback.
int openSocket(int family, int type, int protocol);
// Closes a socket openSocket made; 0 on success, as curl's close-socket callback must answer.
int closeSocket(int socket);

// Both ends of a connected socket, the addresses as text (as curl prints them).
struct SocketEndpoints {
  std::string localIp;
  int localPort = 0;
  std::string remoteIp;
  int remotePort = 0;
};
std::optional<SocketEndpoints> socketEndpoints(int socket);

// Shuts a connected socket down both ways when bytes are already waiting to be read on it,
// so that whoever owns it finds it closed; true when it did. The descriptor stays open.
bool shutDownIfReadable(int socket);

}  // namespace foundation::platform

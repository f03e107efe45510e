#include "platform/NetworkSocket.hpp"

#include <sys/socket.h>

namespace foundation::platform {

bool shutDownIfReadable(int socket) {
  char byte;
  if (::recv(socket, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0) return false;  // nothing, closed, or an error
  ::shutdown(socket, SHUT_RDWR);
  return true;
}

}  // namespace foundation::platform

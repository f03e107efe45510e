#include "platform/LocalSocket.hpp"

#include <cerrno>
#include <filesystem>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace foundation::platform {

int makePrivateDirectory(const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) return -error.value();
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return -errno;
  if (info.st_uid != ::getuid()) return -EPERM;  // someone else's folder: never share it
  return ::chmod(path.c_str(), 0700) == 0 ? 0 : -errno;
}

int makePrivateSocket(const std::string& path) { return ::chmod(path.c_str(), 0600) == 0 ? 0 : -errno; }

bool lockForLifetime(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return false;
  }
  return true;  // the descriptor stays open: the lock lasts as long as the process
}

bool peerIsSameUser(uv_pipe_t* pipe) {
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(pipe), &fd) != 0) return false;
  struct ucred credentials {};
  socklen_t length = sizeof credentials;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return false;
  return credentials.uid == ::getuid();
}

int socketHandle(uv_pipe_t* pipe) {
  uv_os_fd_t fd;
  return uv_fileno(reinterpret_cast<uv_handle_t*>(pipe), &fd) == 0 ? fd : -1;
}

long writeNonBlocking(int handle, const char* bytes, std::size_t count) {
  for (;;) {
    const ssize_t sent = ::send(handle, bytes, count, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent >= 0) return sent;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
  }
}

}  // namespace foundation::platform

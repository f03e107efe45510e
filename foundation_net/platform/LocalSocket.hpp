// The few things about the daemon's local socket that differ between platforms: private
// folders, the single-instance lock, and checking that a peer is the same user.
#pragma once
#include <cstddef>
#include <string>

#include <uv.h>

namespace foundation::platform {

// Creates `path` (and parents) if missing and makes it private to the user (0700).
// Returns 0 or a negative errno-style code.
int makePrivateDirectory(const std::string& path);
// Makes a bound socket file private to the user (0600).
int makePrivateSocket(const std::string& path);
// Takes an exclusive lock on `path` (created if missing) for the life of the process;
// false when another process holds it.
bool lockForLifetime(const std::string& path);
// True when the process at the other end of `pipe` runs as this user.
bool peerIsSameUser(uv_pipe_t* pipe);

// The OS handle under `pipe` (-1 when it has none yet), for writeNonBlocking.
int socketHandle(uv_pipe_t* pipe);
// Writes what the socket's buffer takes of `bytes` now, without blocking and without touching
// libuv's state, so any thread may call it while the loop owns the pipe (the caller keeps
// libuv's own writes and this one from interleaving). Returns the count written (0 when the
// buffer is full) or a negative errno-style code.
long writeNonBlocking(int handle, const char* bytes, std::size_t count);

}  // namespace foundation::platform

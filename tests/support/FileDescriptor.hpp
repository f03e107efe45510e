// Owns a file descriptor, so that a test server whose constructor throws leaks nothing.
#pragma once
#include <unistd.h>

namespace fntest {

struct FileDescriptor {
    int fd = -1;
    FileDescriptor() = default;
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    ~FileDescriptor() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace fntest

// Files through libuv's synchronous fs calls, so the same code serves Linux and Windows.
// Errors are libuv's negative codes (UV_ENOENT, …).
#pragma once
#include <cstdint>
#include <string>

namespace foundation::platform {

class File {
 public:
  File() = default;
  ~File();
  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  // Opens an existing regular file for reading; a directory fails with UV_EISDIR.
  static int openForReading(const std::string& path, File& out);
  // Opens (creating, 0600) a file for writing: appended to, or emptied first.
  static int openForWriting(const std::string& path, bool append, File& out);
  // Creates a new, uniquely named file `<directory>/<prefix>XXXXXX` for writing.
  static int createUnique(const std::string& directory, const std::string& prefix, File& out,
                          std::string& path);

  bool isOpen() const { return fd_ >= 0; }
  std::int64_t size() const;  // negative: error
  // Reads up to `count` bytes at the current position (or at `offset`, leaving the position
  // alone); 0 at the end, negative on error.
  std::int64_t read(char* buffer, std::size_t count, std::int64_t offset = -1);
  // Writes all of `count` bytes at the current position; negative on error (UV_ENOSPC, …).
  int write(const char* bytes, std::size_t count);
  // Cuts the file to `size` bytes (appends then continue from there).
  int truncate(std::int64_t size);
  int close();

 private:
  int fd_ = -1;
};

// The user's temporary folder (TMPDIR, else /tmp).
std::string temporaryDirectory();
int removeFile(const std::string& path);
int renameFile(const std::string& from, const std::string& to);
// Copies a file (a snapshot: later changes to `from` do not reach `to`).
int copyFile(const std::string& from, const std::string& to);
// copyFile, made sure to be one version of `from`: the file held still for a moment before the
// copy and its size, times and inode are the same after it, else it tries again (a few times
// over about 150 ms, then UV_EBUSY), so a file being rewritten meanwhile never yields part of
// one version and part of another. Blocks the caller while it waits.
int snapshotFile(const std::string& from, const std::string& to);
// The size of the file at `path`, or a negative error.
std::int64_t fileSize(const std::string& path);
const char* errorName(int uvError);

}  // namespace foundation::platform

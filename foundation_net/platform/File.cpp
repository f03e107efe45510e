#include "platform/File.hpp"

#include <fcntl.h>

#include <uv.h>

#include <chrono>
#include <optional>
#include <thread>
#include <tuple>

namespace foundation::platform {
namespace {

// Runs one synchronous uv_fs call and returns its result, releasing the request.
template <class Call>
std::int64_t runFs(Call&& call) {
  uv_fs_t request;
  call(&request);
  auto result = static_cast<std::int64_t>(request.result);
  uv_fs_req_cleanup(&request);
  return result;
}

}  // namespace

File::~File() { close(); }
File::File(File&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

int File::openForReading(const std::string& path, File& out) {
  auto fd = runFs([&](uv_fs_t* r) { uv_fs_open(nullptr, r, path.c_str(), O_RDONLY, 0, nullptr); });
  if (fd < 0) return static_cast<int>(fd);
  File file;
  file.fd_ = static_cast<int>(fd);
  uv_fs_t request;
  int rc = uv_fs_fstat(nullptr, &request, file.fd_, nullptr);
  bool directory = rc == 0 && (request.statbuf.st_mode & S_IFMT) == S_IFDIR;
  uv_fs_req_cleanup(&request);
  if (rc < 0) return rc;
  if (directory) return UV_EISDIR;
  out = std::move(file);
  return 0;
}

int File::openForWriting(const std::string& path, bool append, File& out) {
  int flags = O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC);
  auto fd = runFs([&](uv_fs_t* r) { uv_fs_open(nullptr, r, path.c_str(), flags, 0600, nullptr); });
  if (fd < 0) return static_cast<int>(fd);
  out.close();
  out.fd_ = static_cast<int>(fd);
  return 0;
}

int File::createUnique(const std::string& directory, const std::string& prefix, File& out,
                       std::string& path) {
  std::string tpl = directory + "/" + prefix + "XXXXXX";
  uv_fs_t request;
  int rc = uv_fs_mkstemp(nullptr, &request, tpl.c_str(), nullptr);
  if (rc >= 0) {
    path = request.path;
    out.close();
    out.fd_ = static_cast<int>(request.result);
    rc = 0;
  }
  uv_fs_req_cleanup(&request);
  return rc;
}

std::int64_t File::size() const {
  uv_fs_t request;
  int rc = uv_fs_fstat(nullptr, &request, fd_, nullptr);
  std::int64_t size = rc < 0 ? rc : static_cast<std::int64_t>(request.statbuf.st_size);
  uv_fs_req_cleanup(&request);
  return size;
}

std::int64_t File::read(char* buffer, std::size_t count, std::int64_t offset) {
  uv_buf_t buf = uv_buf_init(buffer, static_cast<unsigned>(count));
  return runFs([&](uv_fs_t* r) { uv_fs_read(nullptr, r, fd_, &buf, 1, offset, nullptr); });
}

int File::write(const char* bytes, std::size_t count) {
  while (count > 0) {
    uv_buf_t buf = uv_buf_init(const_cast<char*>(bytes), static_cast<unsigned>(count));
    auto written = runFs([&](uv_fs_t* r) { uv_fs_write(nullptr, r, fd_, &buf, 1, -1, nullptr); });
    if (written < 0) return static_cast<int>(written);
    if (written == 0) return UV_EIO;
    bytes += written;
    count -= static_cast<std::size_t>(written);
  }
  return 0;
}

int File::truncate(std::int64_t size) {
  return static_cast<int>(runFs([&](uv_fs_t* r) { uv_fs_ftruncate(nullptr, r, fd_, size, nullptr); }));
}

int File::close() {
  if (fd_ < 0) return 0;
  int fd = fd_;
  fd_ = -1;
  return static_cast<int>(runFs([&](uv_fs_t* r) { uv_fs_close(nullptr, r, fd, nullptr); }));
}

std::string temporaryDirectory() {
  char buffer[4096];
  size_t size = sizeof buffer;
  if (uv_os_tmpdir(buffer, &size) == 0) return std::string(buffer, size);
  return "/tmp";
}

int removeFile(const std::string& path) {
  return static_cast<int>(runFs([&](uv_fs_t* r) { uv_fs_unlink(nullptr, r, path.c_str(), nullptr); }));
}

int renameFile(const std::string& from, const std::string& to) {
  return static_cast<int>(runFs([&](uv_fs_t* r) { uv_fs_rename(nullptr, r, from.c_str(), to.c_str(), nullptr); }));
}

int copyFile(const std::string& from, const std::string& to) {
  return static_cast<int>(runFs([&](uv_fs_t* r) { uv_fs_copyfile(nullptr, r, from.c_str(), to.c_str(), 0, nullptr); }));
}

namespace {

struct FileVersion {
  std::tuple<std::uint64_t, std::uint64_t, long, long, long, long> fields;  // inode, size, mtime, ctime
  std::chrono::system_clock::time_point changed;                          // ctime
  bool operator==(const FileVersion& other) const { return fields == other.fields; }
};

// What changes when a file is written or replaced; nullopt when it cannot be read.
std::optional<FileVersion> version(const std::string& path) {
  uv_fs_t request;
  int rc = uv_fs_stat(nullptr, &request, path.c_str(), nullptr);
  const uv_stat_t& s = request.statbuf;
  std::optional<FileVersion> result;
  if (rc == 0) {
    result = FileVersion{std::tuple(s.st_ino, s.st_size, s.st_mtim.tv_sec, s.st_mtim.tv_nsec, s.st_ctim.tv_sec,
                                    s.st_ctim.tv_nsec),
                         std::chrono::system_clock::time_point(std::chrono::seconds(s.st_ctim.tv_sec) +
                                                               std::chrono::nanoseconds(s.st_ctim.tv_nsec))};
  }
  uv_fs_req_cleanup(&request);
  return result;
}

}  // namespace

int snapshotFile(const std::string& from, const std::string& to) {
  // File times move in clock ticks (up to 10 ms): writes within the tick of the last change
  // leave them as they are. A file that changed less than `quiet` ago is waited for, so any
  // write during the copy lands in a later tick and shows.
  constexpr auto quiet = std::chrono::milliseconds(20);
  constexpr int attempts = 6;
  for (int i = 0; i < attempts; ++i) {
    auto before = version(from);
    if (before) {
      auto age = std::chrono::system_clock::now() - before->changed;
      if (age < quiet) {
        std::this_thread::sleep_for(quiet - age);
        continue;
      }
    }
    if (int rc = copyFile(from, to); rc < 0) return rc;
    if (before && before == version(from)) return 0;
  }
  removeFile(to);
  return UV_EBUSY;
}

std::int64_t fileSize(const std::string& path) {
  uv_fs_t request;
  int rc = uv_fs_stat(nullptr, &request, path.c_str(), nullptr);
  std::int64_t size = rc < 0 ? rc : static_cast<std::int64_t>(request.statbuf.st_size);
  uv_fs_req_cleanup(&request);
  return size;
}

const char* errorName(int uvError) { return uv_err_name(uvError); }

}  // namespace foundation::platform

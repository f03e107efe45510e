// A tiny tmpfs mounted on a folder for the life of the object, to run out of disk space on
// purpose. Mounting needs root (CI runs as root); elsewhere mounted() is false and the tests
// that need it say so and do nothing.
#pragma once
#include <sys/mount.h>

#include <cstddef>
#include <filesystem>
#include <string>

namespace fntest {

class SmallFilesystem {
 public:
  SmallFilesystem(const std::filesystem::path& folder, std::size_t bytes) : folder_(folder) {
    std::filesystem::create_directories(folder_);
    const std::string options = "size=" + std::to_string(bytes) + ",mode=0700";
    mounted_ = ::mount("tmpfs", folder_.c_str(), "tmpfs", 0, options.c_str()) == 0;
  }
  ~SmallFilesystem() {
    if (mounted_) ::umount2(folder_.c_str(), MNT_DETACH);
  }
  SmallFilesystem(const SmallFilesystem&) = delete;
  SmallFilesystem& operator=(const SmallFilesystem&) = delete;

  bool mounted() const { return mounted_; }

 private:
  std::filesystem::path folder_;
  bool mounted_ = false;
};

}  // namespace fntest

// Reading a whole file in tests.
#pragma once
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace fntest {

// The file's bytes; empty when it cannot be read.
inline std::string fileContents(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

}  // namespace fntest

#include "platform/Process.hpp"

#include <cstdlib>

#include <uv.h>

namespace foundation::platform {

std::string executableName() {
  char buffer[4096];
  size_t size = sizeof buffer;
  if (uv_exepath(buffer, &size) != 0) return "foundation_net";
  std::string path(buffer, size);
  auto slash = path.find_last_of("/\\");
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::optional<std::string> environment(const char* name) {
  const char* value = std::getenv(name);
  if (!value) return std::nullopt;
  return std::string(value);
}

}  // namespace foundation::platform

// Facts about the running process, behind one seam for each platform.
#pragma once
#include <optional>
#include <string>

namespace foundation::platform {

// The executable's file name without its folder ("myapp").
std::string executableName();
// An environment variable's value, or nullopt when it is not set.
std::optional<std::string> environment(const char* name);

}  // namespace foundation::platform

// Facts about the running process, behind one seam for each platform.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace foundation::platform {

// The executable's file name without its folder ("myapp").
std::string executableName();
// An environment variable's value, or nullopt when it is not set.
std::optional<std::string> environment(const char* name);
// The user's numeric identity (the uid on Unix).
unsigned long userIdentifier();
std::string homeDirectory();
// A per-user base folder: the one the XDG variable `variable` names ("XDG_CACHE_HOME"), else
// `fallback` under the home folder (".cache").
std::string userDirectory(const char* variable, const char* fallback);
int processIdentifier();
// Starts `path` (looked up on PATH when it has no slash) with `arguments`, detached so that it
// outlives this process; stdio goes to /dev/null. The child gets this process's environment
// with `environment` ("NAME=value" each) set over it. `exited`, when given, runs on the loop
// thread once the child has ended (it is not called when the spawn fails). Loop thread only.
// Returns 0 or a libuv error.
int spawnDetached(const std::string& path, const std::vector<std::string>& arguments,
                  const std::vector<std::string>& environment = {}, std::function<void()> exited = {});

}  // namespace foundation::platform

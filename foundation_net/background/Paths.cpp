#include <filesystem>

#include "background/Protocol.hpp"
#include "platform/Process.hpp"

namespace foundation::background {

std::string runtimeDirectory() {
  if (auto dir = platform::environment("FOUNDATION_NET_RUNTIME_DIR"); dir && !dir->empty()) return *dir;
  if (auto xdg = platform::environment("XDG_RUNTIME_DIR"); xdg && !xdg->empty()) return *xdg + "/foundation_net";
  return "/tmp/foundation_net-" + std::to_string(platform::userIdentifier());
}

std::string stateDirectory() {
  if (auto dir = platform::environment("FOUNDATION_NET_STATE_DIR"); dir && !dir->empty()) return *dir;
  return platform::userDirectory("XDG_STATE_HOME", ".local/state") + "/foundation_net";
}

std::string socketPath() { return runtimeDirectory() + "/urlsessiond.sock"; }

std::string appIdentifier() {
  if (auto id = platform::environment("FOUNDATION_NET_APP_ID"); id && !id->empty()) return *id;
  return platform::executableName();
}

std::string daemonExecutable() {
  if (auto path = platform::environment("FOUNDATION_NET_DAEMON"); path && !path->empty()) return *path;
  std::filesystem::path installed = std::filesystem::path(FOUNDATION_NET_BINDIR) / "urlsessiond";
  std::error_code error;
  if (std::filesystem::exists(installed, error)) return installed.string();
  return "urlsessiond";  // found on PATH by the spawn
}

}  // namespace foundation::background

#include "platform/Process.hpp"

#include <algorithm>
#include <cstdlib>

#include <unistd.h>

#include "engine/Loop.hpp"

#include <uv.h>

namespace foundation::platform {
namespace {

// Close callback of a spawned child's handle: frees it and its exit callback.
void releaseProcess(uv_handle_t* handle) {
  delete static_cast<std::function<void()>*>(handle->data);
  delete reinterpret_cast<uv_process_t*>(handle);
}

}  // namespace

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

unsigned long userIdentifier() { return static_cast<unsigned long>(::getuid()); }

std::string homeDirectory() {
  char buffer[4096];
  size_t size = sizeof buffer;
  if (uv_os_homedir(buffer, &size) == 0) return std::string(buffer, size);
  return "/";
}

std::string userDirectory(const char* variable, const char* fallback) {
  if (auto value = environment(variable); value && !value->empty()) return *value;
  return homeDirectory() + "/" + fallback;
}

int processIdentifier() { return uv_os_getpid(); }

int spawnDetached(const std::string& path, const std::vector<std::string>& arguments,
                  const std::vector<std::string>& environment, std::function<void()> exited) {
  std::vector<std::string> variables;
  if (!environment.empty()) {
    uv_env_item_t* items = nullptr;
    int count = 0;
    if (int rc = uv_os_environ(&items, &count); rc != 0) return rc;
    auto overridden = [&](const char* name) {
      return std::any_of(environment.begin(), environment.end(), [&](const std::string& v) {
        return v.compare(0, v.find('='), name) == 0;
      });
    };
    for (int i = 0; i < count; ++i)
      if (!overridden(items[i].name)) variables.push_back(std::string(items[i].name) + "=" + items[i].value);
    uv_os_free_environ(items, count);
    variables.insert(variables.end(), environment.begin(), environment.end());
  }
  std::vector<char*> envp;
  for (auto& variable : variables) envp.push_back(variable.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(path.c_str()));
  for (const auto& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  uv_stdio_container_t stdio[3];
  for (auto& s : stdio) s.flags = UV_IGNORE;
  uv_process_options_t options{};
  options.file = path.c_str();
  options.args = argv.data();
  options.env = environment.empty() ? nullptr : envp.data();
  options.flags = UV_PROCESS_DETACHED;
  options.stdio_count = 3;
  options.stdio = stdio;
  // The handle lives until the child exits, so that libuv reaps it (no zombie while we run);
  // unreferenced, it does not keep the loop alive.
  options.exit_cb = [](uv_process_t* process, std::int64_t, int) {
    if (auto* exited = static_cast<std::function<void()>*>(process->data); *exited) (*exited)();
    uv_close(reinterpret_cast<uv_handle_t*>(process), releaseProcess);
  };
  auto* process = new uv_process_t;
  int rc = uv_spawn(engine::Loop::shared().uv(), process, &options);
  process->data = new std::function<void()>(std::move(exited));  // set after: uv_spawn initialises the handle
  if (rc == 0) {
    uv_unref(reinterpret_cast<uv_handle_t*>(process));
  } else {
    uv_close(reinterpret_cast<uv_handle_t*>(process), releaseProcess);
  }
  return rc;
}

}  // namespace foundation::platform

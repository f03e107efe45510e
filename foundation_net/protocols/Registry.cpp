#include "protocols/Registry.hpp"

#include <algorithm>
#include <mutex>

#include "protocols/DataProtocol.hpp"
#include "protocols/FileProtocol.hpp"
#include "protocols/HTTPProtocol.hpp"

namespace foundation {
namespace {

std::mutex registryMutex;
std::vector<URLProtocolClass>& registeredClasses() {
  static std::vector<URLProtocolClass> classes;
  return classes;
}

const std::vector<URLProtocolClass>& builtinClasses() {
  static const std::vector<URLProtocolClass> classes{
      URLProtocolClass::of<detail::HTTPProtocol>(std::string(detail::HTTPProtocol::className)),
      URLProtocolClass::of<detail::FileProtocol>("foundation.file"),
      URLProtocolClass::of<detail::DataProtocol>("foundation.data"),
  };
  return classes;
}

}  // namespace

bool URLProtocol::registerClass(URLProtocolClass protocolClass) {
  if (!protocolClass.canInit || !protocolClass.make) return false;
  std::lock_guard lock(registryMutex);
  registeredClasses().push_back(std::move(protocolClass));
  return true;
}

void URLProtocol::unregisterClass(const std::string& name) {
  std::lock_guard lock(registryMutex);
  std::erase_if(registeredClasses(), [&](const URLProtocolClass& c) { return c.name == name; });
}

namespace detail {

std::optional<URLProtocolClass> protocolClassFor(const URLRequest& request,
                                                 const std::vector<URLProtocolClass>& sessionClasses) {
  for (const auto& c : sessionClasses)
    if (c.canInit && c.canInit(request)) return c;
  {
    std::lock_guard lock(registryMutex);
    const auto& registered = registeredClasses();
    for (auto it = registered.rbegin(); it != registered.rend(); ++it)
      if (it->canInit(request)) return *it;
  }
  for (const auto& c : builtinClasses())
    if (c.canInit(request)) return c;
  return std::nullopt;
}

OperationQueue& protocolQueue() {
  static auto* queue = [] {  // leaked: protocols may still be stopping at exit
    auto* q = new OperationQueue();
    q->setMaxConcurrentOperationCount(1);
    return q;
  }();
  return *queue;
}

bool runsOnLoopThread(const URLProtocolClass& protocolClass) {
  return protocolClass.name == HTTPProtocol::className;
}

}  // namespace detail
}  // namespace foundation

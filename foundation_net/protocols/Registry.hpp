// Finds the URLProtocol class that loads a request: the session's protocolClasses first,
// then the globally registered classes (newest first), then the built-ins.
#pragma once
#include <optional>
#include <vector>

#include <foundation_net/OperationQueue.hpp>
#include <foundation_net/URLProtocol.hpp>

namespace foundation::detail {

// The class to load `request` with, or nullopt when no class can (NSURLErrorUnsupportedURL).
std::optional<URLProtocolClass> protocolClassFor(const URLRequest& request,
                                                 const std::vector<URLProtocolClass>& sessionClasses);
// True for the classes that run on the loop thread (the http(s) protocol); the others are
// started and stopped on a worker queue so that their code never blocks the network.
bool runsOnLoopThread(const URLProtocolClass& protocolClass);
// The serial queue those other protocols run on. Protocols must not block it (as on Apple's
// platforms, startLoading should return promptly and report asynchronously).
OperationQueue& protocolQueue();

}  // namespace foundation::detail

// The protocol a task loads a stored response with: it reports the response and its body
// to the task, as a network load would, without a network.
#pragma once
#include <foundation_net/CachedURLResponse.hpp>
#include <foundation_net/URLProtocol.hpp>

namespace foundation::detail {

// A protocol class whose protocols answer any request with `cached`.
URLProtocolClass cachedResponseProtocol(CachedURLResponse cached);

}  // namespace foundation::detail

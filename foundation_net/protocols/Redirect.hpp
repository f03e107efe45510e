// HTTP redirect rules as Apple applies them.
#pragma once
#include <optional>

#include <foundation_net/HTTPURLResponse.hpp>
#include <foundation_net/URLRequest.hpp>

namespace foundation::detail {

inline constexpr int maximumRedirects = 16;  // one more fails with NSURLErrorHTTPTooManyRedirects

// The request a redirect response leads to, or nullopt when the response is not a redirect to
// follow (300, 304, no or unusable Location). 301/302 turn POST into GET, 303 turns every method
// into GET, 305/307/308 keep method and body. A method change to GET drops the body and the
// headers that described it.
std::optional<URLRequest> redirectRequest(const URLRequest& current, const HTTPURLResponse& response);

}  // namespace foundation::detail

#include "protocols/Redirect.hpp"

namespace foundation::detail {

std::optional<URLRequest> redirectRequest(const URLRequest& current, const HTTPURLResponse& response) {
  const int status = response.statusCode();
  // 301–308 except 304; 306 (unused since RFC 7231) is followed like 307.
  if (status < 301 || status > 308 || status == 304) return std::nullopt;
  auto location = response.value("Location");
  if (!location || location->empty() || !current.url) return std::nullopt;
  auto target = current.url->resolving(*location);
  if (!target) return std::nullopt;
  auto scheme = target->scheme();
  if (scheme != "http" && scheme != "https") return std::nullopt;

  URLRequest next = current;
  next.url = *target;
  const bool toGet = status == 303 ? next.httpMethod != "GET"
                                   : (status == 301 || status == 302) && next.httpMethod == "POST";
  if (toGet) {
    next.httpMethod = "GET";
    next.httpBody.reset();
    next.setValue(std::nullopt, "Content-Type");
    next.setValue(std::nullopt, "Content-Length");
  }
  return next;
}

}  // namespace foundation::detail

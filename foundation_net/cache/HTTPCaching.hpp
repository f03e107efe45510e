// HTTP caching rules (RFC 9111, as a private cache applies them): which responses may be
// stored, how long a stored one stays fresh, how it is revalidated and updated by a 304.
// Pure functions of requests, responses and times; the session's CacheTransaction uses them.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <foundation_net/HTTPURLResponse.hpp>
#include <foundation_net/URLCache.hpp>
#include <foundation_net/URLRequest.hpp>

namespace foundation::detail::cache {

using Fields = std::vector<std::pair<std::string, std::string>>;
// The value a request sends for a header field (nullopt: none).
using FieldLookup = std::function<std::optional<std::string>(std::string_view name)>;

struct CacheControl {
  bool noStore = false, noCache = false, mustRevalidate = false;
  std::optional<std::int64_t> maxAge;
};
// Parses a Cache-Control value (directives are case-insensitive; unknown ones are ignored).
CacheControl parseCacheControl(std::string_view value);

// The key responses are stored under: the URL without its fragment.
std::string keyFor(const URL& url);

// Whether a response to `request` may be stored: a GET, a 2xx other than 206, no `no-store`
// on either side, no `Vary: *`.
bool isStorable(const URLRequest& request, const HTTPURLResponse& response);

// The request fields the response's Vary names, with the values `request` sends ("" for none).
Fields varyFields(const URLResponse& response, const FieldLookup& request);
// Whether a request sending `request`'s fields may use the stored entry.
bool varyMatches(const URLCache::Entry& entry, const FieldLookup& request);

// Whether the stored response may be used without asking the server: it has a freshness
// lifetime (max-age, Expires, or 10 % of its age since Last-Modified, at most a week), is
// younger than that, and neither it (no-cache) nor the request (no-cache, max-age=0, Pragma:
// no-cache) asks for revalidation.
bool isFresh(const URLCache::Entry& entry, const FieldLookup& request, Date now);

// The fields that ask the server whether the stored response is still current: If-None-Match
// for its ETag, If-Modified-Since for its Last-Modified. Empty when it has neither.
Fields conditionalFields(const URLResponse& stored);

// The stored response brought up to date by a 304 (RFC 9111 4.3.4: the 304's fields replace
// the stored ones, except those describing the stored body).
std::shared_ptr<const HTTPURLResponse> updatedBy(const HTTPURLResponse& stored, const HTTPURLResponse& notModified);

// Whether a response to `request` makes what is stored for its URL out of date: an unsafe
// method (not GET, HEAD, OPTIONS, TRACE) answered with a non-error status (RFC 9111 4.4).
bool invalidates(const URLRequest& request, const URLResponse& response);

}  // namespace foundation::detail::cache

// The IETF "Resumable Uploads for HTTP" draft as Apple's clients speak it (interop versions 3, 5
// and 6): the fields an upload announces itself with, the 104 that makes it resumable, and the
// requests that ask the offset (HEAD) and append the rest (PATCH). Pure functions of values;
// the task's state machine (session/TaskImpl.cpp) decides when each applies.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <foundation_net/HTTPURLResponse.hpp>
#include <foundation_net/URLRequest.hpp>

namespace foundation::detail::resumption {

using Fields = std::vector<std::pair<std::string, std::string>>;

constexpr int defaultInteropVersion = 6;
// 3 (iOS 17), 5 (iOS 18), 6 (iOS 18.1).
bool isInteropVersion(int version);

// An upload the server agreed to make resumable: where it lives and the version spoken.
struct Resource {
  URL url;
  int version = 0;
};

// The fields of an upload's first request: the version, and that it carries the whole body.
Fields creationFields(int version);
// The upload resource a `104 Upload Resumption Supported` names (Location, resolved against
// `requestURL`); nullopt for any other informational response or an unusable Location.
std::optional<Resource> resourceFrom(const HTTPURLResponse& informational, const URL& requestURL, int version);
// HEAD on the resource, asking how many bytes the server holds.
URLRequest offsetRequest(const Resource& resource, const URLRequest& original);
// PATCH on the resource appending the body from `offset` to its end, which completes the upload.
URLRequest appendRequest(const Resource& resource, const URLRequest& original, std::int64_t offset);
// DELETE on the resource: the upload was cancelled for good, the server may drop what it holds.
URLRequest cancellationRequest(const Resource& resource, const URLRequest& original);
// The offset a HEAD's 2xx or a PATCH's 409 reports (Upload-Offset), when it is a usable number.
std::optional<std::int64_t> offsetFrom(const HTTPURLResponse& response);
// Whether a HEAD's answer says the upload is complete (v3: Upload-Incomplete: ?0, v5+:
// Upload-Complete: ?1): the server holds every byte, and its final response was lost.
bool saysComplete(const HTTPURLResponse& response, int version);

}  // namespace foundation::detail::resumption

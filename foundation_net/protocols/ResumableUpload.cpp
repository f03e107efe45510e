#include "protocols/ResumableUpload.hpp"

#include <charconv>

#include "model/Text.hpp"

namespace foundation::detail::resumption {
namespace {

constexpr int uploadResumptionSupported = 104;

// Fields copied from the original request to the resource's requests: not those describing
// the original body or naming the original resource's representation.
bool carriesOver(std::string_view name) {
  for (std::string_view dropped : {"Content-Length", "Content-Type", "Content-Encoding", "Content-Range",
                                   "Upload-Offset", "Upload-Complete", "Upload-Incomplete",
                                   "Upload-Draft-Interop-Version", "Transfer-Encoding", "Expect"})
    if (text::equalsIgnoringCase(name, dropped)) return false;
  return true;
}

URLRequest resourceRequest(const Resource& resource, const URLRequest& original, std::string method) {
  URLRequest request(resource.url);
  for (const auto& [name, value] : original.headerFields())
    if (carriesOver(name)) request.setValue(value, name);
  if (original.hasExplicitTimeout()) request.setTimeoutInterval(original.timeoutInterval);
  request.httpMethod = std::move(method);
  request.setValue(std::to_string(resource.version), "Upload-Draft-Interop-Version");
  return request;
}

// "the upload is complete with this request": v3 says it as "not incomplete".
std::pair<std::string, std::string> completionField(int version) {
  if (version == 3) return {"Upload-Incomplete", "?0"};
  return {"Upload-Complete", "?1"};
}

}  // namespace

bool isInteropVersion(int version) { return version == 3 || version == 5 || version == 6; }

Fields creationFields(int version) {
  return {{"Upload-Draft-Interop-Version", std::to_string(version)}, completionField(version)};
}

std::optional<Resource> resourceFrom(const HTTPURLResponse& informational, const URL& requestURL, int version) {
  if (informational.statusCode() != uploadResumptionSupported) return std::nullopt;
  auto location = informational.value("Location");
  if (!location || text::trimmed(*location).empty()) return std::nullopt;
  auto url = requestURL.resolving(text::trimmed(*location));
  if (!url || (url->scheme() != "http" && url->scheme() != "https")) return std::nullopt;
  // A server that names another version speaks that one (it must be one we know).
  if (auto spoken = informational.value("Upload-Draft-Interop-Version")) {
    int named = 0;
    auto trimmed = text::trimmed(*spoken);
    auto [end, ec] = std::from_chars(trimmed.data(), trimmed.data() + trimmed.size(), named);
    if (ec != std::errc() || end != trimmed.data() + trimmed.size() || !isInteropVersion(named)) return std::nullopt;
    version = named;
  }
  return Resource{std::move(*url), version};
}

URLRequest offsetRequest(const Resource& resource, const URLRequest& original) {
  return resourceRequest(resource, original, "HEAD");
}

URLRequest appendRequest(const Resource& resource, const URLRequest& original, std::int64_t offset) {
  URLRequest request = resourceRequest(resource, original, "PATCH");
  request.setValue(std::to_string(offset), "Upload-Offset");
  auto [name, value] = completionField(resource.version);
  request.setValue(value, name);
  if (resource.version >= 6) request.setValue("application/partial-upload", "Content-Type");
  return request;
}

URLRequest cancellationRequest(const Resource& resource, const URLRequest& original) {
  return resourceRequest(resource, original, "DELETE");
}

std::optional<std::int64_t> offsetFrom(const HTTPURLResponse& response) {
  auto field = response.value("Upload-Offset");
  if (!field) return std::nullopt;
  auto trimmed = text::trimmed(*field);
  std::int64_t offset = -1;
  auto [end, ec] = std::from_chars(trimmed.data(), trimmed.data() + trimmed.size(), offset);
  if (ec != std::errc() || end != trimmed.data() + trimmed.size() || offset < 0) return std::nullopt;
  return offset;
}

bool saysComplete(const HTTPURLResponse& response, int version) {
  const auto [name, value] = completionField(version);
  auto field = response.value(name);
  return field && text::trimmed(*field) == value;
}

}  // namespace foundation::detail::resumption

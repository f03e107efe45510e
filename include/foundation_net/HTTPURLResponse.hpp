// HTTPURLResponse: a URLResponse with an HTTP status line and header fields.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <foundation_net/URLResponse.hpp>

namespace foundation {

class HTTPURLResponse : public URLResponse {
 public:
  // Header fields in arrival order; repeated names are joined with ", " as Apple does.
  // The MIME type, text encoding and expected length are derived from them.
  HTTPURLResponse(URL url, int statusCode, std::string httpVersion,
                  std::vector<std::pair<std::string, std::string>> headerFields);

  int statusCode() const;
  std::string httpVersion() const;  // "HTTP/1.1", "HTTP/2"
  std::map<std::string, std::string> allHeaderFields() const;
  // The header fields in arrival order (repeated names joined).
  const std::vector<std::pair<std::string, std::string>>& headerFields() const { return headers_; }
  std::optional<std::string> value(std::string_view field) const;  // case-insensitive
  std::optional<std::string> suggestedFilename() const override;

  // Swift's HTTPURLResponse.localizedString(forStatusCode:).
  static std::string localizedStringForStatusCode(int statusCode);

 private:
  int statusCode_;
  std::string httpVersion_;
  std::vector<std::pair<std::string, std::string>> headers_;  // unique names, joined values
};

}  // namespace foundation

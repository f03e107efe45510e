// URLResponse: the metadata of a response, independent of protocol.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <foundation_net/URL.hpp>

namespace foundation {

class URLResponse {
 public:
  URLResponse(std::optional<URL> url, std::optional<std::string> mimeType,
              std::int64_t expectedContentLength, std::optional<std::string> textEncodingName);
  virtual ~URLResponse();

  std::optional<URL> url() const;
  std::optional<std::string> mimeType() const;
  std::int64_t expectedContentLength() const;  // -1 when unknown
  std::optional<std::string> textEncodingName() const;
  // From Content-Disposition's filename when present, else the URL's last path component,
  // else "Unknown"; an extension is not invented.
  virtual std::optional<std::string> suggestedFilename() const;

 protected:
  std::optional<URL> url_;
  std::optional<std::string> mimeType_;
  std::int64_t expectedContentLength_;
  std::optional<std::string> textEncodingName_;
};

}  // namespace foundation

// The built-in data: protocol (RFC 2397): `data:[<mediatype>][;base64],<data>`.
#pragma once
#include <optional>

#include <foundation_net/URLProtocol.hpp>

namespace foundation::detail {

class DataProtocol final : public URLProtocol {
 public:
  static bool canInit(const URLRequest& request);
  using URLProtocol::URLProtocol;
  void startLoading() override;
  void stopLoading() override {}
};

struct DecodedDataURL {
  std::string mimeType;                 // "text/plain" when the URL names none
  std::optional<std::string> charset;   // "us-ascii" when the URL names no media type
  Data body;
};
// Decodes a data: URL's text; nullopt when it is malformed (no comma, bad base64).
std::optional<DecodedDataURL> decodeDataURL(std::string_view url);

}  // namespace foundation::detail

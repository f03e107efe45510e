#include "protocols/DataProtocol.hpp"

#include <algorithm>
#include <array>

#include <foundation_net/URLProtocolClient.hpp>

#include "model/Text.hpp"

namespace foundation::detail {
namespace {

// RFC 4648 base64, ignoring white space; nullopt on any other stray character.
std::optional<std::string> base64Decode(std::string_view text) {
  static const std::array<int, 256> table = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = i;
    return t;
  }();
  std::string out;
  unsigned accumulator = 0;
  int bits = 0;
  bool padding = false;
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') { padding = true; continue; }
    int value = table[static_cast<unsigned char>(c)];
    if (value < 0 || padding) return std::nullopt;
    accumulator = (accumulator << 6) | static_cast<unsigned>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((accumulator >> bits) & 0xFF);
    }
  }
  return out;
}

}  // namespace

bool DataProtocol::canInit(const URLRequest& request) { return request.url && request.url->scheme() == "data"; }

std::optional<DecodedDataURL> decodeDataURL(std::string_view url) {
  if (url.size() < 5 || !text::equalsIgnoringCase(url.substr(0, 5), "data:")) return std::nullopt;
  url.remove_prefix(5);
  auto comma = url.find(',');
  if (comma == std::string_view::npos) return std::nullopt;
  std::string_view header = url.substr(0, comma);
  std::string_view payload = url.substr(comma + 1);
  if (auto hash = payload.find('#'); hash != std::string_view::npos) payload = payload.substr(0, hash);

  bool base64 = false;
  if (header.size() >= 7 && text::equalsIgnoringCase(header.substr(header.size() - 7), ";base64")) {
    base64 = true;
    header.remove_suffix(7);
  }
  DecodedDataURL decoded;
  std::string mediaType = text::percentDecoded(header);
  auto semicolon = mediaType.find(';');
  decoded.mimeType = mediaType.substr(0, semicolon);
  std::transform(decoded.mimeType.begin(), decoded.mimeType.end(), decoded.mimeType.begin(), text::asciiLower);
  if (decoded.mimeType.empty()) {
    decoded.mimeType = "text/plain";
    decoded.charset = "us-ascii";
  }
  for (auto at = semicolon; at != std::string::npos;) {
    auto next = mediaType.find(';', at + 1);
    auto parameter = mediaType.substr(at + 1, next == std::string::npos ? std::string::npos : next - at - 1);
    if (parameter.size() > 8 && text::equalsIgnoringCase(std::string_view(parameter).substr(0, 8), "charset=")) {
      decoded.charset = parameter.substr(8);
      std::transform(decoded.charset->begin(), decoded.charset->end(), decoded.charset->begin(), text::asciiLower);
    }
    at = next;
  }
  std::string text = text::percentDecoded(payload);
  if (base64) {
    auto bytes = base64Decode(text);
    if (!bytes) return std::nullopt;
    text = std::move(*bytes);
  }
  decoded.body = Data(text);
  return decoded;
}

void DataProtocol::startLoading() {
  const URL& url = *request().url;
  auto reporter = client();
  auto decoded = decodeDataURL(url.absoluteString());
  if (!decoded) {
    reporter->didFailWithError(*this, Error::url(URLError::badURL, url, "malformed data: URL"));
    return;
  }
  reporter->didReceive(*this, std::make_shared<URLResponse>(url, decoded->mimeType,
      static_cast<std::int64_t>(decoded->body.size()), decoded->charset));
  if (!decoded->body.empty()) reporter->didLoad(*this, decoded->body);
  reporter->didFinishLoading(*this);
}

}  // namespace foundation::detail

#include <foundation_net/HTTPURLResponse.hpp>
#include <foundation_net/URLResponse.hpp>

#include <algorithm>
#include <charconv>

#include "model/Text.hpp"

namespace foundation {

namespace {

// A header value such as `text/html; charset="utf-8"`: its leading token and its parameters.
struct HeaderValue {
  std::string token;
  std::vector<std::pair<std::string, std::string>> parameters;  // names lower-cased, unquoted
};

// Reads one parameter value — a token or a quoted string — from the start of text into value;
// returns the number of characters it spans, up to the ';' that ends the parameter.
std::size_t readParameterValue(std::string_view text, std::string& value) {
  const auto start = text.find_first_not_of(" \t");
  if (start != std::string_view::npos && text[start] == '"') {
    std::size_t i = start + 1;
    for (; i < text.size() && text[i] != '"'; ++i) {
      if (text[i] == '\\' && i + 1 < text.size()) ++i;  // quoted-pair
      value.push_back(text[i]);
    }
    return std::min(text.find(';', i), text.size());
  }
  const auto end = std::min(text.find(';'), text.size());
  value = text::trimmed(text.substr(0, end));
  return end;
}

HeaderValue parseHeaderValue(std::string_view value) {
  HeaderValue result;
  std::size_t position = std::min(value.find(';'), value.size());
  result.token = text::trimmed(value.substr(0, position));
  while (position < value.size()) {
    ++position;  // past the ';'
    const auto nameEnd = std::min(value.find_first_of("=;", position), value.size());
    std::string name = text::lowercased(text::trimmed(value.substr(position, nameEnd - position)));
    position = nameEnd;
    std::string parameterValue;
    if (position < value.size() && value[position] == '=') {
      position += 1 + readParameterValue(value.substr(position + 1), parameterValue);
    }
    if (!name.empty()) result.parameters.emplace_back(std::move(name), std::move(parameterValue));
  }
  return result;
}

std::optional<std::string> parameter(const HeaderValue& header, std::string_view name) {
  const auto found = text::findIgnoringCase(header.parameters, name);
  if (found == header.parameters.end()) return std::nullopt;
  return found->second;
}

// The file name a Content-Disposition value names (RFC 6266: filename* wins over filename),
// stripped of directories so that a name like "../../x" cannot steer where a download lands.
std::optional<std::string> dispositionFilename(std::string_view disposition) {
  const HeaderValue header = parseHeaderValue(disposition);
  std::optional<std::string> name;
  if (const auto extended = parameter(header, "filename*")) {
    // RFC 8187 form: charset'language'percent-encoded-name.
    const auto firstQuote = extended->find('\'');
    const auto secondQuote =
        firstQuote == std::string::npos ? std::string::npos : extended->find('\'', firstQuote + 1);
    if (secondQuote != std::string::npos) name = text::percentDecoded(extended->substr(secondQuote + 1));
  }
  if (!name) name = parameter(header, "filename");
  if (!name) return std::nullopt;
  const auto separator = name->find_last_of("/\\");
  std::string base = separator == std::string::npos ? *name : name->substr(separator + 1);
  if (base.empty() || base == "." || base == "..") return std::nullopt;
  return base;
}

// A Content-Length that is a plain non-negative decimal number, else -1 (unknown).
std::int64_t parseContentLength(const std::optional<std::string>& field) {
  if (!field) return -1;
  const std::string_view digits = text::trimmed(*field);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) return -1;
  std::int64_t length = -1;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
  return error == std::errc() && end == digits.data() + digits.size() ? length : -1;
}

}  // namespace

URLResponse::URLResponse(std::optional<URL> url, std::optional<std::string> mimeType,
                         std::int64_t expectedContentLength, std::optional<std::string> textEncodingName)
    : url_(std::move(url)),
      mimeType_(std::move(mimeType)),
      expectedContentLength_(expectedContentLength),
      textEncodingName_(std::move(textEncodingName)) {}

URLResponse::~URLResponse() = default;

std::optional<URL> URLResponse::url() const { return url_; }
std::optional<std::string> URLResponse::mimeType() const { return mimeType_; }
std::int64_t URLResponse::expectedContentLength() const { return expectedContentLength_; }
std::optional<std::string> URLResponse::textEncodingName() const { return textEncodingName_; }

std::optional<std::string> URLResponse::suggestedFilename() const {
  if (url_) {
    std::string last = url_->lastPathComponent();
    if (!last.empty() && last != "/") return last;
  }
  return "Unknown";
}

HTTPURLResponse::HTTPURLResponse(URL url, int statusCode, std::string httpVersion,
                                 std::vector<std::pair<std::string, std::string>> headerFields)
    : URLResponse(std::move(url), std::nullopt, -1, std::nullopt),
      statusCode_(statusCode),
      httpVersion_(std::move(httpVersion)) {
  headers_.reserve(headerFields.size());
  for (auto& [name, value] : headerFields) {
    const auto existing = text::findIgnoringCase(headers_, name);
    if (existing == headers_.end()) {
      headers_.emplace_back(std::move(name), std::move(value));
    } else {
      existing->second += ", ";
      existing->second += value;
    }
  }
  if (const auto contentType = this->value("Content-Type")) {
    const HeaderValue header = parseHeaderValue(*contentType);
    if (!header.token.empty()) mimeType_ = text::lowercased(header.token);
    if (const auto charset = parameter(header, "charset"); charset && !charset->empty()) {
      textEncodingName_ = text::lowercased(*charset);
    }
  }
  expectedContentLength_ = parseContentLength(this->value("Content-Length"));
}

int HTTPURLResponse::statusCode() const { return statusCode_; }

std::string HTTPURLResponse::httpVersion() const { return httpVersion_; }

std::map<std::string, std::string> HTTPURLResponse::allHeaderFields() const {
  return {headers_.begin(), headers_.end()};
}

std::optional<std::string> HTTPURLResponse::value(std::string_view field) const {
  const auto found = text::findIgnoringCase(headers_, field);
  if (found == headers_.end()) return std::nullopt;
  return found->second;
}

std::optional<std::string> HTTPURLResponse::suggestedFilename() const {
  if (const auto disposition = value("Content-Disposition")) {
    if (auto name = dispositionFilename(*disposition)) return name;
  }
  return URLResponse::suggestedFilename();
}

// CFNetwork's short descriptions (CFHTTPMessageCopyLocalizedShortDescriptionForStatusCode).
std::string HTTPURLResponse::localizedStringForStatusCode(int statusCode) {
  switch (statusCode) {
    case 100: return "continue";
    case 101: return "switching protocols";
    case 200: return "no error";
    case 201: return "created";
    case 202: return "accepted";
    case 203: return "non-authoritative information";
    case 204: return "no content";
    case 205: return "reset content";
    case 206: return "partial content";
    case 300: return "multiple choices";
    case 301: return "moved permanently";
    case 302: return "found";
    case 303: return "see other";
    case 304: return "not modified";
    case 305: return "needs proxy";
    case 307: return "temporarily redirected";
    case 400: return "bad request";
    case 401: return "unauthorized";
    case 402: return "payment required";
    case 403: return "forbidden";
    case 404: return "not found";
    case 405: return "method not allowed";
    case 406: return "unacceptable";
    case 407: return "proxy authentication required";
    case 408: return "request timed out";
    case 409: return "conflict";
    case 410: return "no longer exists";
    case 411: return "length required";
    case 412: return "precondition failed";
    case 413: return "request too large";
    case 414: return "requested URL too long";
    case 415: return "unsupported media type";
    case 416: return "requested range not satisfiable";
    case 417: return "expectation failed";
    case 500: return "internal server error";
    case 501: return "unimplemented";
    case 502: return "bad gateway";
    case 503: return "service unavailable";
    case 504: return "gateway timed out";
    case 505: return "unsupported version";
    default: break;
  }
  switch (statusCode / 100) {
    case 1: return "informational";
    case 2: return "success";
    case 3: return "redirected";
    case 4: return "client error";
    default: return "server error";  // 5xx, and codes outside 100…599
  }
}

}  // namespace foundation

// The resume data codec (docs/resume-data.md). Every multi-byte number is written byte by byte
// in little-endian order, whatever the host; every read checks the remaining length first.
#include "model/ResumeData.hpp"

#include <charconv>
#include <unordered_set>

#include <foundation_net/Error.hpp>

#include "model/Text.hpp"

namespace foundation::detail {
namespace {

constexpr std::string_view magic = "FNRD";
constexpr std::size_t headerSize = 8;       // magic, major, minor
constexpr std::size_t fieldHeaderSize = 6;  // tag, length
constexpr std::size_t maximumFileName = 255;

// Field tags of major version 1. Never renumber; new fields take new numbers (a minor version).
// Tags 10-15 came with minor version 1 (uploads).
enum Tag : std::uint16_t {
  tagURL = 1,               // bytes, required: absolute http(s) URL
  tagOriginalURL = 2,       // bytes
  tagHeader = 3,            // bytes, repeated: "name\0value", in order
  tagTimeout = 4,           // integer: milliseconds
  tagFolder = 5,            // integer: Folder
  tagFileName = 6,          // bytes, required
  tagBytesReceived = 7,     // integer, required, >= 0
  tagValidator = 8,         // bytes, required, non-empty
  tagExpectedLength = 9,    // integer
  tagKind = 10,             // integer: Kind; absent: download
  tagMethod = 11,           // bytes, upload: required
  tagInteropVersion = 12,   // integer, upload: required, 3, 5 or 6
  tagBodyPath = 13,         // bytes, upload: the app's file (absolute), else fileName names the copy
  tagBodyLength = 14,       // integer, upload: required, >= 0
  tagUploadOffset = 15,     // integer, upload: >= 0, <= bodyLength
  tagEnd = 0xFFFF,          // 4 bytes, required, last: CRC-32 of everything before this field
};

void put(std::string& out, std::uint64_t value, std::size_t byteCount) {
  for (std::size_t i = 0; i < byteCount; ++i) out.push_back(static_cast<char>(static_cast<std::uint8_t>(value >> (8 * i))));
}

std::uint64_t get(std::string_view in, std::size_t byteCount) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < byteCount; ++i) value |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(in[i])) << (8 * i);
  return value;
}

void putBytes(std::string& out, Tag tag, std::string_view bytes) {
  put(out, tag, 2);
  put(out, bytes.size(), 4);
  out.append(bytes);
}

void putInteger(std::string& out, Tag tag, std::int64_t value) {
  put(out, tag, 2);
  put(out, 8, 4);
  put(out, static_cast<std::uint64_t>(value), 8);
}

std::optional<std::int64_t> integerOf(std::string_view value) {
  if (value.size() != 8) return std::nullopt;
  return static_cast<std::int64_t>(get(value, 8));
}

bool isHTTPURL(const std::string& text, std::optional<URL>& out) {
  out = URL::fromString(text);
  if (!out) return false;
  auto scheme = out->scheme();
  return scheme == "http" || scheme == "https";
}

// An HTTP method: a non-empty token of visible ASCII without separators.
bool isToken(std::string_view text) {
  if (text.empty() || text.size() > 32) return false;
  for (unsigned char c : text)
    if (c <= 0x20 || c >= 0x7f || std::string_view("()<>@,;:\\\"/[]?={}").find(static_cast<char>(c)) != std::string_view::npos)
      return false;
  return true;
}

bool isAbsolutePath(std::string_view path) {
  return !path.empty() && path.front() == '/' && path.size() < 4096 && path.find('\0') == std::string_view::npos;
}

bool isUploadCopyName(std::string_view name) {
  return name.size() > temporaryUploadPrefix.size() && name.size() <= maximumFileName && name.starts_with(temporaryUploadPrefix) &&
         name.find_first_of(std::string_view("/\\\0", 3)) == std::string_view::npos;
}

bool isRangeHeader(std::string_view name) {
  return text::equalsIgnoringCase(name, "Range") || text::equalsIgnoringCase(name, "If-Range");
}

}  // namespace

Data ResumeData::encode() const {
  std::string out(magic);
  put(out, majorVersion, 2);
  put(out, minorVersion, 2);
  putBytes(out, tagURL, url);
  if (!originalURL.empty()) putBytes(out, tagOriginalURL, originalURL);
  for (const auto& [name, value] : headers) {
    std::string entry = name;
    entry.push_back('\0');
    entry += value;
    putBytes(out, tagHeader, entry);
  }
  if (timeoutMilliseconds) putInteger(out, tagTimeout, *timeoutMilliseconds);
  if (kind == Kind::download) {
    putInteger(out, tagFolder, static_cast<std::int64_t>(folder));
    putBytes(out, tagFileName, fileName);
    putInteger(out, tagBytesReceived, bytesReceived);
    putBytes(out, tagValidator, validator);
    putInteger(out, tagExpectedLength, expectedLength);
  } else {
    if (bodyPath.empty()) {
      putInteger(out, tagFolder, static_cast<std::int64_t>(folder));
      putBytes(out, tagFileName, fileName);
    }
    putInteger(out, tagKind, static_cast<std::int64_t>(kind));
    putBytes(out, tagMethod, method);
    putInteger(out, tagInteropVersion, interopVersion);
    if (!bodyPath.empty()) putBytes(out, tagBodyPath, bodyPath);
    putInteger(out, tagBodyLength, bodyLength);
    putInteger(out, tagUploadOffset, uploadOffset);
  }
  const auto crc = checksum(out);
  put(out, tagEnd, 2);
  put(out, 4, 4);
  put(out, crc, 4);
  return Data(out);
}

std::optional<ResumeData> ResumeData::decode(const Data& data) {
  std::string_view in = data.view();
  if (in.size() < headerSize || in.size() > maximumSize || in.substr(0, 4) != magic) return std::nullopt;
  if (get(in.substr(4), 2) != majorVersion) return std::nullopt;  // another major version: not ours to read
  // The end field closes the record: anything cut short or altered fails its checksum.
  constexpr std::size_t endSize = fieldHeaderSize + 4;
  if (in.size() < headerSize + endSize) return std::nullopt;
  const std::string_view end = in.substr(in.size() - endSize);
  if (get(end, 2) != tagEnd || get(end.substr(2), 4) != 4 || get(end.substr(6), 4) != checksum(in.substr(0, in.size() - endSize)))
    return std::nullopt;
  in = in.substr(headerSize, in.size() - headerSize - endSize);

  ResumeData result;
  bool hasURL = false, hasFileName = false, hasBytes = false, hasValidator = false, hasBodyLength = false;
  std::unordered_set<std::string> headerNames;
  while (!in.empty()) {
    if (in.size() < fieldHeaderSize) return std::nullopt;
    const auto tag = static_cast<std::uint16_t>(get(in, 2));
    const auto length = get(in.substr(2), 4);
    in.remove_prefix(fieldHeaderSize);
    if (length > in.size()) return std::nullopt;
    const std::string_view value = in.substr(0, length);
    in.remove_prefix(length);
    switch (tag) {
      case tagURL: result.url = value; hasURL = true; break;
      case tagOriginalURL: result.originalURL = value; break;
      case tagHeader: {
        auto separator = value.find('\0');
        if (separator == std::string_view::npos || result.headers.size() == maximumHeaders) return std::nullopt;
        std::string name(value.substr(0, separator));
        if (name.empty() || isRangeHeader(name) || !headerNames.insert(text::lowercased(name)).second) return std::nullopt;
        result.headers.emplace_back(std::move(name), std::string(value.substr(separator + 1)));
        break;
      }
      case tagTimeout: {
        auto ms = integerOf(value);
        if (!ms || *ms <= 0) return std::nullopt;
        result.timeoutMilliseconds = ms;
        break;
      }
      case tagFolder: {
        auto folder = integerOf(value);
        if (!folder || (*folder != 0 && *folder != 1)) return std::nullopt;
        result.folder = static_cast<Folder>(*folder);
        break;
      }
      case tagFileName: result.fileName = value; hasFileName = true; break;
      case tagBytesReceived: {
        auto bytes = integerOf(value);
        if (!bytes || *bytes < 0) return std::nullopt;
        result.bytesReceived = *bytes;
        hasBytes = true;
        break;
      }
      case tagValidator: result.validator = value; hasValidator = !value.empty(); break;
      case tagExpectedLength: {
        auto length = integerOf(value);
        if (!length || *length < -1) return std::nullopt;
        result.expectedLength = *length;
        break;
      }
      case tagKind: {
        auto kind = integerOf(value);
        if (!kind || (*kind != 0 && *kind != 1)) return std::nullopt;
        result.kind = static_cast<Kind>(*kind);
        break;
      }
      case tagMethod: result.method = value; break;
      case tagInteropVersion: {
        auto version = integerOf(value);
        if (!version || (*version != 3 && *version != 5 && *version != 6)) return std::nullopt;
        result.interopVersion = static_cast<int>(*version);
        break;
      }
      case tagBodyPath: result.bodyPath = value; break;
      case tagBodyLength: {
        auto length = integerOf(value);
        if (!length || *length < 0) return std::nullopt;
        result.bodyLength = *length;
        hasBodyLength = true;
        break;
      }
      case tagUploadOffset: {
        auto offset = integerOf(value);
        if (!offset || *offset < 0) return std::nullopt;
        result.uploadOffset = *offset;
        break;
      }
      default: break;  // a field of a newer minor version
    }
  }
  std::optional<URL> parsed;
  if (!hasURL || !isHTTPURL(result.url, parsed)) return std::nullopt;
  if (!result.originalURL.empty() && !isHTTPURL(result.originalURL, parsed)) return std::nullopt;
  if (result.kind == Kind::download) {
    if (!hasFileName || !hasBytes || !hasValidator || !isPartialFileName(result.folder, result.fileName))
      return std::nullopt;
    return result;
  }
  // An upload: its original request, its version, and exactly one body: the app's file by an
  // absolute path, or the library's copy by a bare name in the temporary folder.
  const bool copy = result.bodyPath.empty();
  if (result.originalURL.empty() || !isToken(result.method) || result.interopVersion == 0 || !hasBodyLength ||
      result.uploadOffset > result.bodyLength)
    return std::nullopt;
  if (copy ? !(hasFileName && result.folder == Folder::temporary && isUploadCopyName(result.fileName))
           : (hasFileName || !isAbsolutePath(result.bodyPath)))
    return std::nullopt;
  return result;
}

std::uint32_t ResumeData::checksum(std::string_view bytes) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

URLRequest ResumeData::request() const {
  URLRequest request{URL(url)};
  for (const auto& [name, value] : headers) request.setValue(value, name);
  if (timeoutMilliseconds) request.setTimeoutInterval(static_cast<double>(*timeoutMilliseconds) / 1000.0);
  return request;
}

URLRequest ResumeData::originalRequest() const {
  URLRequest request = this->request();
  if (!originalURL.empty()) request.url = URL(originalURL);
  if (kind == Kind::upload) request.httpMethod = method;
  return request;
}

std::optional<ResumeData> ResumeData::make(const URLRequest& originalRequest, const URLRequest& request,
                                           const HTTPURLResponse& response, Folder folder, std::string fileName,
                                           std::int64_t bytesReceived) {
  if (!resumable(request, response) || !isPartialFileName(folder, fileName) || bytesReceived < 0) return std::nullopt;
  ResumeData data;
  data.url = request.url->absoluteString();
  if (originalRequest.url) data.originalURL = originalRequest.url->absoluteString();
  for (const auto& [name, value] : request.headerFields())
    if (!isRangeHeader(name) && data.headers.size() < maximumHeaders) data.headers.emplace_back(name, value);
  if (request.hasExplicitTimeout() && request.timeoutInterval > 0)
    data.timeoutMilliseconds = static_cast<std::int64_t>(request.timeoutInterval * 1000);
  data.folder = folder;
  data.fileName = std::move(fileName);
  data.bytesReceived = bytesReceived;
  data.validator = strongValidator(response);
  if (response.statusCode() == 206) {
    auto range = parseContentRange(response.value("Content-Range").value_or(""));
    data.expectedLength = range ? range->second : -1;
  } else {
    data.expectedLength = response.expectedContentLength();
  }
  if (data.encode().size() > maximumSize) return std::nullopt;
  return data;
}

ResumeData ResumeData::forUpload(const URLRequest& original, std::string resourceURL, int version,
                                 std::int64_t bodyLength) {
  ResumeData data;
  data.kind = Kind::upload;
  data.url = std::move(resourceURL);
  if (original.url) data.originalURL = original.url->absoluteString();
  data.method = original.httpMethod;
  for (const auto& [name, value] : original.headerFields())
    if (!isRangeHeader(name) && data.headers.size() < maximumHeaders) data.headers.emplace_back(name, value);
  if (original.hasExplicitTimeout() && original.timeoutInterval > 0)
    data.timeoutMilliseconds = static_cast<std::int64_t>(original.timeoutInterval * 1000);
  data.interopVersion = version;
  data.bodyLength = bodyLength;
  return data;
}

std::string strongValidator(const HTTPURLResponse& response) {
  if (auto etag = response.value("ETag"); etag && !etag->empty() && etag->rfind("W/", 0) != 0) return *etag;
  return response.value("Last-Modified").value_or("");
}

bool resumable(const URLRequest& request, const HTTPURLResponse& response) {
  if (!request.url || request.httpMethod != "GET") return false;
  auto scheme = request.url->scheme();
  if (scheme != "http" && scheme != "https") return false;
  const int status = response.statusCode();
  if (status != 200 && status != 206) return false;
  if (strongValidator(response).empty()) return false;
  if (auto coding = response.value("Content-Encoding"); coding && !text::equalsIgnoringCase(text::trimmed(*coding), "identity"))
    return false;
  if (status == 206) return true;
  auto ranges = response.value("Accept-Ranges");
  return ranges && text::lowercased(*ranges).find("bytes") != std::string::npos;
}

bool isTransientFailure(int code) {
  switch (code) {
    case URLError::timedOut:
    case URLError::cannotFindHost:
    case URLError::cannotConnectToHost:
    case URLError::networkConnectionLost:
    case URLError::dnsLookupFailed:
    case URLError::notConnectedToInternet:
    case URLError::resourceUnavailable:
      return true;
    default:
      return false;
  }
}

bool isPartialFileName(ResumeData::Folder folder, std::string_view name) {
  if (name.empty() || name.size() > maximumFileName || name.front() == '.') return false;
  if (name.find_first_of(std::string_view("/\\\0", 3)) != std::string_view::npos) return false;
  if (folder == ResumeData::Folder::temporary)
    return name.size() > temporaryDownloadPrefix.size() && name.starts_with(temporaryDownloadPrefix);
  return name.size() > resumableSuffix.size() && name.ends_with(resumableSuffix);
}

std::optional<std::pair<std::int64_t, std::int64_t>> parseContentRange(std::string_view value) {
  value = text::trimmed(value);
  if (!value.starts_with("bytes ")) return std::nullopt;
  auto dash = value.find('-');
  auto slash = value.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || dash > slash) return std::nullopt;
  std::int64_t first = 0, total = -1;
  auto [end, ec] = std::from_chars(value.data() + 6, value.data() + dash, first);
  if (ec != std::errc() || end != value.data() + dash || first < 0) return std::nullopt;
  if (value.substr(slash + 1) != "*") {
    auto [totalEnd, totalEc] = std::from_chars(value.data() + slash + 1, value.data() + value.size(), total);
    if (totalEc != std::errc() || totalEnd != value.data() + value.size() || total < 0) return std::nullopt;
  }
  return std::make_pair(first, total);
}

std::optional<std::int64_t> parseUnsatisfiedContentRange(std::string_view value) {
  value = text::trimmed(value);
  if (!value.starts_with("bytes */")) return std::nullopt;
  std::int64_t total = -1;
  auto [end, ec] = std::from_chars(value.data() + 8, value.data() + value.size(), total);
  if (ec != std::errc() || end != value.data() + value.size() || total < 0) return std::nullopt;
  return total;
}

}  // namespace foundation::detail

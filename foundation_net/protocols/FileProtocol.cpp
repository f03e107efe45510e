#include "protocols/FileProtocol.hpp"

#include <fmt/format.h>
#include <uv.h>

#include <foundation_net/URLProtocolClient.hpp>

#include "model/Text.hpp"
#include "protocols/Registry.hpp"

namespace foundation::detail {

bool FileProtocol::canInit(const URLRequest& request) { return request.url && request.url->isFileURL(); }

std::string mimeTypeForPath(std::string_view path) {
  static constexpr std::pair<std::string_view, std::string_view> types[] = {
      {"txt", "text/plain"},        {"html", "text/html"},       {"htm", "text/html"},
      {"css", "text/css"},          {"csv", "text/csv"},         {"xml", "application/xml"},
      {"json", "application/json"}, {"js", "text/javascript"},   {"png", "image/png"},
      {"jpg", "image/jpeg"},        {"jpeg", "image/jpeg"},      {"gif", "image/gif"},
      {"svg", "image/svg+xml"},     {"pdf", "application/pdf"},  {"zip", "application/zip"},
      {"gz", "application/gzip"},   {"mp4", "video/mp4"},        {"mp3", "audio/mpeg"},
  };
  auto dot = path.find_last_of('.');
  auto slash = path.find_last_of('/');
  if (dot != std::string_view::npos && (slash == std::string_view::npos || dot > slash)) {
    auto extension = path.substr(dot + 1);
    for (auto [ext, type] : types)
      if (text::equalsIgnoringCase(ext, extension)) return std::string(type);
  }
  return "application/octet-stream";
}

void FileProtocol::startLoading() {
  const URL& url = *request().url;
  const std::string path = url.path();
  if (int rc = platform::File::openForReading(path, file_); rc < 0) {
    int code = rc == UV_ENOENT ? URLError::fileDoesNotExist
             : rc == UV_EISDIR ? URLError::fileIsDirectory
             : (rc == UV_EACCES || rc == UV_EPERM) ? URLError::noPermissionsToReadFile
             : URLError::cannotOpenFile;
    client()->didFailWithError(*this, Error::url(code, url, fmt::format("{}: {}", path, platform::errorName(rc))));
    return;
  }
  client()->didReceive(*this, std::make_shared<URLResponse>(url, mimeTypeForPath(path), file_.size(), std::nullopt));
  readNextChunk();
}

void FileProtocol::readNextChunk() {
  if (stopped_) return;
  std::vector<char> buffer(256 * 1024);
  auto n = file_.read(buffer.data(), buffer.size());
  if (n < 0) {
    client()->didFailWithError(*this, Error::url(URLError::cannotOpenFile, request().url,
                                                 platform::errorName(static_cast<int>(n))));
    return;
  }
  if (n == 0) {
    file_.close();
    client()->didFinishLoading(*this);
    return;
  }
  client()->didLoad(*this, Data(buffer.data(), static_cast<std::size_t>(n)));
  protocolQueue().addOperation([self = std::static_pointer_cast<FileProtocol>(shared_from_this())] {
    self->readNextChunk();
  });
}

void FileProtocol::stopLoading() { stopped_ = true; }

}  // namespace foundation::detail

// The built-in file: protocol: streams a local file through the generic URLProtocolClient,
// one chunk per operation on the protocol queue, so that stopLoading takes effect between chunks.
#pragma once
#include <atomic>
#include <memory>

#include <foundation_net/URLProtocol.hpp>

#include "platform/File.hpp"

namespace foundation::detail {

class FileProtocol final : public URLProtocol {
 public:
  static bool canInit(const URLRequest& request);
  using URLProtocol::URLProtocol;
  void startLoading() override;
  void stopLoading() override;

 private:
  void readNextChunk();
  std::atomic<bool> stopped_{false};
  platform::File file_;
};

// A MIME type for a file name's extension ("application/octet-stream" when unknown).
std::string mimeTypeForPath(std::string_view path);

}  // namespace foundation::detail

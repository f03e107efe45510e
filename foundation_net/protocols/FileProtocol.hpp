// The built-in file: protocol: streams a local file through the generic URLProtocolClient.
#pragma once
#include <atomic>

#include <foundation_net/URLProtocol.hpp>

namespace foundation::detail {

class FileProtocol final : public URLProtocol {
 public:
  static bool canInit(const URLRequest& request);
  using URLProtocol::URLProtocol;
  void startLoading() override;
  void stopLoading() override;

 private:
  std::atomic<bool> stopped_{false};
};

// A MIME type for a file name's extension ("application/octet-stream" when unknown).
std::string mimeTypeForPath(std::string_view path);

}  // namespace foundation::detail

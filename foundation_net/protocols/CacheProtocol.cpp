#include "protocols/CacheProtocol.hpp"

#include <foundation_net/URLProtocolClient.hpp>

namespace foundation::detail {

namespace {

class CacheProtocol final : public URLProtocol {
 public:
  CacheProtocol(const URLRequest& request, std::shared_ptr<URLSessionTask> task,
                std::shared_ptr<URLProtocolClient> client, CachedURLResponse cached)
      : URLProtocol(request, std::move(task), std::move(client)), cached_(std::move(cached)) {}

  void startLoading() override {
    client()->didReceive(*this, cached_.response());
    if (!cached_.data().empty()) client()->didLoad(*this, cached_.data());
    client()->didFinishLoading(*this);
  }
  void stopLoading() override {}

 private:
  CachedURLResponse cached_;
};

}  // namespace

URLProtocolClass cachedResponseProtocol(CachedURLResponse cached) {
  return URLProtocolClass{
      "foundation_net.URLCache", [](const URLRequest&) { return true; },
      [cached = std::move(cached)](const URLRequest& request, std::shared_ptr<URLSessionTask> task,
                                   std::shared_ptr<URLProtocolClient> client) {
        return std::shared_ptr<URLProtocol>(std::make_shared<CacheProtocol>(request, std::move(task), std::move(client), cached));
      }};
}

}  // namespace foundation::detail

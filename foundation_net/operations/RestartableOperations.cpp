#include <foundation_net/Downloader.hpp>
#include <foundation_net/RestartableOperations.hpp>
#include <foundation_net/Uploader.hpp>

#include "operations/OperationCenter.hpp"

namespace foundation {

using operations::OperationCenter;

RestartableOperations::RestartableOperations(std::shared_ptr<OperationCenter> center) : center_(std::move(center)) {}

RestartableOperations::~RestartableOperations() { center_->close(); }

bool RestartableOperations::handleBackgroundEvents(const std::string& sessionIdentifier,
                                                   std::function<void()> completionHandler) {
  return center_->handleBackgroundEvents(sessionIdentifier, std::move(completionHandler));
}

std::vector<RestartableOperations::Identifier> RestartableOperations::heldIdentifiers() const {
  return center_->heldIdentifiers();
}

bool RestartableOperations::discardHeldResult(const Identifier& identifier) { return center_->discardHeld(identifier); }

std::string RestartableOperations::folder() const { return center_->folder(); }

std::shared_ptr<URLSession> RestartableOperations::session() const { return center_->session(); }

Downloader::Downloader(const URLSessionConfiguration& configuration, std::shared_ptr<OperationQueue> delegateQueue,
                       std::string folder)
    : RestartableOperations(OperationCenter::make(OperationCenter::Kind::download, configuration,
                                                  std::move(delegateQueue), std::move(folder))) {}

void Downloader::beginDownload(const URLRequest& request, const Identifier& identifier, Handler handler,
                               std::optional<URL> destination) {
  center_->begin(identifier, {request, std::nullopt, std::move(destination)}, std::move(handler));
}

PendingResponse Downloader::download(const URLRequest& request, Identifier identifier, std::optional<URL> destination) {
  return center_->awaitable(std::move(identifier), {request, std::nullopt, std::move(destination)});
}

Uploader::Uploader(const URLSessionConfiguration& configuration, std::shared_ptr<OperationQueue> delegateQueue,
                   std::string folder)
    : RestartableOperations(OperationCenter::make(OperationCenter::Kind::upload, configuration,
                                                  std::move(delegateQueue), std::move(folder))) {}

void Uploader::beginUpload(const URL& file, const URLRequest& request, const Identifier& identifier, Handler handler) {
  center_->begin(identifier, {request, file, std::nullopt}, std::move(handler));
}

PendingResponse Uploader::upload(const URLRequest& request, URL file, Identifier identifier) {
  return center_->awaitable(std::move(identifier), {request, std::move(file), std::nullopt});
}

}  // namespace foundation

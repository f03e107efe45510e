#include <foundation_net/Downloader.hpp>

#include "operations/OperationCenter.hpp"

namespace foundation {

using operations::OperationCenter;

Downloader::Downloader(const URLSessionConfiguration& configuration, std::shared_ptr<OperationQueue> delegateQueue,
                       std::string folder)
    : center_(OperationCenter::make(OperationCenter::Kind::download, configuration, std::move(delegateQueue),
                                    std::move(folder))) {}

Downloader::~Downloader() { center_->close(); }

void Downloader::beginDownload(const URLRequest& request, const Identifier& identifier, Handler handler,
                               std::optional<URL> destination) {
  center_->begin(identifier, {request, std::nullopt, std::move(destination)}, std::move(handler));
}

PendingResponse Downloader::download(const URLRequest& request, Identifier identifier, std::optional<URL> destination) {
  return center_->awaitable(std::move(identifier), {request, std::nullopt, std::move(destination)});
}

bool Downloader::handleBackgroundEvents(const std::string& sessionIdentifier, std::function<void()> completionHandler) {
  return center_->handleBackgroundEvents(sessionIdentifier, std::move(completionHandler));
}

std::vector<Downloader::Identifier> Downloader::heldIdentifiers() const { return center_->heldIdentifiers(); }
bool Downloader::discardHeldResult(const Identifier& identifier) { return center_->discardHeld(identifier); }
std::string Downloader::folder() const { return center_->folder(); }
std::shared_ptr<URLSession> Downloader::session() const { return center_->session(); }

}  // namespace foundation

#include <foundation_net/Uploader.hpp>

#include "operations/OperationCenter.hpp"

namespace foundation {

using operations::OperationCenter;

Uploader::Uploader(const URLSessionConfiguration& configuration, std::shared_ptr<OperationQueue> delegateQueue,
                   std::string folder)
    : center_(OperationCenter::make(OperationCenter::Kind::upload, configuration, std::move(delegateQueue),
                                    std::move(folder))) {}

Uploader::~Uploader() { center_->close(); }

void Uploader::beginUpload(const URL& file, const URLRequest& request, const Identifier& identifier, Handler handler) {
  center_->begin(identifier, {request, file, std::nullopt}, std::move(handler));
}

PendingResponse Uploader::upload(const URLRequest& request, URL file, Identifier identifier) {
  return center_->awaitable(std::move(identifier), {request, std::move(file), std::nullopt});
}

bool Uploader::handleBackgroundEvents(const std::string& sessionIdentifier, std::function<void()> completionHandler) {
  return center_->handleBackgroundEvents(sessionIdentifier, std::move(completionHandler));
}

std::vector<Uploader::Identifier> Uploader::heldIdentifiers() const { return center_->heldIdentifiers(); }
bool Uploader::discardHeldResult(const Identifier& identifier) { return center_->discardHeld(identifier); }
std::string Uploader::folder() const { return center_->folder(); }
std::shared_ptr<URLSession> Uploader::session() const { return center_->session(); }

}  // namespace foundation

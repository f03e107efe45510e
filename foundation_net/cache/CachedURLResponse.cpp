#include <foundation_net/CachedURLResponse.hpp>

#include <utility>

namespace foundation {

CachedURLResponse::CachedURLResponse(std::shared_ptr<const URLResponse> response, Data data,
                                     std::map<std::string, std::string> userInfo, URLCacheStoragePolicy storagePolicy)
    : response_(std::move(response)), data_(std::move(data)), userInfo_(std::move(userInfo)), storagePolicy_(storagePolicy) {}

}  // namespace foundation

// CachedURLResponse: a response and its body as URLCache keeps them (Swift CachedURLResponse).
// An immutable value; copies share the body's bytes.
#pragma once
#include <map>
#include <memory>
#include <string>

#include <foundation_net/Data.hpp>
#include <foundation_net/URLResponse.hpp>

namespace foundation {

// Swift URLCache.StoragePolicy (also URLCache::StoragePolicy): where a response may be kept.
enum class URLCacheStoragePolicy { allowed = 0, allowedInMemoryOnly = 1, notAllowed = 2 };

class CachedURLResponse {
 public:
  CachedURLResponse(std::shared_ptr<const URLResponse> response, Data data,
                    std::map<std::string, std::string> userInfo = {},
                    URLCacheStoragePolicy storagePolicy = URLCacheStoragePolicy::allowed);

  const std::shared_ptr<const URLResponse>& response() const { return response_; }
  const Data& data() const { return data_; }
  // Swift's userInfo ([AnyHashable: Any]) as strings; kept on disk with the response.
  const std::map<std::string, std::string>& userInfo() const { return userInfo_; }
  URLCacheStoragePolicy storagePolicy() const { return storagePolicy_; }

 private:
  std::shared_ptr<const URLResponse> response_;
  Data data_;
  std::map<std::string, std::string> userInfo_;
  URLCacheStoragePolicy storagePolicy_;
};

}  // namespace foundation

#include <foundation_net/URLSessionConfiguration.hpp>

#include <stdexcept>

#include <foundation_net/HTTPCookieStorage.hpp>
#include <foundation_net/URLCache.hpp>
#include <foundation_net/URLCredentialStorage.hpp>

namespace foundation {

URLSessionConfiguration URLSessionConfiguration::defaultConfiguration() {
  URLSessionConfiguration configuration;
  configuration.httpCookieStorage = HTTPCookieStorage::shared();
  configuration.urlCredentialStorage = URLCredentialStorage::shared();
  configuration.urlCache = URLCache::shared();
  return configuration;
}

URLSessionConfiguration URLSessionConfiguration::ephemeral() {
  URLSessionConfiguration configuration;
  configuration.ephemeral_ = true;
  configuration.httpCookieStorage = std::make_shared<HTTPCookieStorage>();  // private, in memory
  configuration.urlCredentialStorage = std::make_shared<URLCredentialStorage>();
  configuration.urlCache = std::make_shared<URLCache>(4'000'000, 0);  // private, in memory
  return configuration;
}

URLSessionConfiguration URLSessionConfiguration::background(std::string identifier) {
  if (identifier.empty()) {
    throw std::invalid_argument("URLSessionConfiguration::background: the identifier must not be empty");
  }
  URLSessionConfiguration configuration = defaultConfiguration();
  configuration.identifier_ = std::move(identifier);
  configuration.urlCache = nullptr;  // as Apple's: background transfers bypass the cache
  return configuration;
}

std::optional<std::string> URLSessionConfiguration::identifier() const { return identifier_; }

bool URLSessionConfiguration::isEphemeral() const { return ephemeral_; }

}  // namespace foundation

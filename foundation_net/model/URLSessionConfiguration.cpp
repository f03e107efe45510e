#include <foundation_net/URLSessionConfiguration.hpp>

#include <stdexcept>

#include <foundation_net/HTTPCookieStorage.hpp>
#include <foundation_net/URLCredentialStorage.hpp>

namespace foundation {

URLSessionConfiguration URLSessionConfiguration::defaultConfiguration() {
  URLSessionConfiguration configuration;
  configuration.httpCookieStorage = HTTPCookieStorage::shared();
  configuration.urlCredentialStorage = URLCredentialStorage::shared();
  return configuration;
}

URLSessionConfiguration URLSessionConfiguration::ephemeral() {
  URLSessionConfiguration configuration;
  configuration.ephemeral_ = true;
  configuration.httpCookieStorage = std::make_shared<HTTPCookieStorage>();  // private, in memory
  configuration.urlCredentialStorage = std::make_shared<URLCredentialStorage>();
  return configuration;
}

URLSessionConfiguration URLSessionConfiguration::background(std::string identifier) {
  if (identifier.empty()) {
    throw std::invalid_argument("URLSessionConfiguration::background: the identifier must not be empty");
  }
  URLSessionConfiguration configuration = defaultConfiguration();
  configuration.identifier_ = std::move(identifier);
  return configuration;
}

std::optional<std::string> URLSessionConfiguration::identifier() const { return identifier_; }

bool URLSessionConfiguration::isEphemeral() const { return ephemeral_; }

}  // namespace foundation

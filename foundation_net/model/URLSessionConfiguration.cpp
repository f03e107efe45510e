#include <foundation_net/URLSessionConfiguration.hpp>

#include <stdexcept>

namespace foundation {

URLSessionConfiguration URLSessionConfiguration::defaultConfiguration() { return {}; }

URLSessionConfiguration URLSessionConfiguration::ephemeral() {
  URLSessionConfiguration configuration;
  configuration.ephemeral_ = true;
  return configuration;
}

URLSessionConfiguration URLSessionConfiguration::background(std::string identifier) {
  if (identifier.empty()) {
    throw std::invalid_argument("URLSessionConfiguration::background: the identifier must not be empty");
  }
  URLSessionConfiguration configuration;
  configuration.identifier_ = std::move(identifier);
  return configuration;
}

std::optional<std::string> URLSessionConfiguration::identifier() const { return identifier_; }

bool URLSessionConfiguration::isEphemeral() const { return ephemeral_; }

}  // namespace foundation

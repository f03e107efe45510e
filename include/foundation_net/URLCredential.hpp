// URLCredential: a user name and password (client certificates and trust are not supported yet).
#pragma once
#include <optional>
#include <string>

namespace foundation {

class URLCredential {
 public:
  enum class Persistence { none = 0, forSession = 1, permanent = 2, synchronizable = 3 };
  URLCredential(std::string user, std::string password, Persistence persistence);
  std::optional<std::string> user() const;
  std::optional<std::string> password() const;
  bool hasPassword() const;
  Persistence persistence() const;

 private:
  std::string user_, password_;
  Persistence persistence_;
};

}  // namespace foundation

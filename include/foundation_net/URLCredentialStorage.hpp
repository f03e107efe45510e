// URLCredentialStorage: credentials by protection space (URLSessionConfiguration::urlCredentialStorage).
// Thread-safe, like Apple's. Kept in memory: `permanent` credentials are not written anywhere
// (docs/porting.md).
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <foundation_net/URLCredential.hpp>
#include <foundation_net/URLProtectionSpace.hpp>

namespace foundation {

class URLCredentialStorage {
 public:
  // Swift URLCredentialStorage.shared: the process's storage, which default configurations use.
  static std::shared_ptr<URLCredentialStorage> shared();
  // An empty storage of its own, as each ephemeral configuration gets.
  URLCredentialStorage() = default;
  URLCredentialStorage(const URLCredentialStorage&) = delete;
  URLCredentialStorage& operator=(const URLCredentialStorage&) = delete;

  // Swift allCredentials: each protection space with its credentials by user name.
  std::vector<std::pair<URLProtectionSpace, std::map<std::string, URLCredential>>> allCredentials() const;
  // Swift credentials(for:): by user name; empty when there are none.
  std::map<std::string, URLCredential> credentials(const URLProtectionSpace& space) const;
  // Swift set(_:for:): adds or replaces the credential of that user; one whose persistence is
  // `none` is not stored, as on Apple.
  void set(const URLCredential& credential, const URLProtectionSpace& space);
  // Swift remove(_:for:): removes that user's credential (and the default, if it was that one).
  void remove(const URLCredential& credential, const URLProtectionSpace& space);
  // Swift defaultCredential(for:) / setDefaultCredential(_:for:) (which also stores it). A
  // session's task proposes the default credential with a challenge and uses it for
  // performDefaultHandling (docs/semantics.md, "Authentication").
  std::optional<URLCredential> defaultCredential(const URLProtectionSpace& space) const;
  void setDefaultCredential(const URLCredential& credential, const URLProtectionSpace& space);

 private:
  struct Space {
    URLProtectionSpace space;
    std::map<std::string, URLCredential> byUser;
    std::optional<std::string> defaultUser;
  };
  // With mutex_ held.
  Space* find(const URLProtectionSpace& space);
  const Space* find(const URLProtectionSpace& space) const;
  Space& store(const URLCredential& credential, const URLProtectionSpace& space);

  mutable std::mutex mutex_;
  std::vector<Space> spaces_;
};

}  // namespace foundation

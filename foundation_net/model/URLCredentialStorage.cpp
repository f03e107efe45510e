#include <foundation_net/URLCredentialStorage.hpp>

#include <algorithm>

namespace foundation {

std::shared_ptr<URLCredentialStorage> URLCredentialStorage::shared() {
  static const auto storage = std::make_shared<URLCredentialStorage>();
  return storage;
}

URLCredentialStorage::Space* URLCredentialStorage::find(const URLProtectionSpace& space) {
  auto it = std::find_if(spaces_.begin(), spaces_.end(), [&](const Space& s) { return s.space == space; });
  return it == spaces_.end() ? nullptr : &*it;
}

const URLCredentialStorage::Space* URLCredentialStorage::find(const URLProtectionSpace& space) const {
  return const_cast<URLCredentialStorage*>(this)->find(space);
}

std::vector<std::pair<URLProtectionSpace, std::map<std::string, URLCredential>>> URLCredentialStorage::allCredentials() const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<URLProtectionSpace, std::map<std::string, URLCredential>>> all;
  for (const auto& s : spaces_) all.emplace_back(s.space, s.byUser);
  return all;
}

std::map<std::string, URLCredential> URLCredentialStorage::credentials(const URLProtectionSpace& space) const {
  std::lock_guard lock(mutex_);
  const Space* s = find(space);
  return s ? s->byUser : std::map<std::string, URLCredential>{};
}

URLCredentialStorage::Space& URLCredentialStorage::store(const URLCredential& credential, const URLProtectionSpace& space) {
  Space* s = find(space);
  if (!s) s = &spaces_.emplace_back(Space{space, {}, std::nullopt});
  s->byUser.insert_or_assign(credential.user().value_or(""), credential);
  return *s;
}

void URLCredentialStorage::set(const URLCredential& credential, const URLProtectionSpace& space) {
  if (credential.persistence() == URLCredential::Persistence::none) return;
  std::lock_guard lock(mutex_);
  store(credential, space);
}

void URLCredentialStorage::remove(const URLCredential& credential, const URLProtectionSpace& space) {
  std::lock_guard lock(mutex_);
  Space* s = find(space);
  if (!s) return;
  const auto user = credential.user().value_or("");
  s->byUser.erase(user);
  if (s->defaultUser == user) s->defaultUser.reset();
  if (s->byUser.empty()) std::erase_if(spaces_, [&](const Space& each) { return each.space == space; });
}

std::optional<URLCredential> URLCredentialStorage::defaultCredential(const URLProtectionSpace& space) const {
  std::lock_guard lock(mutex_);
  const Space* s = find(space);
  if (!s || !s->defaultUser) return std::nullopt;
  auto it = s->byUser.find(*s->defaultUser);
  return it == s->byUser.end() ? std::nullopt : std::optional<URLCredential>(it->second);
}

void URLCredentialStorage::setDefaultCredential(const URLCredential& credential, const URLProtectionSpace& space) {
  if (credential.persistence() == URLCredential::Persistence::none) return;
  std::lock_guard lock(mutex_);
  store(credential, space).defaultUser = credential.user().value_or("");
}

}  // namespace foundation

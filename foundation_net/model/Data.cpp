#include <foundation_net/Data.hpp>

#include <functional>
#include <stdexcept>

#include <fmt/format.h>

namespace foundation {

namespace {

using Storage = std::vector<std::uint8_t>;

// Empty Data keeps no buffer at all, so default-constructed and emptied values cost nothing.
std::shared_ptr<Storage> storageFor(const void* bytes, std::size_t count) {
  if (count == 0) return nullptr;
  const auto* first = static_cast<const std::uint8_t*>(bytes);
  return std::make_shared<Storage>(first, first + count);
}

}  // namespace

Data::Data() = default;

Data::Data(std::string_view text) : storage_(storageFor(text.data(), text.size())) {}

Data::Data(const void* bytes, std::size_t count) : storage_(storageFor(bytes, count)) {}

Data::Data(std::vector<std::uint8_t> bytes) {
  if (!bytes.empty()) storage_ = std::make_shared<Storage>(std::move(bytes));
}

std::size_t Data::size() const { return storage_ ? storage_->size() : 0; }

bool Data::empty() const { return size() == 0; }

const std::uint8_t* Data::bytes() const { return storage_ ? storage_->data() : nullptr; }

std::string_view Data::view() const {
  if (empty()) return {};
  return {reinterpret_cast<const char*>(bytes()), size()};
}

void Data::append(const void* bytes, std::size_t count) {
  if (count == 0) return;
  const auto* first = static_cast<const std::uint8_t*>(bytes);
  // Bytes taken from this Data's own buffer would dangle when the buffer grows: copy them first.
  const std::uint8_t* ownBegin = this->bytes();
  if (ownBegin != nullptr && std::greater_equal<>()(first, ownBegin) &&
      std::less<>()(first, ownBegin + size())) {
    const Storage copy(first, first + count);
    append(copy.data(), copy.size());
    return;
  }
  Storage& storage = mutableStorage();
  storage.insert(storage.end(), first, first + count);
}

void Data::append(const Data& other) {
  if (!storage_) {
    storage_ = other.storage_;  // nothing of our own yet: share the other buffer
    return;
  }
  append(other.bytes(), other.size());
}

void Data::reserve(std::size_t capacity) {
  if (capacity > size()) mutableStorage().reserve(capacity);
}

void Data::removeAll(bool keepingCapacity) {
  if (!keepingCapacity || !storage_) {
    storage_.reset();
  } else if (storage_.use_count() > 1) {
    // Shared with another value, which keeps its bytes: this one gets a buffer of its own.
    const auto capacity = storage_->capacity();
    storage_ = std::make_shared<Storage>();
    storage_->reserve(capacity);
  } else {
    storage_->clear();
  }
}

Data Data::subdata(std::size_t offset, std::size_t count) const {
  if (offset > size() || count > size() - offset) {
    throw std::out_of_range(
        fmt::format("Data::subdata: range {}+{} exceeds the size {}", offset, count, size()));
  }
  return Data(bytes() + offset, count);
}

// The buffer this value may write to: created when absent, cloned while other copies share it.
std::vector<std::uint8_t>& Data::mutableStorage() {
  if (!storage_) {
    storage_ = std::make_shared<Storage>();
  } else if (storage_.use_count() > 1) {
    storage_ = std::make_shared<Storage>(*storage_);
  }
  return *storage_;
}

bool operator==(const Data& a, const Data& b) { return a.view() == b.view(); }

}  // namespace foundation

// Data: contiguous bytes with value semantics (Swift's Data).
// Copies share one buffer until one side is modified (copy-on-write), so passing Data
// around — to a delegate, into a completion handler — never copies the bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace foundation {

class Data {
 public:
  Data();
  Data(std::string_view text);  // NOLINT(google-explicit-constructor): Swift's Data("…".utf8)
  Data(const void* bytes, std::size_t count);
  explicit Data(std::vector<std::uint8_t> bytes);

  std::size_t size() const;
  bool empty() const;
  const std::uint8_t* bytes() const;
  std::string_view view() const;  // the bytes as characters

  void append(const void* bytes, std::size_t count);
  void append(const Data& other);
  void reserve(std::size_t capacity);
  // Swift's removeAll(keepingCapacity:): empties the value; keeping the capacity lets a buffer
  // that is filled again and again be reused instead of allocated anew.
  void removeAll(bool keepingCapacity = false);
  Data subdata(std::size_t offset, std::size_t count) const;

 private:
  std::vector<std::uint8_t>& mutableStorage();
  std::shared_ptr<std::vector<std::uint8_t>> storage_;
};

bool operator==(const Data&, const Data&);

}  // namespace foundation

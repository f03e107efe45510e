// URL: an absolute URL, parsed and normalised by libcurl's URL API.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace foundation {

class URL {
 public:
  // Throws std::invalid_argument when the text is not an absolute URL.
  explicit URL(std::string_view text);
  // Swift's URL(string:): nullopt when the text is not an absolute URL.
  static std::optional<URL> fromString(std::string_view text);
  // A file: URL for a local path; relative paths are taken from the current directory.
  static URL fileURLWithPath(std::string_view path);
  // Resolves a possibly relative reference (a Location header) against this URL.
  std::optional<URL> resolving(std::string_view reference) const;

  std::string absoluteString() const;
  std::string scheme() const;  // lower case
  std::string host() const;
  std::optional<int> port() const;  // the explicit port, if the URL names one
  std::string path() const;         // percent-decoded
  std::optional<std::string> query() const;
  std::optional<std::string> fragment() const;
  std::optional<std::string> user() const;
  std::optional<std::string> password() const;
  std::string lastPathComponent() const;
  bool isFileURL() const;
  URL appendingPathComponent(std::string_view component) const;

 private:
  URL() = default;
  std::string text_;  // the normalised absolute form
  std::string host_;  // parsed once, with text_
  std::optional<int> port_;
};

bool operator==(const URL&, const URL&);

}  // namespace foundation

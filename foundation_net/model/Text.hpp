// Small ASCII text helpers shared by the model types (header names, URL parts, MIME types).
#pragma once
#include <algorithm>
#include <chrono>
#include <ctime>
#include <string>
#include <string_view>

namespace foundation::text {

inline char asciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

inline std::string lowercased(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), asciiLower);
  return out;
}

// Header field names and URL schemes compare without regard to ASCII case.
inline bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](char x, char y) { return asciiLower(x) == asciiLower(y); });
}

// The entry of a (name, value) list whose name matches case-insensitively, or end().
template <class Fields>
auto findIgnoringCase(Fields& fields, std::string_view name) {
  return std::find_if(fields.begin(), fields.end(),
                      [name](const auto& field) { return equalsIgnoringCase(field.first, name); });
}

inline std::string_view trimmed(std::string_view s) {
  constexpr std::string_view whitespace = " \t\r\n";
  const auto first = s.find_first_not_of(whitespace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(whitespace) - first + 1);
}

inline int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = asciiLower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Decodes %XX escapes; a '%' that does not start a valid escape is kept as it is.
inline std::string percentDecoded(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int high = hexValue(s[i + 1]), low = hexValue(s[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// An HTTP date (RFC 9110 IMF-fixdate), "Tue, 01 Jan 2019 00:00:00 GMT".
inline std::string httpDate(std::chrono::system_clock::time_point date) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(date);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[64];
  std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return buffer;
}

}  // namespace foundation::text

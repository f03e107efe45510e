// SHA-256 in hex, through OpenSSL's libcrypto, for the tests that check transfers byte for byte.
#pragma once
#include <openssl/evp.h>

#include <fstream>
#include <string>
#include <string_view>

namespace fntest {

inline std::string sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

// The digest of a file's bytes ("" when it cannot be opened).
inline std::string sha256OfFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return sha256Hex(bytes);
}

}  // namespace fntest

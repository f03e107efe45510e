// libFuzzer target for the resume data codec (downloads and uploads), foundation_net/model/ResumeData.cpp
// (see README.md here and docs/resume-data.md).
//
// Input layout: the first byte chooses the mode; the rest is the record. Mode bit 0 clear: the
// record is decoded as it is. Set: the record is first closed with a correct end field (its
// CRC-32), so that the fuzzer gets past the checksum and explores the field parser.
// Besides the sanitizers, it traps when an invariant fails:
//   - a record that decodes re-encodes to a record that decodes to the same encoding;
//   - a decoded record always yields a request for its http(s) URL; a download names a partial
//     file by a bare name; an upload names its body by an absolute path or a bare copy name,
//     and its offset lies inside the body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "model/ResumeData.hpp"

using namespace foundation;
using foundation::detail::ResumeData;

namespace {

void check(bool condition) {
  if (!condition) __builtin_trap();
}

std::string closed(std::string record) {
  const auto crc = ResumeData::checksum(record);
  const char end[10] = {'\xff', '\xff', 4, 0, 0, 0, static_cast<char>(crc & 0xff), static_cast<char>((crc >> 8) & 0xff),
                        static_cast<char>((crc >> 16) & 0xff), static_cast<char>(crc >> 24)};
  record.append(end, sizeof end);
  return record;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string record(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) record = closed(std::move(record));
  const auto decoded = ResumeData::decode(Data(record));
  if (!decoded) return 0;

  const Data once = decoded->encode();
  const auto again = ResumeData::decode(once);
  check(again.has_value());
  check(again->encode() == once);

  const auto request = decoded->request();
  check(request.url.has_value());
  const auto scheme = request.url->scheme();
  check(scheme == "http" || scheme == "https");
  check(!request.value("Range") && !request.value("If-Range"));
  (void)decoded->originalRequest();
  check(decoded->fileName.find('/') == std::string::npos);
  if (decoded->kind == ResumeData::Kind::download) {
    check(detail::isPartialFileName(decoded->folder, decoded->fileName));
    return 0;
  }
  check(decoded->originalRequest().httpMethod == decoded->method && !decoded->method.empty());
  check(decoded->interopVersion == 3 || decoded->interopVersion == 5 || decoded->interopVersion == 6);
  check(decoded->uploadOffset >= 0 && decoded->uploadOffset <= decoded->bodyLength);
  check(decoded->bodyPath.empty() ? decoded->fileName.starts_with(detail::temporaryUploadPrefix)
                                  : decoded->bodyPath.front() == '/' && decoded->fileName.empty());
  return 0;
}

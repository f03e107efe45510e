// Resume data: what cancelByProducingResumeData and a transient failure hand the app, and what
// downloadTaskWithResumeData / uploadTaskWithResumeData read back. docs/resume-data.md is the format's contract:
//
//   "FNRD"  u16 major  u16 minor  fields: u16 tag, u32 length, the value  …  end field
//
// The last field (tag 0xFFFF) holds the CRC-32 of every byte before it. Numbers are
// little-endian; integer values are 8-byte signed. Decoding rejects anything truncated,
// corrupted, oversized, of another major version or missing a required field, and skips
// fields it does not know, so data written by a newer minor version still reads.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <foundation_net/Data.hpp>
#include <foundation_net/HTTPURLResponse.hpp>
#include <foundation_net/URLRequest.hpp>

namespace foundation::detail {

struct ResumeData {
  static constexpr std::uint16_t majorVersion = 1;
  static constexpr std::uint16_t minorVersion = 1;
  static constexpr std::size_t maximumSize = 1u << 20;
  static constexpr std::size_t maximumHeaders = 1024;

  // Where the partial file lives: the app's temporary folder, or urlsessiond's staging folder.
  enum class Folder : std::int64_t { temporary = 0, staging = 1 };
  // What the data continues: a download (minor version 0 knew only these), or a resumable upload.
  enum class Kind : std::int64_t { download = 0, upload = 1 };

  Kind kind = Kind::download;

  // Downloads and uploads.
  std::string url;          // download: the URL to continue (after redirects); upload: the upload resource
  std::string originalURL;  // the task's original request URL
  std::vector<std::pair<std::string, std::string>> headers;  // request headers, less Range/If-Range
  std::optional<std::int64_t> timeoutMilliseconds;          // the request's explicit timeoutInterval
  // Downloads: the partial file. Uploads from Data: the library's copy of the body (a bare name
  // "CFNetworkUpload_…" in the temporary folder), empty for uploads from the app's file.
  Folder folder = Folder::temporary;
  std::string fileName;     // a bare name inside `folder`
  // Downloads only.
  std::int64_t bytesReceived = 0;
  std::string validator;    // sent as If-Range: the strong ETag, else Last-Modified
  std::int64_t expectedLength = -1;  // the whole resource's length, -1 when unknown
  // Uploads only (docs/resume-data.md, "Uploads").
  std::string method;        // the original request's method
  int interopVersion = 0;    // the draft's interop version the upload speaks: 3, 5 or 6
  std::string bodyPath;      // the app's file being uploaded (absolute); empty for a Data body's copy
  std::int64_t bodyLength = 0;    // the whole body's length
  std::int64_t uploadOffset = 0;  // the bytes the server confirmed when the data was made

  Data encode() const;
  // CRC-32 (IEEE 802.3, as zlib computes it) of `bytes`: the end field's value.
  static std::uint32_t checksum(std::string_view bytes);
  // nullopt for anything that is not resume data this library version can act on.
  static std::optional<ResumeData> decode(const Data& data);

  // The request that continues the download, without Range/If-Range (the task adds them).
  URLRequest request() const;
  // The task's original request (for uploads, with its method; its body is the upload's file).
  URLRequest originalRequest() const;
  // Resume data for `request` whose response was `response`, with `fileName` holding
  // `bytesReceived` bytes; nullopt unless the download can be continued (see resumable()).
  // Upload resume data for `original` (its URL, method, headers, timeout) continuing at the upload
  // resource `resourceURL` of interop version `version`, for a body of `bodyLength` bytes; the
  // caller names the body (bodyPath, or folder + fileName).
  static ResumeData forUpload(const URLRequest& original, std::string resourceURL, int version, std::int64_t bodyLength);
  static std::optional<ResumeData> make(const URLRequest& originalRequest, const URLRequest& request,
                                        const HTTPURLResponse& response, Folder folder, std::string fileName,
                                        std::int64_t bytesReceived);
};

// The validator that pins a response's exact bytes: a strong ETag, else Last-Modified, else "".
std::string strongValidator(const HTTPURLResponse& response);
// Whether a download of `request` that got `response` can be continued with Range + If-Range:
// a GET over http(s), a 2xx with a strong validator, byte ranges accepted (Accept-Ranges: bytes,
// or a 206), and no content coding (curl decodes it, so file offsets are not resource offsets).
bool resumable(const URLRequest& request, const HTTPURLResponse& response);
// A failure that a later attempt may not meet: the network, not the request, was the problem.
bool isTransientFailure(int urlErrorCode);
// Whether `name` is a bare file name the library itself gives partial downloads in `folder`
// ("CFNetworkDownload_…" in the temporary folder, "….resumable" in staging): resume data must
// not point a task at an arbitrary file.
bool isPartialFileName(ResumeData::Folder folder, std::string_view name);
inline constexpr std::string_view temporaryDownloadPrefix = "CFNetworkDownload_";
inline constexpr std::string_view temporaryUploadPrefix = "CFNetworkUpload_";
inline constexpr std::string_view resumableSuffix = ".resumable";
// "bytes 100-199/1000" → (100, 1000); the total is -1 when it is "*".
std::optional<std::pair<std::int64_t, std::int64_t>> parseContentRange(std::string_view value);
// A 416's "bytes */1000" → 1000: the length of the whole representation.
std::optional<std::int64_t> parseUnsatisfiedContentRange(std::string_view value);

}  // namespace foundation::detail

// Results of restartable operations that finished before anyone re-issued them, kept on disk
// so that no result is lost between a completion's acknowledgement and the app asking for it.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include <foundation_net/Data.hpp>
#include <foundation_net/Error.hpp>
#include <foundation_net/HTTPURLResponse.hpp>
#include <foundation_net/URL.hpp>

namespace foundation::operations {

// What a finished task left for its operation, before it is sorted into a NetworkResponse.
struct Outcome {
  std::uint64_t taskIdentifier = 0;
  std::shared_ptr<const HTTPURLResponse> response;
  std::optional<Error> error;
  std::optional<URL> file;   // a finished download, already moved out of the session's hands
  std::optional<Data> body;  // the server's answer to an upload
};

// One folder per Uploader/Downloader: results/<name> (held outcomes), files/<name> (downloads
// waiting for their operation). <name> is the identifier made safe for a file name.
class ResultStore {
 public:
  explicit ResultStore(std::filesystem::path folder);

  // Every readable record, keyed by identifier; unreadable ones are skipped and left in place.
  std::map<std::string, Outcome> load() const;
  // Writes the record through a temporary file renamed over the old one; false when it could not.
  bool save(const std::string& identifier, const Outcome& outcome) const;
  void remove(const std::string& identifier) const;
  // Where a finished download of `identifier` is kept until its operation takes it.
  std::filesystem::path keptFile(const std::string& identifier) const;

 private:
  std::filesystem::path recordPath(const std::string& identifier) const;
  std::filesystem::path folder_;
};

// `identifier` as a file name: letters, digits, '-' and '_' as they are, other bytes as %XX; a
// long one is cut and made unique with a hash.
std::string fileName(const std::string& identifier);

// Moves `from` to `to` (replacing it), copying when they are on different filesystems.
std::error_code moveFile(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace foundation::operations

// URLSessionDownloadTask: loads a resource into a temporary file handed to
// didFinishDownloadingTo (deleted when that method returns) or to a completion handler.
#pragma once
#include <functional>
#include <optional>

#include <foundation_net/Data.hpp>
#include <foundation_net/URLSessionTask.hpp>

namespace foundation {

class URLSessionDownloadTask : public URLSessionTask {
 public:
  explicit URLSessionDownloadTask(std::unique_ptr<Impl> impl);
  // Cancels the task; the handler receives resume data when the download could be resumed
  // (GET over http/https, a validator from the server, byte ranges accepted), else nullopt.
  void cancelByProducingResumeData(std::function<void(std::optional<Data>)> completionHandler);
};

}  // namespace foundation

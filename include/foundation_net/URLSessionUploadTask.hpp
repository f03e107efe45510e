// URLSessionUploadTask: a data task whose request body comes from Data or a file.
#pragma once
#include <functional>
#include <optional>

#include <foundation_net/Data.hpp>
#include <foundation_net/URLSessionDataTask.hpp>

namespace foundation {

class URLSessionUploadTask : public URLSessionDataTask {
 public:
  explicit URLSessionUploadTask(std::unique_ptr<Impl> impl);
  // Cancels the task; the handler receives resume data when the server supports resumable
  // uploads, else nullopt.
  void cancelByProducingResumeData(std::function<void(std::optional<Data>)> completionHandler);
};

}  // namespace foundation

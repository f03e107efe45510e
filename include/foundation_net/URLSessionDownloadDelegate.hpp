// URLSessionDownloadDelegate: events of download tasks.
//   [didResumeAtOffset] → didWriteData* → didFinishDownloadingTo → didFinishCollectingMetrics
//   → didCompleteWithError
#pragma once
#include <cstdint>

#include <foundation_net/URL.hpp>
#include <foundation_net/URLSessionDownloadTask.hpp>
#include <foundation_net/URLSessionTaskDelegate.hpp>

namespace foundation {

class URLSessionDownloadDelegate : public virtual URLSessionTaskDelegate {
 public:
  // The file at location is deleted when this method returns: move or open it here.
  virtual void didFinishDownloadingTo(URLSession& session, URLSessionDownloadTask& task, const URL& location);
  // totalBytesExpectedToWrite is -1 when the size is unknown.
  virtual void didWriteData(URLSession& session, URLSessionDownloadTask& task, std::int64_t bytesWritten,
      std::int64_t totalBytesWritten, std::int64_t totalBytesExpectedToWrite);
  virtual void didResumeAtOffset(URLSession& session, URLSessionDownloadTask& task, std::int64_t fileOffset,
                                 std::int64_t expectedTotalBytes);
};

}  // namespace foundation

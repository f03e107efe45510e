// URLSessionDataDelegate: events of data and upload tasks.
//   didReceiveResponse → (allow) didReceiveData* → didFinishCollectingMetrics → didCompleteWithError
//                      → (becomeDownload) didBecomeDownloadTask, then download events for the new task
//                      → (cancel) didCompleteWithError(NSURLErrorCancelled)
#pragma once
#include <functional>

#include <foundation_net/Data.hpp>
#include <foundation_net/URLSessionDataTask.hpp>
#include <foundation_net/URLSessionDownloadTask.hpp>
#include <foundation_net/URLSessionTaskDelegate.hpp>

namespace foundation {

class URLSessionDataDelegate : public virtual URLSessionTaskDelegate {
 public:
  // No data is delivered until the handler is called. Default: allow.
  virtual void didReceiveResponse(URLSession& session, URLSessionDataTask& task, const URLResponse& response,
      std::function<void(URLSession::ResponseDisposition)> completionHandler);
  virtual void didBecomeDownloadTask(URLSession& session, URLSessionDataTask& dataTask,
                                     URLSessionDownloadTask& downloadTask);
  // Incremental; the chunks together are the body.
  virtual void didReceiveData(URLSession& session, URLSessionDataTask& task, const Data& data);
};

}  // namespace foundation

// URLSessionDataDelegate: events of data and upload tasks.
//   didReceiveResponse → (allow) didReceiveData* → [willCacheResponse] → didFinishCollectingMetrics
//                      → didCompleteWithError
//                      → (becomeDownload) didBecomeDownloadTask, then download events for the new task
//                      → (cancel) didCompleteWithError(NSURLErrorCancelled)
#pragma once
#include <functional>
#include <optional>

#include <foundation_net/CachedURLResponse.hpp>
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
  // Once the whole body has arrived, when the session's URLCache may keep the response (see
  // docs/caching.md): the handler stores the response it is given (the proposal, a changed
  // one, or nullopt for nothing). The task completes without waiting for the handler.
  // Default: stores the proposal.
  virtual void willCacheResponse(URLSession& session, URLSessionDataTask& task, const CachedURLResponse& proposedResponse,
                                 std::function<void(std::optional<CachedURLResponse>)> completionHandler);
};

}  // namespace foundation

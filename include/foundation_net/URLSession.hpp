// URLSession: creates tasks that share one configuration, one delegate and one connection pool.
// All members are safe to call from any thread. Delegate methods run on delegateQueue(), one at
// a time per session, never on the network thread.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <foundation_net/Data.hpp>
#include <foundation_net/Error.hpp>
#include <foundation_net/URL.hpp>
#include <foundation_net/URLRequest.hpp>
#include <foundation_net/URLResponse.hpp>
#include <foundation_net/URLSessionConfiguration.hpp>

namespace foundation {

class OperationQueue;
class URLSessionDelegate;
class URLSessionTask;
class URLSessionDataTask;
class URLSessionUploadTask;
class URLSessionDownloadTask;

class URLSession : public std::enable_shared_from_this<URLSession> {
 public:
  enum class ResponseDisposition { cancel = 0, allow = 1, becomeDownload = 2, becomeStream = 3 };
  enum class AuthChallengeDisposition { useCredential = 0, performDefaultHandling = 1,
                                        cancelAuthenticationChallenge = 2, rejectProtectionSpace = 3 };
  enum class DelayedRequestDisposition { continueLoading = 0, useNewRequest = 1, cancel = 2 };
  using DataCompletionHandler = std::function<void(std::optional<Data>,
      std::shared_ptr<const URLResponse>, std::optional<Error>)>;
  using DownloadCompletionHandler = std::function<void(std::optional<URL> location,
      std::shared_ptr<const URLResponse>, std::optional<Error>)>;

  // The process-wide session with the default configuration and no delegate; it cannot be
  // invalidated.
  static std::shared_ptr<URLSession> shared();
  // A null queue gives the session a new serial queue of its own.
  static std::shared_ptr<URLSession> make(const URLSessionConfiguration& configuration,
      std::shared_ptr<URLSessionDelegate> delegate = nullptr,
      std::shared_ptr<OperationQueue> delegateQueue = nullptr);
  ~URLSession();
  URLSession(const URLSession&) = delete;
  URLSession& operator=(const URLSession&) = delete;

  URLSessionConfiguration configuration() const;  // a copy
  std::shared_ptr<URLSessionDelegate> delegate() const;  // null once invalidated
  std::shared_ptr<OperationQueue> delegateQueue() const;
  std::string sessionDescription() const;
  void setSessionDescription(std::string description);

  // Factories throw std::logic_error once the session is invalidated.
  std::shared_ptr<URLSessionDataTask> dataTask(const URLRequest& request);
  std::shared_ptr<URLSessionDataTask> dataTask(const URL& url);
  std::shared_ptr<URLSessionDataTask> dataTask(const URLRequest& request, DataCompletionHandler);
  std::shared_ptr<URLSessionDataTask> dataTask(const URL& url, DataCompletionHandler);
  std::shared_ptr<URLSessionUploadTask> uploadTask(const URLRequest& request, const URL& fromFile);
  std::shared_ptr<URLSessionUploadTask> uploadTask(const URLRequest& request, const Data& from);
  std::shared_ptr<URLSessionUploadTask> uploadTask(const URLRequest& request, const URL& fromFile,
                                                   DataCompletionHandler);
  std::shared_ptr<URLSessionUploadTask> uploadTask(const URLRequest& request, const Data& from,
                                                   DataCompletionHandler);
  std::shared_ptr<URLSessionDownloadTask> downloadTask(const URLRequest& request);
  std::shared_ptr<URLSessionDownloadTask> downloadTask(const URL& url);
  std::shared_ptr<URLSessionDownloadTask> downloadTask(const URLRequest& request, DownloadCompletionHandler);
  std::shared_ptr<URLSessionDownloadTask> downloadTask(const URL& url, DownloadCompletionHandler);
  std::shared_ptr<URLSessionDownloadTask> downloadTaskWithResumeData(const Data& resumeData);
  std::shared_ptr<URLSessionDownloadTask> downloadTaskWithResumeData(const Data& resumeData,
                                                                     DownloadCompletionHandler);
  std::shared_ptr<URLSessionUploadTask> uploadTaskWithResumeData(const Data& resumeData);
  std::shared_ptr<URLSessionUploadTask> uploadTaskWithResumeData(const Data& resumeData, DataCompletionHandler);

  // Calls back on the delegate queue with the tasks that have not completed yet.
  void getAllTasks(std::function<void(std::vector<std::shared_ptr<URLSessionTask>>)> completionHandler);
  // Lets running tasks finish, then didBecomeInvalidWithError(nullopt); no new tasks.
  void finishTasksAndInvalidate();
  // Cancels every task (NSURLErrorCancelled), then didBecomeInvalidWithError(nullopt).
  void invalidateAndCancel();
  // Empties the configuration's cookie and credential storages and closes idle connections,
  // as flush does; the handler runs on the delegate queue.
  void reset(std::function<void()> completionHandler);
  // Closes idle connections so new tasks open new ones; the handler runs on the delegate queue.
  void flush(std::function<void()> completionHandler);

  class Impl;  // foundation_net/session/SessionImpl.hpp
  Impl& impl() const { return *impl_; }

 private:
  URLSession();
  std::unique_ptr<Impl> impl_;
};

}  // namespace foundation

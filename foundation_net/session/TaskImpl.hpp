// The task state machine. Public calls may come from any thread: they update the public
// state at once and post the work to the loop thread, where every transition happens.
// Protocol events arrive on the loop thread too (see TaskClient). Delegate calls leave
// through the session's DelegateDispatcher and never run on the loop thread; their answers
// come back by post.
//
//   idle ──resume──▶ [queued for a host slot] ──▶ loading ──▶ done
//                                                    │  ▲
//            redirect decision / response disposition ▼  │ (body held meanwhile)
#pragma once
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <foundation_net/URLSession.hpp>
#include <foundation_net/URLSessionTask.hpp>
#include <foundation_net/URLSessionTaskDelegate.hpp>

#include "engine/Loop.hpp"
#include "model/ResumeData.hpp"
#include "platform/File.hpp"
#include "protocols/LoadingClient.hpp"
#include "protocols/Registry.hpp"
#include "protocols/ResumableUpload.hpp"
#include "session/CacheTransaction.hpp"
#include "session/DelegateRoles.hpp"
#include "session/Progress.hpp"

namespace foundation {
namespace detail { class TaskClient; }
namespace background { class BackgroundLink; struct TaskSummary; }
namespace wire { class Message; enum class Type : std::uint16_t; }

class URLSessionTask::Impl {
 public:
  enum class Kind { data, upload, download };
  struct Setup {
    std::shared_ptr<URLSession> session;
    Kind kind = Kind::data;
    URLRequest request = URLRequest(URL("about:blank"));
    detail::BodySource body;
    URLSession::DataCompletionHandler dataCompletion;
    URLSession::DownloadCompletionHandler downloadCompletion;
    std::optional<Error> startFailure{};  // reported as soon as the task is resumed
    std::shared_ptr<background::BackgroundLink> remote{};  // a background session's daemon link
    std::optional<std::uint64_t> identifier{};  // a task the daemon already knows keeps its id
    std::optional<detail::ResumeData> resumeFrom{};  // a download continuing a partial file
    std::string resumePath{};                        // that partial file
    std::optional<detail::resumption::Resource> uploadResource{};  // an upload continuing on the server
    bool bodyIsCopy = false;  // the body file is the library's copy of a Data body

    // A task made from resume data (see docs/resume-data.md). Data this library cannot read
    // or of the other kind (-1015), or whose partial file or upload body is gone or changed
    // (-3001), fails the task when it is resumed.
    static Setup fromResumeData(std::shared_ptr<URLSession> session, Kind kind, const Data& resumeData);

   private:
    static Setup uploadFromResumeData(Setup setup, const detail::ResumeData& decoded);
  };
  explicit Impl(Setup setup);
  ~Impl();

  // Called once by the factory right after the task object exists.
  void bind(const std::shared_ptr<URLSessionTask>& owner);
  Kind kind() const { return kind_; }
  std::uint64_t identifier() const { return identifier_; }
  bool hasCompletionHandler() const { return dataCompletion_ || downloadCompletion_; }

  // Public API (any thread).
  State state() const { return state_.load(); }
  void resume();
  void suspend();
  void cancel();
  std::optional<URLRequest> originalRequest() const;
  std::optional<URLRequest> currentRequest() const;
  std::shared_ptr<const URLResponse> response() const;
  std::optional<Error> error() const;
  std::string taskDescription() const;
  void setTaskDescription(std::string description);
  float priority() const;
  void setPriority(float priority);
  std::optional<Date> earliestBeginDate() const;
  void setEarliestBeginDate(std::optional<Date> date);
  std::int64_t countOfBytesClientExpectsToSend() const { return clientExpectsToSend_; }
  void setCountOfBytesClientExpectsToSend(std::int64_t count) { clientExpectsToSend_ = count; }
  std::int64_t countOfBytesClientExpectsToReceive() const { return clientExpectsToReceive_; }
  void setCountOfBytesClientExpectsToReceive(std::int64_t count) { clientExpectsToReceive_ = count; }
  std::int64_t countOfBytesSent() const { return bytesSent_; }
  std::int64_t countOfBytesReceived() const { return bytesReceived_; }
  std::int64_t countOfBytesExpectedToSend() const { return bytesExpectedToSend_; }
  // The body's size as the daemon copied it (background uploads from a file).
  void setBytesExpectedToSend(std::int64_t bytes) { bytesExpectedToSend_ = bytes; }
  std::int64_t countOfBytesExpectedToReceive() const { return bytesExpectedToReceive_; }
  std::shared_ptr<URLSessionTaskDelegate> delegate() const;
  void setDelegate(std::shared_ptr<URLSessionTaskDelegate> delegate);
  // Cancels; the handler gets resume data on the delegate queue when the download can be
  // continued (see docs/semantics.md), else std::nullopt.
  void cancelByProducingResumeData(std::function<void(std::optional<Data>)> handler);

  // Protocol events (loop thread, from TaskClient).
  void protocolWasRedirected(URLRequest newRequest, std::shared_ptr<const URLResponse> response);
  void protocolDidReceiveResponse(std::shared_ptr<const URLResponse> response);
  detail::LoadingClient::BodyVerdict protocolDidLoad(const char* bytes, std::size_t count, bool canPause);
  void protocolDidFinish();
  void protocolDidFail(Error error);
  // Ends the load as the protocol did, or, while body bytes are held back (a delegate yet to
  // answer, a paused transfer), once they are delivered: a failure after them loses none.
  void protocolDidEnd(std::optional<Error> error);
  void protocolDidSendBodyData(std::int64_t bytesSent, std::int64_t totalSent, std::int64_t expected);
  void protocolDidReceiveInformational(std::shared_ptr<const HTTPURLResponse> response);
  void protocolDidCollectMetrics(URLSessionTaskTransactionMetrics metrics);
  bool hasMetricsReceiver() const;  // a task delegate (the task's or the session's) to give them to
  void protocolDidReceiveChallenge(URLProtectionSpace space, std::shared_ptr<const HTTPURLResponse> response);
  detail::LoadContext loadContext();
  // Background sessions: the daemon runs the transfer; this object mirrors it.
  bool isRemote() const { return remote_ != nullptr && !startFailure_; }
  // The createTask message that hands this task to the daemon.
  wire::Message creationMessage() const;
  bool uploadsFromFile() const { return body_.filePath.has_value(); }
  // The properties an app may set after creation (description, priority, dates, hints); sent
  // with every resume so the daemon schedules with the values in force.
  wire::Message propertiesMessage(wire::Type type) const;
  // Loop thread: takes the daemon's view of a task this process did not know (on attach).
  void applySummary(const background::TaskSummary& summary);
  // Loop thread, on re-attach, for a task this process made or adopted before: takes the
  // daemon's progress (`known`, null when the daemon has no such task) and appends to `missed`
  // what brings the daemon in line with the app — the task's creation if the daemon never got
  // it, the resume, suspend, cancel or property change it missed. Each is idempotent there.
  void reconcile(const background::TaskSummary* known, std::vector<wire::Message>& missed);
  // Loop thread: the daemon never confirmed the task's creation; it completes with `error`
  // (unless it already completed) and any later completion from the daemon is only acknowledged.
  void abandonRemote(Error error);
  // Loop thread: an event the daemon sent for this task.
  void remoteEvent(const wire::Message& event);
  // Loop thread: the delegate's disposition for the response of a data task the daemon runs,
  // sent to the daemon; becomeDownload makes the download task it goes on as (with a new id)
  // and ends this task with didBecomeDownloadTask.
  void answerRemoteResponse(URLSession::ResponseDisposition disposition);

  // Loop thread: whether the task waits for one of its host's transfer slots, and the grant.
  bool waitsForSlot() const { return phase_ == Phase::queued; }
  void slotGranted();

 private:
  enum class Phase { idle, queued, loading, done };

  URLRequest request() const;  // the current request
  // Loop thread: the current request, not copied. Only the loop thread replaces it (under
  // mutex_, for readers on other threads), so reading it here needs no lock.
  const URLRequest& loopRequest() const { return currentRequest_; }
  // Background sessions: the daemon's request, response and byte counts (not the app's
  // properties or state).
  void applyProgress(const background::TaskSummary& summary);
  // Whether the daemon's copy has the properties the app set (description, priority, dates,
  // hints).
  bool propertiesMatch(const background::TaskSummary& summary) const;
  // earliestBeginDate_ in milliseconds since the epoch; the caller holds mutex_.
  std::optional<std::int64_t> earliestBeginMillis() const;
  // The idle timeout of the current request: its own timeoutInterval or the session's.
  TimeInterval idleTimeout() const;
  std::optional<URL> currentURL() const;

  // Loop-thread transitions.
  void onResume();
  void onSuspend();
  void start();
  // Consults the session's URLCache for the current request (once per request): true when the
  // request is to be loaded (perhaps revalidating); false when the cache answers it, fails the
  // task, or is being read from disk (start() runs again once it has been).
  bool consultCache();
  // Plays the cache transaction's response back through a protocol of its own.
  void serveFromCache();
  // A successful load: offers its response to the cache, by storing it, or, when a data
  // delegate receives the task's events, through willCacheResponse with the completion.
  void offerToCache();
  void launchProtocol();
  void stopProtocol();
  void finish(std::optional<Error> error);
  void onRedirectDecision(std::optional<URLRequest> request);
  void onChallengeDecision(URLSession::AuthChallengeDisposition disposition, std::optional<URLCredential> credential,
                           std::string authenticationMethod);
  // Stops the running protocol and starts over with `request` (a redirect, a credential).
  void restart(URLRequest request);
  void onDisposition(URLSession::ResponseDisposition disposition);
  void acceptResponse();
  // A response other than a 401 arrived for a request that carried the delegate's credential:
  // one given with forSession (or longer) persistence becomes the space's default credential.
  void keepWorkingCredential(const URLResponse* response);
  void becomeDownload();
  // The download task a data task becomes: the same request, response, description, priority
  // and task delegate, running, in the session (and the daemon's, for a background task).
  std::shared_ptr<URLSessionDownloadTask> makeSuccessorDownload();
  // Ends this data task with didBecomeDownloadTask(this, download) and nothing after it.
  void endAsDataTaskOf(std::shared_ptr<URLSessionDownloadTask> download);
  // Creates the download's temporary file unless it exists; the error when that fails.
  std::optional<Error> openDownloadFile();
  bool bodyHeld() const;
  void releaseBody();
  detail::LoadingClient::BodyVerdict consume(const char* bytes, std::size_t count);
  // Enqueues the open didReceiveData batch unless it is already queued. A full one goes to the
  // delegate queue at once rather than at the end of the loop iteration, so that the delegate
  // works on it while curl goes on reading.
  void handOverBody(bool full = false);
  void armTimers();
  void disarmTimers();
  void disarmIdleTimer();
  void checkIdle();
  void noteActivity();
  void reportDownloadProgress();
  void reportUploadProgress();
  // Resume data for the download so far, when it can be continued; the partial file is then kept.
  std::optional<Data> makeResumeData();
  // A resumed download's response arrived: continues the partial file (206) or empties it
  // (any other response), and reports didResumeAtOffset; the error when the file is unusable.
  std::optional<Error> continueDownloadFile();
  // The server cannot serve the range (416): loads the whole resource again.
  void restartWithoutRange();
  void reportResumed(std::int64_t offset, std::int64_t expectedTotal);
  // Resumable uploads (docs/semantics.md, "Resumable uploads"). Upload resume data when the
  // server made the upload resumable (a 104) and its final response has not come; the body of
  // a Data upload is then copied to a file the data names.
  std::optional<Data> makeUploadResumeData();
  // A response to the resource's HEAD or PATCH that the resumption consumes itself (the offset,
  // a 409): true when it did, and the task went on with the next request.
  bool continueResumedUpload(const HTTPURLResponse& response);
  void askUploadOffset();
  // The server holds the body up to `offset`: what the task counts as sent from now on.
  void setUploadPosition(std::int64_t offset);
  void appendUploadFrom(std::int64_t offset);
  // Calls a pending cancelByProducingResumeData handler with the resume data `error` carries.
  void answerResumeDataHandler(const std::optional<Error>& error);

  // Delegate side.
  // `handOverNow`: see DelegateDispatcher::enqueue.
  void enqueue(std::function<void(URLSession&, URLSessionTask&)> call, bool handOverNow = false);
  // Calls didReceiveChallenge on the delegate queue: the task delegate's, else the session
  // delegate's, else answers default handling.
  void enqueueChallenge(URLAuthenticationChallenge challenge,
      std::function<void(URLSession::AuthChallengeDisposition, std::optional<URLCredential>)> answer);
  template <class D>
  std::shared_ptr<D> delegateAs() const;
  // Enqueues the last messages: [the late body] [didFinishDownloadingTo] didFinishCollectingMetrics,
  // then the completion handler or didCompleteWithError, then a background task's
  // `acknowledgement` to the daemon, which process exit waits for (background/OwedAcknowledgement.hpp).
  void deliverCompletion(std::optional<Error> error, std::optional<std::string> downloadedFile,
                         std::optional<Data> lateBody = std::nullopt,
                         std::function<void()> acknowledgement = nullptr);
  void sendToDaemon(int type);

  std::weak_ptr<URLSessionTask> owner_;
  // Held for the task's lifetime: a running task keeps its session alive, as Apple's does.
  std::shared_ptr<URLSession> session_;
  const Kind kind_;
  const std::uint64_t identifier_;
  URLSession::DataCompletionHandler dataCompletion_;
  URLSession::DownloadCompletionHandler downloadCompletion_;

  // Public state, readable from any thread.
  std::atomic<State> state_{State::suspended};
  mutable std::mutex mutex_;  // guards the fields below up to the atomics
  int suspendCount_ = 1;
  URLRequest originalRequest_;
  URLRequest currentRequest_;
  std::shared_ptr<const URLResponse> response_;
  std::optional<Error> error_;
  std::string description_;
  float priority_ = URLSessionTask::defaultPriority;
  std::optional<Date> earliestBeginDate_;
  detail::DelegateRoles taskDelegate_;
  std::atomic<std::int64_t> clientExpectsToSend_{URLSessionTransferSizeUnknown};
  std::atomic<std::int64_t> clientExpectsToReceive_{URLSessionTransferSizeUnknown};
  std::atomic<std::int64_t> bytesSent_{0}, bytesReceived_{0};
  std::atomic<std::int64_t> bytesExpectedToSend_{0}, bytesExpectedToReceive_{URLSessionTransferSizeUnknown};

  // Loop thread only.
  Phase phase_ = Phase::idle;
  detail::BodySource body_;
  std::optional<Error> startFailure_;
  std::shared_ptr<background::BackgroundLink> remote_;
  std::int64_t lastCompletionSequence_ = 0;  // loop thread: the daemon's completion already delivered
  std::atomic<bool> completionReturned_{false};  // its delegate methods returned (it may be acknowledged)
  std::optional<URLProtocolClass> protocolClass_;
  std::unique_ptr<detail::CacheTransaction> cache_;  // the current request's, if the cache plays a part
  bool cacheConsulted_ = false;  // for the current request
  bool notModified_ = false;     // a 304 confirmed the stored response; served once its load ends
  struct CacheOffer {
    CachedURLResponse proposal;
    std::function<void(std::optional<CachedURLResponse>)> store;
  };
  std::shared_ptr<CacheOffer> cacheOffer_;  // for willCacheResponse, delivered with the completion
  std::shared_ptr<URLProtocol> protocol_;
  std::shared_ptr<detail::TaskClient> client_;
  std::string slotHost_;  // non-empty while holding a host slot
  bool awaitingRedirect_ = false;
  bool awaitingDisposition_ = false;
  bool awaitingChallenge_ = false;
  std::optional<URLCredential> credential_;  // answers the last challenge
  std::string authenticationMethod_;
  int challengeFailures_ = 0;
  std::optional<URLProtectionSpace> challengedSpace_;  // of the last challenge
  bool triedStoredCredential_ = false;  // default handling used the storage's default credential
  bool keepsCredential_ = false;  // credential_ is to be stored once a response shows it worked
  bool protocolPaused_ = false;     // the protocol holds body bytes until resumeBody()
  bool finishPending_ = false;      // the protocol ended while the body was held
  std::optional<Error> pendingFailure_;  // with finishPending_: how it ended, if it failed
  bool suspended_ = false;
  std::deque<Data> heldChunks_;     // from protocols that cannot pause
  int redirectCount_ = 0;
  URLSessionTaskMetrics metrics_;
  std::chrono::steady_clock::time_point startedAt_{};
  std::unique_ptr<engine::Timer> idleTimer_, resourceTimer_;
  std::chrono::steady_clock::time_point lastActivity_{};
  std::chrono::steady_clock::duration resourceUsed_{};   // active time before the last resume
  std::chrono::steady_clock::time_point activeSince_{};
  Data accumulated_;                 // the body, for a data completion handler
  std::shared_ptr<detail::BodyBatch> bodyBatch_;  // the last didReceiveData batch, which bytes may join
  std::chrono::steady_clock::time_point lastBodyHandOver_{};
  std::unique_ptr<engine::Timer> bodyTimer_;     // hands over a batch held back by the interval
  platform::File downloadFile_;
  std::string downloadPath_;
  std::int64_t bytesWritten_ = 0;
  std::optional<detail::ResumeData> resumeFrom_;  // a download continuing a partial file
  std::string resumePath_;
  bool keepPartialFile_ = false;  // resume data names the download file: it outlives the task
  std::function<void(std::optional<Data>)> resumeDataHandler_;  // cancelByProducingResumeData's
  // A resumable upload: the version it announces (0: not announced), the resource a 104 named,
  // and which of its requests runs.
  enum class UploadStep { creating, askingOffset, appending };
  int interopVersion_ = 0;
  std::optional<detail::resumption::Resource> uploadResource_;
  UploadStep uploadStep_ = UploadStep::creating;
  std::int64_t uploadOffset_ = 0;  // the bytes the server confirmed: where the PATCH starts
  int offsetConflicts_ = 0;        // 409s answered so far
  bool bodyIsCopy_ = false;        // body_.filePath is the library's copy of a Data body
  bool keepBodyCopy_ = false;      // resume data names that copy: it outlives the task

  // Shared between the loop and the delegate queue.
  std::shared_ptr<detail::Backlog> backlog_;
  std::shared_ptr<detail::CoalescedProgress> downloadProgress_, uploadProgress_;
  detail::BufferPool bodyBuffers_;
};

}  // namespace foundation

#include "session/TaskImpl.hpp"

#include <algorithm>

#include <fmt/format.h>

#include <foundation_net/OperationQueue.hpp>
#include <foundation_net/URLCredentialStorage.hpp>
#include <foundation_net/URLSessionDataDelegate.hpp>
#include <foundation_net/URLSessionDownloadDelegate.hpp>

#include "background/BackgroundLink.hpp"
#include "background/OwedAcknowledgement.hpp"
#include "background/Protocol.hpp"
#include "engine/Loop.hpp"
#include "protocols/CacheProtocol.hpp"
#include "protocols/Redirect.hpp"
#include "session/DiscardedFile.hpp"
#include "session/SessionImpl.hpp"
#include "session/TaskClient.hpp"

namespace foundation {
namespace {

using Verdict = detail::LoadingClient::BodyVerdict;
using Clock = std::chrono::steady_clock;

engine::Loop& loop() { return engine::Loop::shared(); }

std::chrono::milliseconds toMilliseconds(std::chrono::steady_clock::duration d) {
  return std::max(std::chrono::milliseconds(0), std::chrono::ceil<std::chrono::milliseconds>(d));
}

// didReceiveData batches leave for the delegate queue at most this often (or when full), so a
// fast body costs a few messages per MiB instead of one per 16 KiB chunk; a body that trickles
// in slower than this is handed over chunk by chunk, at once.
constexpr auto bodyHandOverInterval = std::chrono::milliseconds(1);

// While didReceiveResponse is pending, up to this much body waits in the task rather than
// pausing curl: a short response completes without a pause/unpause round trip.
constexpr std::size_t heldBodyLimit = 64 << 10;

// A resumed upload whose server keeps answering 409 gives up after this many.
constexpr int maximumOffsetConflicts = 3;

// Sends the library's own requests (a cancelled upload's DELETE): no delegate, and its tasks
// are in no session of the app's.
URLSession& housekeepingSession() {
  static const auto session = URLSession::make(URLSessionConfiguration::ephemeral(), nullptr);
  return *session;
}

Clock::duration seconds(TimeInterval s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// "scheme://host:port", the key of a host's transfer slots (built per task start: no fmt).
std::string hostKey(const URL& url) {
  std::string key = url.scheme();
  const auto port = url.port();
  const int number = port ? *port : (key == "https" ? 443 : 80);
  key += "://";
  key += url.host();
  key += ':';
  key += std::to_string(number);
  return key;
}

// A delegate's completion handler that acts once, whatever the delegate does with it.
template <class... Args, class Body>
std::function<void(Args...)> once(Body body) {
  auto used = std::make_shared<std::atomic<bool>>(false);
  return [used, body = std::move(body)](Args... args) {
    if (!used->exchange(true)) body(std::move(args)...);
  };
}

}  // namespace

URLSessionTask::Impl::Impl(Setup setup)
    : session_(std::move(setup.session)),
      kind_(setup.kind),
      identifier_(setup.identifier ? *setup.identifier : session_->impl().nextTaskIdentifier()),
      dataCompletion_(std::move(setup.dataCompletion)),
      downloadCompletion_(std::move(setup.downloadCompletion)),
      originalRequest_(setup.request),
      currentRequest_(std::move(setup.request)),
      body_(std::move(setup.body)),
      startFailure_(std::move(setup.startFailure)),
      remote_(std::move(setup.remote)),
      resumeFrom_(std::move(setup.resumeFrom)),
      resumePath_(std::move(setup.resumePath)),
      uploadResource_(std::move(setup.uploadResource)),
      bodyIsCopy_(setup.bodyIsCopy),
      backlog_(std::make_shared<detail::Backlog>()),
      downloadProgress_(std::make_shared<detail::CoalescedProgress>()),
      uploadProgress_(std::make_shared<detail::CoalescedProgress>()) {
  if (body_.data) bytesExpectedToSend_ = static_cast<std::int64_t>(body_.data->size());
  if (body_.filePath) {
    platform::File file;
    if (platform::File::openForReading(*body_.filePath, file) == 0) bytesExpectedToSend_ = file.size();
  }
  const int version = session_->impl().configuration.resumableUploadInteropVersion;
  const auto scheme = currentRequest_.url ? currentRequest_.url->scheme() : std::string();
  if (kind_ == Kind::upload && !body_.empty() && detail::resumption::isInteropVersion(version) &&
      (scheme == "http" || scheme == "https"))
    interopVersion_ = version;
  if (uploadResource_) {
    // Resumed from resume data: first ask the server how much it holds.
    interopVersion_ = uploadResource_->version;
    uploadStep_ = UploadStep::askingOffset;
    currentRequest_ = detail::resumption::offsetRequest(*uploadResource_, originalRequest_);
  }
  if (resumeFrom_) {
    originalRequest_ = resumeFrom_->originalRequest();
    // The daemon asks for the range itself; here the request asks for the bytes after the
    // partial file's, on condition that they still belong to the same version of the resource.
    if (!remote_) {
      currentRequest_.setValue(fmt::format("bytes={}-", resumeFrom_->bytesReceived), "Range");
      currentRequest_.setValue(resumeFrom_->validator, "If-Range");
    }
  }
}

URLSessionTask::Impl::~Impl() = default;

URLSessionTask::Impl::Setup URLSessionTask::Impl::Setup::fromResumeData(std::shared_ptr<URLSession> session,
                                                                        Kind kind, const Data& resumeData) {
  Setup setup{std::move(session), kind, URLRequest(URL("about:blank")), {}, nullptr, nullptr, std::nullopt};
  auto decoded = detail::ResumeData::decode(resumeData);
  const auto expected = kind == Kind::download ? detail::ResumeData::Kind::download : detail::ResumeData::Kind::upload;
  if (!decoded || decoded->kind != expected) {
    // Foreign, damaged, or of a newer major version: the task fails cleanly when resumed.
    setup.request.url.reset();
    setup.startFailure = Error::url(URLError::cannotDecodeRawData, std::nullopt,
                                    resumeData.empty() ? "the resume data is empty" : "the resume data is not valid");
    return setup;
  }
  if (kind == Kind::upload) return uploadFromResumeData(std::move(setup), *decoded);
  setup.request = decoded->request();
  setup.resumePath = (decoded->folder == detail::ResumeData::Folder::staging
                          ? background::stateDirectory() + "/staging"
                          : platform::temporaryDirectory()) + "/" + decoded->fileName;
  // Continue from what the file holds now, which is what the range must ask for.
  const std::int64_t size = platform::fileSize(setup.resumePath);
  if (size < 0) {
    setup.startFailure = Error::url(URLError::cannotOpenFile, setup.request.url,
                                    fmt::format("the partial file {}: {}", setup.resumePath,
                                                platform::errorName(static_cast<int>(size))));
    return setup;
  }
  decoded->bytesReceived = size;
  setup.resumeFrom = std::move(decoded);
  return setup;
}

URLSessionTask::Impl::Setup URLSessionTask::Impl::Setup::uploadFromResumeData(Setup setup,
                                                                              const detail::ResumeData& decoded) {
  setup.request = decoded.originalRequest();
  const std::string path = decoded.bodyPath.empty() ? platform::temporaryDirectory() + "/" + decoded.fileName
                                                    : decoded.bodyPath;
  // The bytes the server holds are a prefix of this body only if it is the same length still.
  const std::int64_t size = platform::fileSize(path);
  if (size < 0 || size != decoded.bodyLength) {
    setup.startFailure = Error::url(URLError::cannotOpenFile, setup.request.url,
                                    size < 0 ? fmt::format("the upload body {}: {}", path, platform::errorName(static_cast<int>(size)))
                                             : fmt::format("the upload body {} changed", path));
    return setup;
  }
  setup.body.filePath = path;
  setup.bodyIsCopy = decoded.bodyPath.empty();
  setup.uploadResource = detail::resumption::Resource{URL(decoded.url), decoded.interopVersion};
  return setup;
}

void URLSessionTask::Impl::bind(const std::shared_ptr<URLSessionTask>& owner) { owner_ = owner; }

// ---- Public API -------------------------------------------------------------------------

void URLSessionTask::Impl::resume() {
  {
    std::lock_guard lock(mutex_);
    auto s = state_.load();
    if (s == State::canceling || s == State::completed || suspendCount_ == 0) return;
    if (--suspendCount_ > 0) return;
    state_ = State::running;
  }
  if (isRemote()) {
    session_->impl().writeCookiesForDaemon();
    return remote_->send(propertiesMessage(wire::Type::resumeTask));
  }
  loop().post([self = owner_.lock()] { self->impl().onResume(); });
}

void URLSessionTask::Impl::suspend() {
  {
    std::lock_guard lock(mutex_);
    auto s = state_.load();
    if (s == State::canceling || s == State::completed) return;
    if (suspendCount_++ > 0) return;
    state_ = State::suspended;
  }
  if (isRemote()) return sendToDaemon(static_cast<int>(wire::Type::suspendTask));
  loop().post([self = owner_.lock()] { self->impl().onSuspend(); });
}

void URLSessionTask::Impl::cancel() {
  {
    std::lock_guard lock(mutex_);
    auto s = state_.load();
    if (s == State::canceling || s == State::completed) return;
    state_ = State::canceling;
  }
  if (isRemote()) return sendToDaemon(static_cast<int>(wire::Type::cancelTask));
  loop().post([self = owner_.lock()] {
    auto& impl = self->impl();
    impl.finish(Error::url(URLError::cancelled, impl.currentURL()));
  });
}

void URLSessionTask::Impl::cancelByProducingResumeData(std::function<void(std::optional<Data>)> handler) {
  if (!handler) handler = [](std::optional<Data>) {};  // the error still carries the resume data
  {
    std::lock_guard lock(mutex_);
    auto s = state_.load();
    if (s == State::canceling || s == State::completed) {
      session_->impl().dispatcher->enqueue([handler = std::move(handler)] { handler(std::nullopt); });
      return;
    }
    state_ = State::canceling;
  }
  loop().post([self = owner_.lock(), handler = std::move(handler)]() mutable {
    auto& impl = self->impl();
    if (impl.phase_ == Phase::done) {
      // It ended on its own first: there is nothing left to resume.
      return impl.enqueue([handler = std::move(handler)](URLSession&, URLSessionTask&) { handler(std::nullopt); });
    }
    impl.resumeDataHandler_ = std::move(handler);
    if (!impl.isRemote()) impl.finish(Error::url(URLError::cancelled, impl.currentURL()));
  });
  // The daemon answers with the completion, whose error carries the resume data; the handler
  // is in place by then (the loop runs the work above first).
  if (isRemote())
    remote_->send(wire::Message(wire::Type::cancelTask)
                      .add(wire::tag::taskId, static_cast<std::int64_t>(identifier_))
                      .add(wire::tag::produceResumeData, std::int64_t{1}));
}

std::optional<URLRequest> URLSessionTask::Impl::originalRequest() const {
  std::lock_guard lock(mutex_);
  return originalRequest_;
}
std::optional<URLRequest> URLSessionTask::Impl::currentRequest() const { return request(); }
URLRequest URLSessionTask::Impl::request() const {
  std::lock_guard lock(mutex_);
  return currentRequest_;
}
TimeInterval URLSessionTask::Impl::idleTimeout() const {
  std::lock_guard lock(mutex_);
  return currentRequest_.hasExplicitTimeout() ? currentRequest_.timeoutInterval
                                              : session_->impl().configuration.timeoutIntervalForRequest;
}
std::optional<URL> URLSessionTask::Impl::currentURL() const {
  std::lock_guard lock(mutex_);
  return currentRequest_.url;
}
std::shared_ptr<const URLResponse> URLSessionTask::Impl::response() const {
  std::lock_guard lock(mutex_);
  return response_;
}
std::optional<Error> URLSessionTask::Impl::error() const {
  std::lock_guard lock(mutex_);
  return error_;
}
std::string URLSessionTask::Impl::taskDescription() const {
  std::lock_guard lock(mutex_);
  return description_;
}
void URLSessionTask::Impl::setTaskDescription(std::string description) {
  {
    std::lock_guard lock(mutex_);
    description_ = std::move(description);
  }
  if (isRemote()) remote_->send(propertiesMessage(wire::Type::setTaskDescription));
}
float URLSessionTask::Impl::priority() const {
  std::lock_guard lock(mutex_);
  return priority_;
}
void URLSessionTask::Impl::setPriority(float priority) {
  std::lock_guard lock(mutex_);
  priority_ = std::clamp(priority, 0.0f, 1.0f);
}
std::optional<Date> URLSessionTask::Impl::earliestBeginDate() const {
  std::lock_guard lock(mutex_);
  return earliestBeginDate_;
}
void URLSessionTask::Impl::setEarliestBeginDate(std::optional<Date> date) {
  std::lock_guard lock(mutex_);
  earliestBeginDate_ = date;  // honoured by background sessions only, as on Apple's platforms
}
std::shared_ptr<URLSessionTaskDelegate> URLSessionTask::Impl::delegate() const {
  std::lock_guard lock(mutex_);
  return taskDelegate_.task;
}
void URLSessionTask::Impl::setDelegate(std::shared_ptr<URLSessionTaskDelegate> delegate) {
  std::lock_guard lock(mutex_);
  taskDelegate_ = detail::DelegateRoles(std::move(delegate));
}

// ---- Loop-thread transitions -------------------------------------------------------------

void URLSessionTask::Impl::onResume() {
  if (phase_ == Phase::done) return;
  suspended_ = false;
  if (phase_ == Phase::idle) return start();
  if (phase_ != Phase::loading) return;
  if (auto* flow = dynamic_cast<detail::FlowControlled*>(protocol_.get())) flow->setSuspended(false);
  armTimers();
  releaseBody();
}

void URLSessionTask::Impl::onSuspend() {
  if (phase_ == Phase::done) return;
  suspended_ = true;
  if (phase_ == Phase::queued) {
    phase_ = Phase::idle;  // the slot queue skips tasks that are no longer queued
    return;
  }
  if (phase_ != Phase::loading) return;
  if (auto* flow = dynamic_cast<detail::FlowControlled*>(protocol_.get())) flow->setSuspended(true);
  disarmTimers();
}

void URLSessionTask::Impl::start() {
  if (startedAt_ == Clock::time_point{}) {
    startedAt_ = Clock::now();
    metrics_.taskIntervalStart = std::chrono::system_clock::now();
  }
  if (startFailure_) return finish(std::exchange(startFailure_, std::nullopt));
  const URLRequest& request = loopRequest();
  if (!request.url) return finish(Error::url(URLError::unsupportedURL, std::nullopt, "the request has no URL"));
  if (!protocolClass_) protocolClass_ = detail::protocolClassFor(request, session_->impl().configuration.protocolClasses);
  if (!protocolClass_) return finish(Error::url(URLError::unsupportedURL, request.url));
  if (!consultCache()) return;
  if (detail::runsOnLoopThread(*protocolClass_)) {
    auto host = hostKey(*request.url);
    phase_ = Phase::queued;
    if (!session_->impl().acquireSlot(host, owner_)) return;
    slotHost_ = host;
  }
  launchProtocol();
}

bool URLSessionTask::Impl::consultCache() {
  if (!cacheConsulted_) {
    cacheConsulted_ = true;
    const auto& configuration = session_->impl().configuration;
    // Data and upload tasks over http(s); user protocols decide about caching themselves.
    if (kind_ != Kind::download && detail::runsOnLoopThread(*protocolClass_))
      cache_ = detail::CacheTransaction::make(configuration.urlCache, loopRequest(), configuration.requestCachePolicy,
                                              configuration.httpAdditionalHeaders);
    // A completion handler's body is gathered anyway; the cache shares it rather than copy it.
    if (cache_ && dataCompletion_) cache_->bodyGatheredElsewhere();
    if (cache_ && !cache_->decideFromMemory()) {
      // A disk read stays off the loop thread; start() goes on when it is done.
      cache_->readFromDisk([transaction = cache_.get(), self = owner_](std::shared_ptr<const URLCache::Entry> entry) {
        loop().post([self, transaction, entry = std::move(entry)] {
          auto task = self.lock();
          if (!task) return;
          auto& impl = task->impl();
          if (impl.cache_.get() != transaction || impl.cache_->step() != detail::CacheTransaction::Step::reading) return;
          impl.cache_->decide(entry);
          if (impl.phase_ == Phase::idle && !impl.suspended_) impl.start();
        });
      });
      return false;
    }
  }
  if (!cache_) return true;
  switch (cache_->step()) {
    case detail::CacheTransaction::Step::reading:
      return false;
    case detail::CacheTransaction::Step::serve:
      serveFromCache();
      return false;
    case detail::CacheTransaction::Step::fail:
      finish(Error::url(URLError::cannotLoadFromNetwork, currentURL(),
                        "the cache policy allows only the cache, and it holds no response for the request"));
      return false;
    case detail::CacheTransaction::Step::revalidate:
    case detail::CacheTransaction::Step::load:
      return true;
  }
  return true;
}

void URLSessionTask::Impl::serveFromCache() {
  const auto& cached = cache_->served();
  URLSessionTaskTransactionMetrics transaction;
  transaction.request = loopRequest();
  transaction.response = cached.response();
  transaction.fetchStartDate = transaction.responseStartDate = transaction.responseEndDate = std::chrono::system_clock::now();
  transaction.resourceFetchType = URLSessionTaskTransactionMetrics::ResourceFetchType::localCache;
  transaction.countOfResponseBodyBytesReceived = static_cast<std::int64_t>(cached.data().size());
  metrics_.transactionMetrics.push_back(std::move(transaction));
  protocolClass_ = detail::cachedResponseProtocol(cached);
  launchProtocol();
}

void URLSessionTask::Impl::offerToCache() {
  auto proposal = cache_->proposal(dataCompletion_ ? &accumulated_ : nullptr);
  if (!proposal) return;
  if (hasCompletionHandler() || !delegateAs<URLSessionDataDelegate>()) return cache_->store(std::move(*proposal));
  cacheOffer_ = std::make_shared<CacheOffer>(CacheOffer{std::move(*proposal), cache_->storer()});
}

void URLSessionTask::Impl::slotGranted() {
  slotHost_ = hostKey(*loopRequest().url);
  launchProtocol();
}

void URLSessionTask::Impl::launchProtocol() {
  phase_ = Phase::loading;
  client_ = std::make_shared<detail::TaskClient>(owner_);
  protocol_ = protocolClass_->make(loopRequest(), owner_.lock(), client_);
  if (!protocol_) return finish(Error::url(URLError::unsupportedURL, currentURL(), "the protocol declined"));
  activeSince_ = Clock::now();
  armTimers();
  if (detail::runsOnLoopThread(*protocolClass_)) {
    protocol_->startLoading();
  } else {
    detail::protocolQueue().addOperation([p = protocol_] { p->startLoading(); });
  }
}

void URLSessionTask::Impl::stopProtocol() {
  if (client_) client_->detach();
  client_.reset();
  if (protocol_) {
    if (protocolClass_ && detail::runsOnLoopThread(*protocolClass_)) {
      protocol_->stopLoading();
    } else {
      detail::protocolQueue().addOperation([p = protocol_] { p->stopLoading(); });
    }
  }
  protocol_.reset();
  protocolPaused_ = false;
  if (!slotHost_.empty()) {
    auto host = std::exchange(slotHost_, std::string());
    session_->impl().releaseSlot(host);
  }
}

// ---- Timers --------------------------------------------------------------------------

void URLSessionTask::Impl::noteActivity() { lastActivity_ = Clock::now(); }

void URLSessionTask::Impl::armTimers() {
  if (phase_ != Phase::loading || suspended_) return;
  const auto& configuration = session_->impl().configuration;
  TimeInterval idle = idleTimeout();
  noteActivity();
  if (idle > 0) {
    if (!idleTimer_) idleTimer_ = std::make_unique<engine::Timer>(loop());
    idleTimer_->start(static_cast<std::uint64_t>(toMilliseconds(seconds(idle)).count()), [this] { checkIdle(); });
  }
  if (configuration.timeoutIntervalForResource > 0 && !(resourceTimer_ && resourceTimer_->isActive())) {
    activeSince_ = Clock::now();
    auto remaining = seconds(configuration.timeoutIntervalForResource) - resourceUsed_;
    if (!resourceTimer_) resourceTimer_ = std::make_unique<engine::Timer>(loop());
    resourceTimer_->start(static_cast<std::uint64_t>(toMilliseconds(remaining).count()),
                          [this] { finish(Error::url(URLError::timedOut, currentURL(), "resource timeout")); });
  }
}

void URLSessionTask::Impl::disarmIdleTimer() {
  if (idleTimer_) idleTimer_->stop();
}

void URLSessionTask::Impl::disarmTimers() {
  disarmIdleTimer();
  if (resourceTimer_ && resourceTimer_->isActive()) {
    resourceUsed_ += Clock::now() - activeSince_;
    resourceTimer_->stop();
  }
}

void URLSessionTask::Impl::checkIdle() {
  TimeInterval idle = idleTimeout();
  // The timer is disarmed while the task itself holds the body back (a slow delegate is not
  // an idle network); here it only measures how long nothing has moved.
  auto quietFor = Clock::now() - lastActivity_;
  if (quietFor >= seconds(idle)) return finish(Error::url(URLError::timedOut, currentURL()));
  idleTimer_->start(static_cast<std::uint64_t>(toMilliseconds(seconds(idle) - quietFor).count()),
                    [this] { checkIdle(); });
}

// ---- Protocol events ------------------------------------------------------------------

detail::LoadContext URLSessionTask::Impl::loadContext() {
  auto& session = session_->impl();
  detail::BodySource body = body_;
  std::vector<std::pair<std::string, std::string>> extraHeaders;
  switch (uploadStep_) {
    case UploadStep::askingOffset: body = {}; break;
    case UploadStep::appending: body.offset = uploadOffset_; break;
    case UploadStep::creating:
      if (interopVersion_) extraHeaders = detail::resumption::creationFields(interopVersion_);
      break;
  }
  if (cache_) extraHeaders.insert(extraHeaders.end(), cache_->requestFields().begin(), cache_->requestFields().end());
  const auto& configuration = session.configuration;
  auto cookies = configuration.httpShouldSetCookies && request().httpShouldHandleCookies ? configuration.httpCookieStorage
                                                                                        : nullptr;
  return detail::LoadContext{session.pool(), session.defaultHeaderLists(), configuration.httpAdditionalHeaders,
                             configuration.connectionProxyDictionary, std::move(body), std::move(extraHeaders),
                             credential_, authenticationMethod_, std::move(cookies), configuration.httpCookieAcceptPolicy};
}

void URLSessionTask::Impl::protocolWasRedirected(URLRequest newRequest, std::shared_ptr<const URLResponse> response) {
  if (phase_ != Phase::loading) return;
  noteActivity();
  if (++redirectCount_ > detail::maximumRedirects)
    return finish(Error::url(URLError::httpTooManyRedirects, currentURL()));
  metrics_.redirectCount = redirectCount_;
  keepWorkingCredential(response.get());
  {
    std::lock_guard lock(mutex_);
    response_ = response;
  }
  auto delegate = delegateAs<URLSessionTaskDelegate>();
  if (!delegate) return onRedirectDecision(std::move(newRequest));
  awaitingRedirect_ = true;
  auto self = owner_;
  auto answer = once<std::optional<URLRequest>>([self](std::optional<URLRequest> request) {
    loop().post([self, request = std::move(request)]() mutable {
      if (auto task = self.lock()) task->impl().onRedirectDecision(std::move(request));
    });
  });
  enqueue([response, newRequest, answer](URLSession& session, URLSessionTask& task) {
    auto d = task.impl().delegateAs<URLSessionTaskDelegate>();
    detail::trace("urlSession(_:task:willPerformHTTPRedirection:newRequest:completionHandler:)", task.taskIdentifier());
    if (d) {
      d->willPerformHTTPRedirection(session, task, static_cast<const HTTPURLResponse&>(*response), newRequest, answer);
    } else {
      answer(newRequest);
    }
  });
}

void URLSessionTask::Impl::onRedirectDecision(std::optional<URLRequest> request) {
  if (phase_ != Phase::loading) return;
  awaitingRedirect_ = false;
  if (!request) {
    // Refused: the redirect response and its body are the result.
    acceptResponse();
    return;
  }
  // None for GET/HEAD. Otherwise an upload keeps the body its factory was given (a request's
  // httpBody is ignored for uploads, as at creation); a data task's body is its request's, so a
  // delegate that changed or removed the httpBody of the proposed request is obeyed.
  if (request->httpMethod == "GET" || request->httpMethod == "HEAD") {
    body_ = {};
  } else if (kind_ != Kind::upload) {
    body_ = {};
    if (request->httpBody && !request->httpBody->empty()) body_.data = request->httpBody;
  }
  restart(std::move(*request));
}

void URLSessionTask::Impl::restart(URLRequest request) {
  noteActivity();
  stopProtocol();
  {
    std::lock_guard lock(mutex_);
    currentRequest_ = std::move(request);
    response_.reset();
  }
  heldChunks_.clear();
  finishPending_ = false;
  pendingFailure_.reset();
  protocolClass_.reset();
  cache_.reset();
  cacheConsulted_ = false;
  notModified_ = false;
  phase_ = Phase::idle;
  start();
}

void URLSessionTask::Impl::protocolDidReceiveChallenge(URLProtectionSpace space,
                                                       std::shared_ptr<const HTTPURLResponse> response) {
  if (phase_ != Phase::loading) return;
  noteActivity();
  {
    std::lock_guard lock(mutex_);
    response_ = response;
  }
  // Proposed: the credential that just failed, else the URL's own, else the storage's default.
  std::optional<URLCredential> proposed = credential_;
  if (!proposed) {
    auto url = currentURL();
    if (url && url->user())
      proposed = URLCredential(*url->user(), url->password().value_or(""), URLCredential::Persistence::none);
  }
  const auto& storage = session_->impl().configuration.urlCredentialStorage;
  if (!proposed && storage) proposed = storage->defaultCredential(space);
  challengedSpace_ = space;
  URLAuthenticationChallenge challenge(space, proposed, challengeFailures_, response);
  awaitingChallenge_ = true;
  auto self = owner_;
  auto method = space.authenticationMethod();
  auto answer = once<URLSession::AuthChallengeDisposition, std::optional<URLCredential>>(
      [self, method](URLSession::AuthChallengeDisposition disposition, std::optional<URLCredential> credential) {
        loop().post([self, method, disposition, credential = std::move(credential)]() mutable {
          if (auto task = self.lock()) task->impl().onChallengeDecision(disposition, std::move(credential), method);
        });
      });
  enqueueChallenge(std::move(challenge), std::move(answer));
}

void URLSessionTask::Impl::enqueueChallenge(URLAuthenticationChallenge challenge,
    std::function<void(URLSession::AuthChallengeDisposition, std::optional<URLCredential>)> answer) {
  enqueue([challenge = std::move(challenge), answer = std::move(answer)](URLSession& session, URLSessionTask& task) {
    detail::trace("urlSession(_:task:didReceive:completionHandler:)", task.taskIdentifier());
    if (auto d = task.impl().delegateAs<URLSessionTaskDelegate>()) {
      d->didReceiveChallenge(session, task, challenge, answer);
    } else if (auto s = session.delegate()) {
      s->didReceiveChallenge(session, challenge, answer);
    } else {
      answer(URLSession::AuthChallengeDisposition::performDefaultHandling, std::nullopt);
    }
  });
}

void URLSessionTask::Impl::onChallengeDecision(URLSession::AuthChallengeDisposition disposition,
                                               std::optional<URLCredential> credential,
                                               std::string authenticationMethod) {
  if (phase_ != Phase::loading || !awaitingChallenge_) return;
  awaitingChallenge_ = false;
  using Disposition = URLSession::AuthChallengeDisposition;
  if (disposition == Disposition::cancelAuthenticationChallenge)
    return finish(Error::url(URLError::cancelled, currentURL(), "authentication cancelled"));
  std::optional<URLCredential> use;
  const bool fromDelegate = disposition == Disposition::useCredential && credential;
  if (fromDelegate) {
    use = std::move(credential);
  } else if (disposition == Disposition::performDefaultHandling && !triedStoredCredential_) {
    // Default handling: the storage's default credential for the space, once.
    const auto& storage = session_->impl().configuration.urlCredentialStorage;
    if (storage && challengedSpace_) use = storage->defaultCredential(*challengedSpace_);
    triedStoredCredential_ = use.has_value();
  }
  if (use) {
    ++challengeFailures_;
    keepsCredential_ = fromDelegate && use->persistence() != URLCredential::Persistence::none;
    credential_ = std::move(use);
    authenticationMethod_ = std::move(authenticationMethod);
    return restart(request());
  }
  // Default handling without a stored credential (or after it failed), or no credential: the
  // 401 is the result.
  acceptResponse();
}

void URLSessionTask::Impl::keepWorkingCredential(const URLResponse* response) {
  if (!keepsCredential_ || !credential_ || !challengedSpace_) return;
  auto* http = dynamic_cast<const HTTPURLResponse*>(response);
  if (!http || http->statusCode() == 401) return;
  keepsCredential_ = false;
  if (const auto& storage = session_->impl().configuration.urlCredentialStorage)
    storage->setDefaultCredential(*credential_, *challengedSpace_);
}

void URLSessionTask::Impl::protocolDidReceiveResponse(std::shared_ptr<const URLResponse> response) {
  if (phase_ != Phase::loading) return;
  noteActivity();
  if (uploadStep_ != UploadStep::creating) {
    auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(response);
    if (http && continueResumedUpload(*http)) return;
  }
  if (uploadProgress_->flush()) reportUploadProgress();  // every didSendBodyData before the response
  keepWorkingCredential(response.get());
  if (cache_ && cache_->networkResponse(loopRequest(), response)) {
    notModified_ = true;  // the stored response answers, once this load has ended
    return;
  }
  {
    std::lock_guard lock(mutex_);
    response_ = std::move(response);
  }
  acceptResponse();
}

void URLSessionTask::Impl::acceptResponse() {
  auto response = this->response();
  bytesExpectedToReceive_ = response ? response->expectedContentLength() : URLSessionTransferSizeUnknown;
  if (kind_ == Kind::download) {
    if (resumeFrom_ && !downloadFile_.isOpen()) {
      // Asked once without the range: a server answering 416 to that too gets no second chance.
      auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(response);
      if (http && http->statusCode() == 416 && request().value("Range")) return restartWithoutRange();
      if (auto failure = continueDownloadFile()) return finish(std::move(failure));
    }
    if (auto failure = openDownloadFile()) return finish(std::move(failure));
    return releaseBody();
  }
  if (hasCompletionHandler() || !delegateAs<URLSessionDataDelegate>()) return releaseBody();
  awaitingDisposition_ = true;
  auto self = owner_;
  auto answer = once<URLSession::ResponseDisposition>([self](URLSession::ResponseDisposition disposition) {
    loop().post([self, disposition] {
      if (auto task = self.lock()) task->impl().onDisposition(disposition);
    });
  });
  enqueue([response, answer](URLSession& session, URLSessionTask& task) {
    auto d = task.impl().delegateAs<URLSessionDataDelegate>();
    detail::trace("urlSession(_:dataTask:didReceive:completionHandler:)", task.taskIdentifier());
    if (d) {
      d->didReceiveResponse(session, static_cast<URLSessionDataTask&>(task), *response, answer);
    } else {
      answer(URLSession::ResponseDisposition::allow);
    }
  });
}

void URLSessionTask::Impl::onDisposition(URLSession::ResponseDisposition disposition) {
  if (phase_ != Phase::loading || !awaitingDisposition_) return;
  awaitingDisposition_ = false;
  switch (disposition) {
    case URLSession::ResponseDisposition::cancel:
      return finish(Error::url(URLError::cancelled, currentURL()));
    case URLSession::ResponseDisposition::becomeDownload:
      return becomeDownload();
    case URLSession::ResponseDisposition::allow:
    case URLSession::ResponseDisposition::becomeStream:  // no stream tasks yet: loads as allow
      return releaseBody();
  }
}

bool URLSessionTask::Impl::bodyHeld() const {
  return awaitingRedirect_ || awaitingDisposition_ || awaitingChallenge_ || suspended_ || backlog_->full();
}

void URLSessionTask::Impl::releaseBody() {
  if (phase_ != Phase::loading) return;
  while (!heldChunks_.empty() && !bodyHeld()) {
    Data chunk = std::move(heldChunks_.front());
    heldChunks_.pop_front();
    if (consume(reinterpret_cast<const char*>(chunk.bytes()), chunk.size()) == Verdict::abort) return;
  }
  if (bodyHeld()) return;
  if (protocolPaused_) {
    protocolPaused_ = false;
    armTimers();
    if (auto* flow = dynamic_cast<detail::FlowControlled*>(protocol_.get())) flow->resumeBody();
  }
  if (finishPending_ && heldChunks_.empty()) {
    finishPending_ = false;
    finish(std::exchange(pendingFailure_, std::nullopt));
  }
}

detail::LoadingClient::BodyVerdict URLSessionTask::Impl::protocolDidLoad(const char* bytes, std::size_t count,
                                                                        bool canPause) {
  if (phase_ != Phase::loading) return Verdict::abort;
  noteActivity();
  if (notModified_) return Verdict::consumed;  // a 304's body, if any, is not the task's
  if (bodyHeld() || !heldChunks_.empty()) {
    const bool waitsForDisposition = awaitingDisposition_ && !suspended_ && !backlog_->full();
    // The held bytes are summed only where the limit applies (a protocol that cannot pause
    // hands over chunk after chunk, and a walk per chunk would make that quadratic).
    auto heldWithThis = [&] {
      std::size_t held = count;
      for (const auto& chunk : heldChunks_) held += chunk.size();
      return held;
    };
    if (canPause && !(waitsForDisposition && heldWithThis() <= heldBodyLimit)) {
      handOverBody();  // what the delegate queue is to drain before the transfer resumes
      protocolPaused_ = true;
      // Waiting on our own delegate is not network idleness.
      if (!awaitingRedirect_ && !awaitingDisposition_ && !awaitingChallenge_) disarmIdleTimer();
      return Verdict::pause;
    }
    heldChunks_.emplace_back(bytes, count);
    return Verdict::consumed;
  }
  return consume(bytes, count);
}

detail::LoadingClient::BodyVerdict URLSessionTask::Impl::consume(const char* bytes, std::size_t count) {
  bytesReceived_ += static_cast<std::int64_t>(count);
  if (kind_ == Kind::download) {
    if (int rc = downloadFile_.write(bytes, count); rc < 0) {
      finish(Error::url(URLError::cannotWriteToFile, currentURL(),
                        fmt::format("{}: {}", downloadPath_, platform::errorName(rc))));
      return Verdict::abort;
    }
    if (downloadProgress_->add(static_cast<std::int64_t>(count))) reportDownloadProgress();
    return Verdict::consumed;
  }
  if (cache_) cache_->record(bytes, count);
  if (dataCompletion_) {
    accumulated_.append(bytes, count);
    return Verdict::consumed;
  }
  if (!delegateAs<URLSessionDataDelegate>()) return Verdict::consumed;
  backlog_->add(static_cast<std::int64_t>(count));
  if (bodyBatch_ && bodyBatch_->append(bytes, count)) return Verdict::consumed;  // joins undelivered bytes
  handOverBody(true);  // a full batch held back goes first
  bodyBatch_ = std::make_shared<detail::BodyBatch>(bodyBuffers_.take(), bytes, count);
  const auto now = Clock::now();
  const auto due = lastBodyHandOver_ + bodyHandOverInterval;
  if (now >= due) {
    handOverBody();
  } else {
    if (!bodyTimer_) bodyTimer_ = std::make_unique<engine::Timer>(loop());
    if (!bodyTimer_->isActive())
      bodyTimer_->start(static_cast<std::uint64_t>(toMilliseconds(due - now).count()), [this] { handOverBody(); });
  }
  return Verdict::consumed;
}

void URLSessionTask::Impl::handOverBody(bool full) {
  if (!bodyBatch_ || bodyBatch_->handedOver) return;
  bodyBatch_->handedOver = true;
  lastBodyHandOver_ = Clock::now();
  if (bodyTimer_) bodyTimer_->stop();
  enqueue([batch = bodyBatch_](URLSession& session, URLSessionTask& task) {
    auto& impl = task.impl();
    Data chunk = batch->take();
    if (auto d = impl.delegateAs<URLSessionDataDelegate>()) {
      detail::trace("urlSession(_:dataTask:didReceive:)", task.taskIdentifier());
      d->didReceiveData(session, static_cast<URLSessionDataTask&>(task), chunk);
    }
    const auto delivered = static_cast<std::int64_t>(chunk.size());
    if (batch->grown()) impl.bodyBuffers_.give(std::move(chunk));
    if (impl.backlog_->remove(delivered)) {
      loop().post([self = task.shared_from_this()] { self->impl().releaseBody(); });
    }
  }, full);
}

std::optional<Error> URLSessionTask::Impl::openDownloadFile() {
  if (downloadFile_.isOpen()) return std::nullopt;
  int rc = platform::File::createUnique(platform::temporaryDirectory(), "CFNetworkDownload_", downloadFile_,
                                        downloadPath_);
  if (rc == 0) return std::nullopt;
  return Error::url(URLError::cannotCreateFile, currentURL(), platform::errorName(rc));
}

std::optional<Data> URLSessionTask::Impl::makeResumeData() {
  if (kind_ != Kind::download || isRemote()) return std::nullopt;
  if (!downloadFile_.isOpen()) {
    // A resumed download that ended before its response: its partial file is as it was.
    if (!resumeFrom_ || !downloadPath_.empty()) return std::nullopt;
    keepPartialFile_ = true;
    return resumeFrom_->encode();
  }
  auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(response());
  const std::int64_t size = downloadFile_.size();
  if (!http || size < 0) return std::nullopt;
  const auto folder = resumeFrom_ ? resumeFrom_->folder : detail::ResumeData::Folder::temporary;
  auto name = downloadPath_.substr(downloadPath_.find_last_of('/') + 1);
  auto data = detail::ResumeData::make(*originalRequest(), request(), *http, folder, std::move(name), size);
  if (!data) return std::nullopt;
  keepPartialFile_ = true;
  return data->encode();
}

std::optional<Error> URLSessionTask::Impl::continueDownloadFile() {
  auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(response());
  const std::int64_t offset = resumeFrom_->bytesReceived;
  const bool partial = http && http->statusCode() == 206;
  auto range = partial ? detail::parseContentRange(http->value("Content-Range").value_or("")) : std::nullopt;
  if (partial && (!range || range->first != offset))
    return Error::url(URLError::badServerResponse, currentURL(), "the server continued at another offset");
  // A 206 appends to the bytes already there, which must still be those the range follows;
  // anything else is the whole resource again (changed, or ranges not served): from zero.
  if (partial && platform::fileSize(resumePath_) != offset)
    return Error::url(URLError::cannotOpenFile, currentURL(), fmt::format("the partial file {} changed", resumePath_));
  if (int rc = platform::File::openForWriting(resumePath_, partial, downloadFile_); rc < 0)
    return Error::url(URLError::cannotOpenFile, currentURL(), fmt::format("{}: {}", resumePath_, platform::errorName(rc)));
  downloadPath_ = resumePath_;
  const std::int64_t start = partial ? offset : 0;
  const std::int64_t length = http ? http->expectedContentLength() : URLSessionTransferSizeUnknown;
  std::int64_t total = length < 0 ? URLSessionTransferSizeUnknown : start + length;
  if (partial && range->second >= 0) total = range->second;
  bytesExpectedToReceive_ = total;
  downloadProgress_->startAt(start);
  reportResumed(start, total);
  return std::nullopt;
}

void URLSessionTask::Impl::restartWithoutRange() {
  auto next = request();
  next.setValue(std::nullopt, "Range");
  next.setValue(std::nullopt, "If-Range");
  restart(std::move(next));
}

void URLSessionTask::Impl::reportResumed(std::int64_t offset, std::int64_t expectedTotal) {
  enqueue([offset, expectedTotal](URLSession& session, URLSessionTask& task) {
    if (auto d = task.impl().delegateAs<URLSessionDownloadDelegate>()) {
      detail::trace("urlSession(_:downloadTask:didResumeAtOffset:expectedTotalBytes:)", task.taskIdentifier());
      d->didResumeAtOffset(session, static_cast<URLSessionDownloadTask&>(task), offset, expectedTotal);
    }
  });
}

std::optional<Data> URLSessionTask::Impl::makeUploadResumeData() {
  if (!uploadResource_ || isRemote() || response()) return std::nullopt;
  const URLRequest original = *originalRequest();
  if (!original.url) return std::nullopt;
  auto data = detail::ResumeData::forUpload(original, uploadResource_->url.absoluteString(), uploadResource_->version,
                                            bytesExpectedToSend_);
  data.uploadOffset = std::min(uploadOffset_, data.bodyLength);
  if (body_.filePath && !bodyIsCopy_) {
    data.bodyPath = *body_.filePath;
  } else {
    // A Data body lives only in this task: resuming needs it in a file that outlives the task.
    std::string path = body_.filePath.value_or("");
    if (!body_.filePath) {
      platform::File copy;
      if (!body_.data || platform::File::createUnique(platform::temporaryDirectory(), std::string(detail::temporaryUploadPrefix), copy, path) < 0)
        return std::nullopt;
      if (copy.write(reinterpret_cast<const char*>(body_.data->bytes()), body_.data->size()) < 0 || copy.close() < 0) {
        platform::removeFile(path);
        return std::nullopt;
      }
      body_ = {std::nullopt, path};
      bodyIsCopy_ = true;
    }
    data.fileName = path.substr(path.find_last_of('/') + 1);
  }
  Data encoded = data.encode();
  if (encoded.size() > detail::ResumeData::maximumSize || !detail::ResumeData::decode(encoded)) return std::nullopt;
  keepBodyCopy_ = true;
  return encoded;
}

bool URLSessionTask::Impl::continueResumedUpload(const HTTPURLResponse& response) {
  const int status = response.statusCode();
  const std::int64_t total = bytesExpectedToSend_;
  // -1: the response names no offset inside the body.
  const std::int64_t named = detail::resumption::offsetFrom(response).value_or(-1);
  const std::int64_t offset = named > total ? -1 : named;
  if (uploadStep_ == UploadStep::askingOffset) {
    // Every byte arrived and the upload completed, but its final response was lost with the
    // connection: nothing is left to send, and the HEAD's answer is the response the task ends
    // with (a PATCH would only be refused with 400). docs/semantics.md, "Resumable uploads".
    if (status >= 200 && status < 300 && offset == total && uploadResource_ &&
        detail::resumption::saysComplete(response, uploadResource_->version)) {
      setUploadPosition(total);
      return false;
    }
    if (status >= 200 && status < 300 && offset >= 0) {
      appendUploadFrom(offset);
    } else {
      // The server lost the upload (or will not say): the whole body goes again, as a new upload.
      uploadResource_.reset();
      uploadStep_ = UploadStep::creating;
      uploadOffset_ = 0;
      uploadProgress_->startAt(0);
      restart(*originalRequest());
    }
    return true;
  }
  if (status != 409 || ++offsetConflicts_ > maximumOffsetConflicts) return false;
  // The server holds another offset than the one sent: continue from its own, or ask it.
  if (offset >= 0) {
    appendUploadFrom(offset);
  } else {
    askUploadOffset();
  }
  return true;
}

void URLSessionTask::Impl::askUploadOffset() {
  uploadStep_ = UploadStep::askingOffset;
  restart(detail::resumption::offsetRequest(*uploadResource_, *originalRequest()));
}

void URLSessionTask::Impl::setUploadPosition(std::int64_t offset) {
  uploadOffset_ = offset;
  bytesSent_ = offset;
  uploadProgress_->startAt(offset);  // totalBytesSent is the position in the body
}

void URLSessionTask::Impl::appendUploadFrom(std::int64_t offset) {
  uploadStep_ = UploadStep::appending;
  setUploadPosition(offset);
  restart(detail::resumption::appendRequest(*uploadResource_, *originalRequest(), offset));
}

void URLSessionTask::Impl::answerResumeDataHandler(const std::optional<Error>& error) {
  if (!resumeDataHandler_) return;
  enqueue([handler = std::exchange(resumeDataHandler_, nullptr),
           data = error ? error->resumeData : std::nullopt](URLSession&, URLSessionTask&) { handler(data); });
}

void URLSessionTask::Impl::reportDownloadProgress() {
  auto progress = downloadProgress_;
  enqueue([progress](URLSession& session, URLSessionTask& task) {
    auto report = progress->take();
    if (report.increment == 0) return;
    if (auto d = task.impl().delegateAs<URLSessionDownloadDelegate>()) {
      detail::trace("urlSession(_:downloadTask:didWriteData:totalBytesWritten:totalBytesExpectedToWrite:)",
                    task.taskIdentifier());
      d->didWriteData(session, static_cast<URLSessionDownloadTask&>(task), report.increment, report.total,
                      task.countOfBytesExpectedToReceive());
    }
  });
}

void URLSessionTask::Impl::protocolDidSendBodyData(std::int64_t bytesSent, std::int64_t totalSent, std::int64_t) {
  if (phase_ != Phase::loading) return;
  noteActivity();
  bytesSent_ = totalSent;
  if (uploadProgress_->add(bytesSent)) reportUploadProgress();
}

void URLSessionTask::Impl::reportUploadProgress() {
  auto progress = uploadProgress_;
  enqueue([progress](URLSession& session, URLSessionTask& task) {
    auto report = progress->take();
    if (report.increment == 0) return;
    if (auto d = task.impl().delegateAs<URLSessionTaskDelegate>()) {
      detail::trace("urlSession(_:task:didSendBodyData:totalBytesSent:totalBytesExpectedToSend:)", task.taskIdentifier());
      d->didSendBodyData(session, task, report.increment, report.total, task.countOfBytesExpectedToSend());
    }
  });
}

void URLSessionTask::Impl::protocolDidReceiveInformational(std::shared_ptr<const HTTPURLResponse> response) {
  if (phase_ != Phase::loading) return;
  noteActivity();
  if (interopVersion_ && uploadStep_ == UploadStep::creating) {
    if (auto resource = detail::resumption::resourceFrom(*response, *currentURL(), interopVersion_))
      uploadResource_ = std::move(resource);
  }
  enqueue([response](URLSession& session, URLSessionTask& task) {
    if (auto d = task.impl().delegateAs<URLSessionTaskDelegate>()) {
      detail::trace("urlSession(_:task:didReceiveInformationalResponse:)", task.taskIdentifier());
      d->didReceiveInformationalResponse(session, task, *response);
    }
  });
}

bool URLSessionTask::Impl::hasMetricsReceiver() const { return delegateAs<URLSessionTaskDelegate>() != nullptr; }

void URLSessionTask::Impl::protocolDidCollectMetrics(URLSessionTaskTransactionMetrics metrics) {
  metrics.response = response();
  metrics_.transactionMetrics.push_back(std::move(metrics));
}

void URLSessionTask::Impl::protocolDidFinish() { protocolDidEnd(std::nullopt); }

void URLSessionTask::Impl::protocolDidFail(Error error) { protocolDidEnd(std::move(error)); }

void URLSessionTask::Impl::protocolDidEnd(std::optional<Error> error) {
  if (phase_ != Phase::loading) return;
  if (notModified_) {
    // The 304 came whole; however its connection ended, the stored response is the answer.
    notModified_ = false;
    stopProtocol();
    return serveFromCache();
  }
  if (awaitingRedirect_ || awaitingDisposition_ || awaitingChallenge_ || !heldChunks_.empty() || protocolPaused_) {
    finishPending_ = true;
    pendingFailure_ = std::move(error);
    return;
  }
  finish(std::move(error));
}

// ---- Becoming a download ---------------------------------------------------------------

std::shared_ptr<URLSessionDownloadTask> URLSessionTask::Impl::makeSuccessorDownload() {
  Setup setup{session_, Kind::download, request(), body_, nullptr, nullptr, std::nullopt};
  setup.remote = remote_;  // a background task's successor is the daemon's too
  auto download = std::make_shared<URLSessionDownloadTask>(std::make_unique<Impl>(std::move(setup)));
  auto& next = download->impl();
  next.bind(download);
  {
    std::lock_guard lock(mutex_);
    std::lock_guard nextLock(next.mutex_);
    next.originalRequest_ = originalRequest_;
    next.response_ = response_;
    next.description_ = description_;
    next.priority_ = priority_;
    next.taskDelegate_ = taskDelegate_;
    next.suspendCount_ = 0;
    next.state_ = State::running;
  }
  next.bytesExpectedToReceive_ = bytesExpectedToReceive_.load();
  session_->impl().adoptTask(download);
  return download;
}

void URLSessionTask::Impl::endAsDataTaskOf(std::shared_ptr<URLSessionDownloadTask> download) {
  // The data task sends nothing more after didBecomeDownloadTask: no didCompleteWithError.
  phase_ = Phase::done;
  enqueue([download = std::move(download)](URLSession& session, URLSessionTask& task) {
    task.impl().state_ = State::completed;
    if (auto d = task.impl().delegateAs<URLSessionDataDelegate>()) {
      detail::trace("urlSession(_:dataTask:didBecome:)", task.taskIdentifier());
      d->didBecomeDownloadTask(session, static_cast<URLSessionDataTask&>(task), *download);
    }
    session.impl().taskDidFinish(task.taskIdentifier());
  });
}

void URLSessionTask::Impl::becomeDownload() {
  auto download = makeSuccessorDownload();
  auto& next = download->impl();
  next.phase_ = Phase::loading;
  next.protocolClass_ = protocolClass_;
  next.protocol_ = std::move(protocol_);
  next.client_ = std::move(client_);
  next.client_->retarget(download);
  next.slotHost_ = std::exchange(slotHost_, std::string());
  next.protocolPaused_ = std::exchange(protocolPaused_, false);
  next.finishPending_ = std::exchange(finishPending_, false);
  next.pendingFailure_ = std::exchange(pendingFailure_, std::nullopt);
  next.heldChunks_ = std::move(heldChunks_);
  next.redirectCount_ = redirectCount_;
  next.metrics_ = metrics_;
  next.startedAt_ = startedAt_;
  next.resourceUsed_ = resourceUsed_;
  idleTimer_.reset();
  resourceTimer_.reset();
  endAsDataTaskOf(download);
  next.armTimers();
  if (auto failure = next.openDownloadFile()) return next.finish(std::move(failure));
  next.releaseBody();
}

// ---- Completion ------------------------------------------------------------------------

void URLSessionTask::Impl::finish(std::optional<Error> error) {
  if (phase_ == Phase::done) return;
  phase_ = Phase::done;
  stopProtocol();
  // The progress not yet reported comes before the last messages.
  if (downloadProgress_->flush()) reportDownloadProgress();
  if (uploadProgress_->flush()) reportUploadProgress();
  idleTimer_.reset();
  resourceTimer_.reset();
  bodyTimer_.reset();  // a batch it held back leaves with the completion, just before it
  heldChunks_.clear();
  if (error && !error->failingURL) error->failingURL = currentURL();
  // Cancelled for resume data, or cut off by the network: the bytes so far are worth keeping.
  if (error && kind_ != Kind::data && !error->resumeData &&
      (resumeDataHandler_ || detail::isTransientFailure(error->code)))
    error->resumeData = kind_ == Kind::download ? makeResumeData() : makeUploadResumeData();
  // Cancelled for good (no resume data asked for): as Apple does, the server may drop the
  // upload at once. Nobody waits for the answer.
  if (error && error->code == URLError::cancelled && !resumeDataHandler_ && uploadResource_ && !isRemote() &&
      !response())
    housekeepingSession().dataTask(detail::resumption::cancellationRequest(*uploadResource_, *originalRequest()))->resume();
  answerResumeDataHandler(error);
  if (bodyIsCopy_ && !keepBodyCopy_ && body_.filePath) platform::removeFile(*body_.filePath);

  std::optional<std::string> downloaded;
  if (kind_ == Kind::download) {
    if (!error && !downloadFile_.isOpen()) error = openDownloadFile();  // an empty body is a file too
    if (int rc = downloadFile_.close(); rc < 0 && !error)
      error = Error::url(URLError::cannotCloseFile, currentURL(), platform::errorName(rc));
    if (!error && !downloadPath_.empty()) {
      downloaded = downloadPath_;
    } else if (!downloadPath_.empty() && !keepPartialFile_) {
      platform::removeFile(downloadPath_);
    } else if (resumeFrom_ && downloadPath_.empty() && !keepPartialFile_ && !remote_) {
      platform::removeFile(resumePath_);  // a resumed download that ends for good before its response
    }
  }
  {
    std::lock_guard lock(mutex_);
    error_ = error;
  }
  if (startedAt_ == Clock::time_point{}) {
    metrics_.taskIntervalStart = std::chrono::system_clock::now();  // never started: an empty interval
  } else {
    metrics_.taskIntervalDuration = std::chrono::duration<double>(Clock::now() - startedAt_).count();
  }
  if (!error && cache_) offerToCache();
  cache_.reset();  // freed here, on the thread that made it, not with the task on the delegate queue
  deliverCompletion(std::move(error), std::move(downloaded));
}

void URLSessionTask::Impl::deliverCompletion(std::optional<Error> error, std::optional<std::string> downloaded,
                                             std::optional<Data> lateBody, std::function<void()> acknowledgement) {
  auto metrics = std::move(metrics_);  // nothing reads them after the completion
  auto accumulated = std::move(accumulated_);
  enqueue([error = std::move(error), downloaded = std::move(downloaded), metrics = std::move(metrics),
           accumulated = std::move(accumulated), lateBody = std::move(lateBody), offer = std::exchange(cacheOffer_, {}),
           acknowledgement = std::move(acknowledgement)](URLSession& session, URLSessionTask& task) mutable {
    std::optional<background::OwedAcknowledgement> owed;
    if (acknowledgement) owed.emplace();
    auto& impl = task.impl();
    const auto id = task.taskIdentifier();
    if (lateBody && !lateBody->empty()) {
      if (auto d = impl.delegateAs<URLSessionDataDelegate>()) {
        detail::trace("urlSession(_:dataTask:didReceive:)", id);
        d->didReceiveData(session, static_cast<URLSessionDataTask&>(task), *lateBody);
      }
    }
    if (offer) {
      if (auto d = impl.delegateAs<URLSessionDataDelegate>()) {
        detail::trace("urlSession(_:dataTask:willCacheResponse:completionHandler:)", id);
        d->willCacheResponse(session, static_cast<URLSessionDataTask&>(task), offer->proposal, std::move(offer->store));
      } else {
        offer->store(std::move(offer->proposal));
      }
    }
    if (downloaded) {
      URL location = URL::fileURLWithPath(*downloaded);
      if (impl.downloadCompletion_) {
        // The handler below gets the file; it is removed after the handler returns.
      } else if (auto d = impl.delegateAs<URLSessionDownloadDelegate>()) {
        detail::trace("urlSession(_:downloadTask:didFinishDownloadingTo:)", id);
        d->didFinishDownloadingTo(session, static_cast<URLSessionDownloadTask&>(task), location);
      }
      if (!impl.downloadCompletion_) detail::discardFile(*downloaded);
    }
    if (auto d = impl.delegateAs<URLSessionTaskDelegate>()) {
      detail::trace("urlSession(_:task:didFinishCollecting:)", id);
      d->didFinishCollectingMetrics(session, task, metrics);
    }
    impl.state_ = State::completed;
    if (impl.dataCompletion_) {
      detail::trace("dataTask(with:completionHandler:) completionHandler", id);
      // The message runs once: the body moves into the handler's argument.
      impl.dataCompletion_(error ? std::nullopt : std::optional<Data>(std::move(accumulated)), impl.response(), error);
      impl.dataCompletion_ = nullptr;
    } else if (impl.downloadCompletion_) {
      detail::trace("downloadTask(with:completionHandler:) completionHandler", id);
      impl.downloadCompletion_(downloaded ? std::optional<URL>(URL::fileURLWithPath(*downloaded)) : std::nullopt,
                               impl.response(), error);
      impl.downloadCompletion_ = nullptr;
      if (downloaded) detail::discardFile(*downloaded);
    } else if (auto d = impl.delegateAs<URLSessionTaskDelegate>()) {
      detail::trace("urlSession(_:task:didCompleteWithError:)", id);
      d->didCompleteWithError(session, task, error);
    }
    session.impl().taskDidFinish(id);
    if (acknowledgement) acknowledgement();
  });
}

// ---- Delegate side ----------------------------------------------------------------------

void URLSessionTask::Impl::enqueue(std::function<void(URLSession&, URLSessionTask&)> call, bool handOverNow) {
  handOverBody();  // body bytes held back come before anything that follows them
  auto task = owner_.lock();
  auto session = session_;
  session->impl().dispatcher->enqueue([task = std::move(task), session = std::move(session), call = std::move(call)] {
    call(*session, *task);
  }, handOverNow);
}

template <class D>
std::shared_ptr<D> URLSessionTask::Impl::delegateAs() const {
  {
    std::lock_guard lock(mutex_);
    if (const auto& own = taskDelegate_.as<D>()) return own;
  }
  if (!session_) return nullptr;
  return session_->impl().delegateAs<D>();
}

}  // namespace foundation

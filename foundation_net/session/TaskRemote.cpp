// The part of the task state machine that mirrors a task run by urlsessiond: commands go to
// the daemon, the daemon's events become delegate calls, and a completion is acknowledged
// only after its last delegate method returned (at-least-once delivery).
#include <atomic>
#include <limits>

#include <foundation_net/URLSessionDataDelegate.hpp>
#include <foundation_net/URLSessionDownloadDelegate.hpp>

#include "background/BackgroundLink.hpp"
#include "background/Protocol.hpp"
#include "platform/File.hpp"
#include "session/SessionImpl.hpp"
#include "session/TaskImpl.hpp"

namespace foundation {

using wire::EventKind;
using wire::Message;
namespace tag = wire::tag;

void URLSessionTask::Impl::sendToDaemon(int type) {
  remote_->send(Message(static_cast<wire::Type>(type)).add(tag::taskId, static_cast<std::int64_t>(identifier_)));
}

Message URLSessionTask::Impl::propertiesMessage(wire::Type type) const {
  std::lock_guard lock(mutex_);
  Message m(type);
  m.add(tag::taskId, static_cast<std::int64_t>(identifier_))
      .add(tag::description, description_)
      .add(tag::priority, static_cast<double>(priority_))
      .add(tag::expectsToSend, clientExpectsToSend_.load())
      .add(tag::expectsToReceive, clientExpectsToReceive_.load());
  if (auto earliest = earliestBeginMillis()) m.add(tag::earliestBegin, *earliest);
  return m;
}

Message URLSessionTask::Impl::creationMessage() const {
  Message m = propertiesMessage(wire::Type::createTask);
  m.add(tag::taskKind, static_cast<std::int64_t>(kind_)).add(tag::request, wire::encodeRequest(request()));
  if (body_.filePath) m.add(tag::uploadFile, *body_.filePath);
  // The daemon takes the partial file over and continues it.
  if (resumeFrom_) m.add(tag::resumeFile, resumePath_).add(tag::resumeValidator, resumeFrom_->validator);
  return m;
}

void URLSessionTask::Impl::applySummary(const background::TaskSummary& s) {
  applyProgress(s);
  std::lock_guard lock(mutex_);
  description_ = s.description;
  priority_ = static_cast<float>(s.priority);
  if (s.earliestBegin) earliestBeginDate_ = Date(std::chrono::milliseconds(*s.earliestBegin));
  clientExpectsToSend_ = s.expectsToSend;
  clientExpectsToReceive_ = s.expectsToReceive;
  // A completed task still has its completion to deliver: it stays "running" until then.
  auto state = static_cast<State>(s.state);
  if (state_ == State::canceling) return;
  state_ = state == State::completed ? State::running : state;
  suspendCount_ = state == State::suspended ? 1 : 0;
}

void URLSessionTask::Impl::applyProgress(const background::TaskSummary& s) {
  std::lock_guard lock(mutex_);
  if (s.originalRequest) originalRequest_ = *s.originalRequest;
  if (s.currentRequest) currentRequest_ = *s.currentRequest;
  if (s.response) response_ = std::make_shared<HTTPURLResponse>(*s.response);
  bytesReceived_ = s.bytesReceived;
  bytesExpectedToReceive_ = s.bytesExpected;
  bytesSent_ = s.bytesSent;
  bytesExpectedToSend_ = s.bytesExpectedToSend;
}

void URLSessionTask::Impl::reconcile(const background::TaskSummary* known, std::vector<Message>& missed) {
  if (known) applyProgress(*known);
  if (!isRemote() || phase_ == Phase::done) return;
  const auto id = static_cast<std::int64_t>(identifier_);
  const State wanted = state_;
  if (!known) missed.push_back(creationMessage());
  const auto daemonState = known ? static_cast<State>(known->state) : State::suspended;
  if (wanted == State::canceling) {
    Message cancel(wire::Type::cancelTask);
    cancel.add(tag::taskId, id);
    if (resumeDataHandler_) cancel.add(tag::produceResumeData, std::int64_t{1});
    missed.push_back(std::move(cancel));
    return;
  }
  if (daemonState == State::completed) return;  // its completion is on its way
  if (wanted == State::running && daemonState == State::suspended)
    return missed.push_back(propertiesMessage(wire::Type::resumeTask));  // with the properties
  if (wanted == State::suspended && daemonState == State::running)
    missed.push_back(Message(wire::Type::suspendTask).add(tag::taskId, id));
  if (known && !propertiesMatch(*known)) missed.push_back(propertiesMessage(wire::Type::setTaskDescription));
}

bool URLSessionTask::Impl::propertiesMatch(const background::TaskSummary& s) const {
  std::lock_guard lock(mutex_);
  return s.description == description_ && static_cast<float>(s.priority) == priority_ &&
         s.earliestBegin == earliestBeginMillis() && s.expectsToSend == clientExpectsToSend_ &&
         s.expectsToReceive == clientExpectsToReceive_;
}

std::optional<std::int64_t> URLSessionTask::Impl::earliestBeginMillis() const {
  if (!earliestBeginDate_) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(earliestBeginDate_->time_since_epoch()).count();
}

void URLSessionTask::Impl::abandonRemote(Error error) {
  if (phase_ == Phase::done) return;
  lastCompletionSequence_ = std::numeric_limits<std::int64_t>::max();
  completionReturned_ = true;  // the daemon's completion, should it come, is acknowledged unseen
  sendToDaemon(static_cast<int>(wire::Type::cancelTask));  // in case it turns up there later
  {
    std::lock_guard lock(mutex_);
    state_ = State::canceling;  // nothing more goes to the daemon
  }
  finish(std::move(error));
}

void URLSessionTask::Impl::answerRemoteResponse(URLSession::ResponseDisposition disposition) {
  if (phase_ == Phase::done) return;
  Message answer(wire::Type::responseAnswer);
  answer.add(tag::taskId, static_cast<std::int64_t>(identifier_));
  if (disposition != URLSession::ResponseDisposition::becomeDownload) {
    remote_->send(std::move(answer.add(tag::disposition, static_cast<std::int64_t>(disposition))));
    return;
  }
  // The daemon goes on with the transfer as this new download task, which then needs no app;
  // it is the session's before the daemon's events for it can arrive.
  auto download = makeSuccessorDownload();
  remote_->send(std::move(answer.add(tag::disposition, static_cast<std::int64_t>(disposition))
                              .add(tag::downloadTaskId, static_cast<std::int64_t>(download->taskIdentifier()))));
  endAsDataTaskOf(std::move(download));
}

void URLSessionTask::Impl::remoteEvent(const Message& event) {
  const auto kind = static_cast<EventKind>(event.integer(tag::eventKind).value_or(0));
  const auto bytes = event.integer(tag::bytes).value_or(0);
  const auto total = event.integer(tag::totalBytes).value_or(0);
  const auto expected = event.integer(tag::expectedBytes).value_or(-1);
  switch (kind) {
    case EventKind::response: {
      auto encoded = event.nested(tag::response);
      auto response = encoded ? wire::decodeResponse(*encoded) : std::nullopt;
      if (!response) return;
      auto shared = std::make_shared<HTTPURLResponse>(*response);
      {
        std::lock_guard lock(mutex_);
        response_ = shared;
      }
      bytesExpectedToReceive_ = shared->expectedContentLength();
      // The daemon's transfer waits for the disposition (the first answer counts).
      auto answer = [self = owner_, answered = std::make_shared<std::atomic<bool>>(false)](
                        URLSession::ResponseDisposition disposition) {
        if (answered->exchange(true)) return;
        engine::Loop::shared().post([self, disposition] {
          if (auto task = self.lock()) task->impl().answerRemoteResponse(disposition);
        });
      };
      enqueue([shared, answer](URLSession& session, URLSessionTask& task) {
        auto d = task.impl().delegateAs<URLSessionDataDelegate>();
        detail::trace("urlSession(_:dataTask:didReceive:completionHandler:)", task.taskIdentifier());
        if (!d) return answer(URLSession::ResponseDisposition::allow);
        d->didReceiveResponse(session, static_cast<URLSessionDataTask&>(task), *shared, answer);
      });
      return;
    }
    case EventKind::data: {
      Data chunk(event.bytes(tag::data).value_or(""));
      bytesReceived_ += static_cast<std::int64_t>(chunk.size());
      enqueue([chunk](URLSession& session, URLSessionTask& task) {
        if (auto d = task.impl().delegateAs<URLSessionDataDelegate>()) {
          detail::trace("urlSession(_:dataTask:didReceive:)", task.taskIdentifier());
          d->didReceiveData(session, static_cast<URLSessionDataTask&>(task), chunk);
        }
      });
      return;
    }
    case EventKind::writeProgress:
      bytesReceived_ = total;
      bytesExpectedToReceive_ = expected;
      enqueue([bytes, total, expected](URLSession& session, URLSessionTask& task) {
        if (auto d = task.impl().delegateAs<URLSessionDownloadDelegate>()) {
          detail::trace("urlSession(_:downloadTask:didWriteData:totalBytesWritten:totalBytesExpectedToWrite:)",
                        task.taskIdentifier());
          d->didWriteData(session, static_cast<URLSessionDownloadTask&>(task), bytes, total, expected);
        }
      });
      return;
    case EventKind::sendProgress:
      bytesSent_ = total;
      if (expected >= 0) bytesExpectedToSend_ = expected;  // the daemon's copy, which is what goes
      enqueue([bytes, total, expected](URLSession& session, URLSessionTask& task) {
        if (auto d = task.impl().delegateAs<URLSessionTaskDelegate>()) {
          detail::trace("urlSession(_:task:didSendBodyData:totalBytesSent:totalBytesExpectedToSend:)", task.taskIdentifier());
          d->didSendBodyData(session, task, bytes, total, expected);
        }
      });
      return;
    case EventKind::resumed:
      return reportResumed(bytes, expected);
    case EventKind::delayedRequest: {
      auto encoded = event.nested(tag::request);
      auto request = encoded ? wire::decodeRequest(*encoded) : std::nullopt;
      if (!request) return;
      auto link = remote_;
      auto id = identifier_;
      enqueue([request = *request, link, id](URLSession& session, URLSessionTask& task) {
        auto answer = [link, id](URLSession::DelayedRequestDisposition disposition, std::optional<URLRequest> next) {
          Message m(wire::Type::delayedRequestAnswer);
          m.add(tag::taskId, static_cast<std::int64_t>(id)).add(tag::disposition, static_cast<std::int64_t>(disposition));
          if (next) m.add(tag::request, wire::encodeRequest(*next));
          link->send(std::move(m));
        };
        detail::trace("urlSession(_:task:willBeginDelayedRequest:completionHandler:)", id);
        if (auto d = task.impl().delegateAs<URLSessionTaskDelegate>()) {
          d->willBeginDelayedRequest(session, task, request, answer);
        } else {
          answer(URLSession::DelayedRequestDisposition::continueLoading, std::nullopt);
        }
      });
      return;
    }
    case EventKind::challenge: {
      auto link = remote_;
      auto id = identifier_;
      auto answer = [link, id, answered = std::make_shared<std::atomic<bool>>(false)](
                        URLSession::AuthChallengeDisposition disposition, std::optional<URLCredential> credential) {
        if (answered->exchange(true)) return;  // answered once: later calls change nothing
        Message m(wire::Type::challengeAnswer);
        m.add(tag::taskId, static_cast<std::int64_t>(id)).add(tag::disposition, static_cast<std::int64_t>(disposition));
        if (credential) wire::addCredential(m, *credential);
        link->send(std::move(m));
      };
      // A challenge the library cannot read gets default handling rather than a stalled transfer.
      auto challenge = wire::decodeChallenge(event);
      if (!challenge) return answer(URLSession::AuthChallengeDisposition::performDefaultHandling, std::nullopt);
      enqueueChallenge(std::move(*challenge), std::move(answer));
      return;
    }
    case EventKind::completed: {
      const auto sequence = event.integer(tag::sequence).value_or(0);
      auto link = remote_;
      auto acknowledge = [this, link, sequence] {
        completionReturned_ = true;
        link->send(Message(wire::Type::acknowledge).add(tag::sequence, sequence));
      };
      if (phase_ == Phase::done) {
        // Delivered before the daemon restarted without our acknowledgement: acknowledge again,
        // unless the delegate is still at it: its own acknowledgement follows when it returns,
        // and an app that dies before must get the completion again.
        if (sequence <= lastCompletionSequence_ && completionReturned_) acknowledge();
        return;
      }
      phase_ = Phase::done;
      lastCompletionSequence_ = sequence;
      std::optional<Error> error;
      if (auto e = event.nested(tag::error)) error = wire::decodeError(*e);
      if (auto r = event.nested(tag::response)) {
        if (auto response = wire::decodeResponse(*r)) {
          std::lock_guard lock(mutex_);
          response_ = std::make_shared<HTTPURLResponse>(*response);
        }
      }
      {
        std::lock_guard lock(mutex_);
        error_ = error;
      }
      // The daemon's transactions, every attempt's (none from a daemon of an older library).
      if (auto encoded = event.nested(tag::metrics))
        if (auto metrics = wire::decodeMetrics(*encoded)) metrics_ = std::move(*metrics);
      std::optional<Data> body;
      if (auto data = event.bytes(tag::data)) body = Data(*data);
      answerResumeDataHandler(error);
      // The daemon keeps the staged file until the acknowledgement, and only the return of
      // didFinishDownloadingTo removes it: when it is gone, an earlier launch that died before
      // acknowledging had the file already, and gets only the rest of the completion again.
      auto location = event.bytes(tag::location);
      if (location && platform::fileSize(*location) < 0) location.reset();
      deliverCompletion(std::move(error), std::move(location), std::move(body), acknowledge);
      return;
    }
    case EventKind::finishedEvents:
      return;  // session-level, routed by the session
  }
}

}  // namespace foundation

#include "daemon/Transfers.hpp"

#include <fmt/format.h>

#include <foundation_net/HTTPURLResponse.hpp>
#include <foundation_net/URLSessionUploadTask.hpp>

#include "background/Protocol.hpp"
#include "model/ResumeData.hpp"
#include "protocols/ResumableUpload.hpp"

namespace foundation::daemon {
namespace {

constexpr std::size_t maximumResponseBody = 1 << 20;  // upload responses travel in one event

}  // namespace

std::shared_ptr<URLSessionTask> TransferDelegate::begin(URLSession& session, URLRequest request, Attempt attempt,
                                                        const std::optional<std::string>& uploadFile) {
  if (attempt.kind == TaskKind::download && attempt.offset > 0 && !attempt.validator.empty()) {
    request.setValue(fmt::format("bytes={}-", attempt.offset), "Range");
    request.setValue(attempt.validator, "If-Range");
  } else {
    attempt.offset = 0;
  }
  std::shared_ptr<URLSessionTask> task;
  if (attempt.kind == TaskKind::upload && uploadFile && !attempt.uploadResource.empty()) {
    auto resume = detail::ResumeData::forUpload(request, attempt.uploadResource, attempt.uploadVersion,
                                                platform::fileSize(*uploadFile));
    resume.bodyPath = *uploadFile;
    task = session.uploadTaskWithResumeData(resume.encode());
  } else if (attempt.kind == TaskKind::upload && uploadFile) {
    task = session.uploadTask(request, URL::fileURLWithPath(*uploadFile));
  } else {
    task = session.dataTask(request);
  }
  {
    std::lock_guard lock(mutex_);
    running_[task->taskIdentifier()].attempt = std::move(attempt);
  }
  task->resume();
  return task;
}

TransferDelegate::Running* TransferDelegate::running(const URLSessionTask& task) {
  std::lock_guard lock(mutex_);
  auto it = running_.find(task.taskIdentifier());
  return it == running_.end() ? nullptr : &it->second;
}

void TransferDelegate::didReceiveResponse(URLSession&, URLSessionDataTask& task, const URLResponse& response,
                                          std::function<void(URLSession::ResponseDisposition)> completionHandler) {
  Running* r = running(task);
  auto* http = dynamic_cast<const HTTPURLResponse*>(&response);
  if (!r || !http) return completionHandler(URLSession::ResponseDisposition::allow);
  const auto id = r->attempt.id;
  if (r->attempt.kind == TaskKind::download) {
    const std::int64_t earlier = r->attempt.offset;
    // didResumeAtOffset for the app: where this attempt continues, of how much.
    auto announceResume = [this, id](std::int64_t offset, std::int64_t expected) {
      wire::Message resumed(wire::Type::event);
      resumed.add(wire::tag::eventKind, static_cast<std::int64_t>(wire::EventKind::resumed))
          .add(wire::tag::bytes, offset)
          .add(wire::tag::expectedBytes, expected);
      engine::Loop::shared().post([this, id, resumed] { daemon_.transferEvent(id, resumed); });
    };
    // The partial file holds the whole resource already (an attempt ended after the last byte
    // but before its completion was saved): the server answers the range with 416 "bytes */N".
    // The task completes with that file and the response that brought it.
    if (earlier > 0 && http->statusCode() == 416 &&
        detail::parseUnsatisfiedContentRange(http->value("Content-Range").value_or("")) == earlier) {
      r->alreadyWhole = true;
      r->expected = r->reported = earlier;
      announceResume(earlier, earlier);
      return completionHandler(URLSession::ResponseDisposition::allow);
    }
    auto range = http->statusCode() == 206 ? detail::parseContentRange(http->value("Content-Range").value_or(""))
                                           : std::nullopt;
    const bool continues = earlier > 0 && range && range->first == earlier;
    const std::int64_t rangeTotal = range ? range->second : -1;
    if (!continues) r->attempt.offset = 0;  // a full body: the resource changed or ranges are not served
    int rc = platform::File::openForWriting(r->attempt.partialFile, continues, r->file);
    // An earlier attempt stopped on purpose may have written past the offset this one asked
    // for before its last delegate call ran: cut back to the offset the server continues from.
    if (rc == 0 && continues) rc = r->file.truncate(earlier);
    if (rc < 0) {
      r->failure = Error::url(URLError::cannotCreateFile, response.url(), platform::errorName(rc));
      return completionHandler(URLSession::ResponseDisposition::cancel);
    }
    r->validator = detail::strongValidator(*http);
    auto length = response.expectedContentLength();
    r->expected = continues && rangeTotal >= 0 ? rangeTotal : length >= 0 ? r->attempt.offset + length : -1;
    r->reported = r->attempt.offset;
    engine::Loop::shared().post([this, id, validator = r->validator, expected = r->expected,
                                 response = wire::encodeResponse(*http).encode()] {
      daemon_.transferResponse(id, validator, expected, response);
    });
    if (earlier > 0) announceResume(r->attempt.offset, r->expected);
  } else if (r->attempt.kind == TaskKind::data) {
    // Kept should the app turn the task into a download (becomeDownload).
    r->validator = detail::strongValidator(*http);
    r->expected = response.expectedContentLength();
    // The app's disposition decides, as in-process (the session holds the body meanwhile).
    engine::Loop::shared().post([this, id, validator = r->validator, expected = r->expected,
                                 encoded = wire::encodeResponse(*http).encode(),
                                 answer = std::move(completionHandler)]() mutable {
      daemon_.transferDataResponse(id, std::move(validator), expected, std::move(encoded), std::move(answer));
    });
    return;
  }
  completionHandler(URLSession::ResponseDisposition::allow);
}

std::optional<Error> TransferDelegate::becomeDownload(const URLSessionTask& transfer, const std::string& partialFile) {
  std::lock_guard lock(mutex_);
  auto it = running_.find(transfer.taskIdentifier());
  if (it == running_.end()) return std::nullopt;  // ended meanwhile: its completion says how
  Running& r = it->second;
  r.attempt.kind = TaskKind::download;
  r.attempt.partialFile = partialFile;
  r.attempt.offset = 0;
  r.reported = 0;
  if (int rc = platform::File::openForWriting(partialFile, false, r.file); rc < 0)
    return Error::url(URLError::cannotCreateFile, transfer.currentRequest()->url, platform::errorName(rc));
  return std::nullopt;
}

void TransferDelegate::didReceiveData(URLSession&, URLSessionDataTask& task, const Data& data) {
  Running* r = running(task);
  if (!r) return;
  switch (r->attempt.kind) {
    case TaskKind::download: {
      if (r->failure || r->alreadyWhole) return;  // a 416's own body is not the resource's
      if (int rc = r->file.write(reinterpret_cast<const char*>(data.bytes()), data.size()); rc < 0) {
        r->failure = Error::url(URLError::cannotWriteToFile, task.currentRequest()->url,
                                fmt::format("{}: {}", r->attempt.partialFile, platform::errorName(rc)));
        task.cancel();
        return;
      }
      r->written += static_cast<std::int64_t>(data.size());
      reportProgress(*r, false, false, r->attempt.offset + r->written, r->expected);
      return;
    }
    case TaskKind::upload:
      if (!r->body) r->body.emplace();
      if (r->body->size() + data.size() <= maximumResponseBody) r->body->append(data.view());
      return;
    case TaskKind::data: {
      wire::Message event(wire::Type::event);
      event.add(wire::tag::eventKind, static_cast<std::int64_t>(wire::EventKind::data)).add(wire::tag::data, data.view());
      const auto id = r->attempt.id;
      engine::Loop::shared().post([this, id, event] { daemon_.transferEvent(id, event); });
      return;
    }
  }
}

void TransferDelegate::didSendBodyData(URLSession&, URLSessionTask& task, std::int64_t, std::int64_t totalBytesSent,
                                       std::int64_t totalBytesExpectedToSend) {
  if (Running* r = running(task)) reportProgress(*r, false, true, totalBytesSent, totalBytesExpectedToSend);
}

void TransferDelegate::reportProgress(Running& r, bool force, bool upload, std::int64_t total, std::int64_t expected) {
  auto now = std::chrono::steady_clock::now();
  if (total == r.reported || (!force && now - r.lastReport < r.attempt.progressInterval)) return;
  const auto increment = total - r.reported;
  r.reported = total;
  r.lastReport = now;
  const auto id = r.attempt.id;
  engine::Loop::shared().post([this, id, increment, total, expected, upload] {
    daemon_.transferProgress(id, increment, total, expected, upload);
  });
}

void TransferDelegate::didReceiveChallenge(URLSession&, URLSessionTask& task, const URLAuthenticationChallenge& challenge,
    std::function<void(URLSession::AuthChallengeDisposition, std::optional<URLCredential>)> completionHandler) {
  Running* r = running(task);
  if (!r) return completionHandler(URLSession::AuthChallengeDisposition::performDefaultHandling, std::nullopt);
  const auto id = r->attempt.id;
  engine::Loop::shared().post([this, id, challenge, answer = std::move(completionHandler)]() mutable {
    daemon_.transferChallenge(id, std::move(challenge), std::move(answer));
  });
}

void TransferDelegate::didReceiveInformationalResponse(URLSession& session, URLSessionTask& task,
                                                       const HTTPURLResponse& response) {
  Running* r = running(task);
  auto url = task.currentRequest() ? task.currentRequest()->url : std::nullopt;
  if (!r || r->attempt.kind != TaskKind::upload || !url) return;
  auto resource = detail::resumption::resourceFrom(response, *url, session.configuration().resumableUploadInteropVersion);
  if (!resource) return;
  engine::Loop::shared().post([this, id = r->attempt.id, resource = resource->url.absoluteString(), version = resource->version] {
    daemon_.transferUploadResource(id, resource, version);
  });
}

void TransferDelegate::didFinishCollectingMetrics(URLSession&, URLSessionTask& task, const URLSessionTaskMetrics& metrics) {
  if (Running* r = running(task)) r->metrics = metrics;
}

void TransferDelegate::didCompleteWithError(URLSession&, URLSessionTask& task, const std::optional<Error>& error) {
  Running finished;
  {
    std::lock_guard lock(mutex_);
    auto it = running_.find(task.taskIdentifier());
    if (it == running_.end()) return;
    finished = std::move(it->second);
    running_.erase(it);
  }
  if (finished.attempt.kind == TaskKind::download)
    reportProgress(finished, true, false, finished.attempt.offset + finished.written, finished.expected);
  int closed = finished.file.close();
  Daemon::TransferOutcome outcome;
  outcome.error = finished.failure ? finished.failure : error;
  if (!outcome.error && closed < 0)
    outcome.error = Error::url(URLError::cannotCloseFile, task.currentRequest()->url, platform::errorName(closed));
  outcome.response = finished.alreadyWhole ? nullptr : task.response();  // a 416 is not the file's response
  outcome.validator = finished.validator;
  outcome.bytes = finished.attempt.kind == TaskKind::upload ? task.countOfBytesSent()
                                                            : finished.attempt.offset + finished.written;
  outcome.body = std::move(finished.body);
  outcome.transactions = std::move(finished.metrics.transactionMetrics);
  outcome.redirects = finished.metrics.redirectCount;
  const auto id = finished.attempt.id;
  engine::Loop::shared().post([this, id, outcome = std::move(outcome)]() mutable {
    daemon_.transferFinished(id, std::move(outcome));
  });
}

}  // namespace foundation::daemon

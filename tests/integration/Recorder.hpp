// A delegate for tests: implements every delegate protocol, records each call as its Swift
// selector name (with the task id), checks that calls never overlap and never run on the
// network thread, and lets a test wait for completions.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <foundation_net/foundation_net.hpp>

namespace fntest {

using namespace foundation;
using namespace std::chrono_literals;

// The bytes of the file at `path` ("" when it cannot be read).
inline std::string contentsOf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class Recorder : public URLSessionDataDelegate, public URLSessionDownloadDelegate {
 public:
  struct Completion {
    std::optional<Error> error;
    std::shared_ptr<const URLResponse> response;
  };

  // What the delegate answers; tests change these before resuming tasks.
  URLSession::ResponseDisposition disposition = URLSession::ResponseDisposition::allow;
  std::function<std::optional<URLRequest>(const HTTPURLResponse&, const URLRequest&)> redirect =
      [](const HTTPURLResponse&, const URLRequest& next) { return std::optional<URLRequest>(next); };
  std::chrono::milliseconds dataDelay{0};  // a slow delegate
  std::function<void(URLSessionDownloadTask&, const URL&)> onDownloaded;
  std::function<void(URLSessionDataTask&, const Data&)> onData;
  bool keepsDownloads = false;  // read each downloaded file in didFinishDownloadingTo (see downloaded())

  // Blocks until `count` tasks completed (or the time runs out); true when they did.
  bool waitForCompletions(std::size_t count, std::chrono::milliseconds limit = 20s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return completions_.size() >= count; });
  }
  bool waitForInvalidation(std::chrono::milliseconds limit = 20s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return invalidated_; });
  }

  std::vector<std::string> events(std::uint64_t task) const {
    std::lock_guard lock(mutex_);
    auto it = events_.find(task);
    return it == events_.end() ? std::vector<std::string>{} : it->second;
  }
  std::vector<std::string> sessionEvents() const {
    std::lock_guard lock(mutex_);
    return sessionEvents_;
  }
  std::string body(std::uint64_t task) const {
    std::lock_guard lock(mutex_);
    auto it = bodies_.find(task);
    return it == bodies_.end() ? std::string() : it->second;
  }
  Completion completion(std::uint64_t task) const {
    std::lock_guard lock(mutex_);
    return completions_.at(task);
  }
  std::size_t completionCount() const {
    std::lock_guard lock(mutex_);
    return completions_.size();
  }
  std::optional<URLSessionTaskMetrics> metrics(std::uint64_t task) const {
    std::lock_guard lock(mutex_);
    auto it = metrics_.find(task);
    return it == metrics_.end() ? std::nullopt : std::optional(it->second);
  }
  std::int64_t maxUndelivered() const { return maxUndelivered_; }
  int overlaps() const { return overlaps_; }
  std::int64_t bytesWritten(std::uint64_t task) const {
    std::lock_guard lock(mutex_);
    auto it = written_.find(task);
    return it == written_.end() ? 0 : it->second;
  }
  // didResumeAtOffset's (fileOffset, expectedTotalBytes), in order.
  std::vector<std::pair<std::int64_t, std::int64_t>> resumes(std::uint64_t task) const {
    std::lock_guard lock(mutex_);
    auto it = resumes_.find(task);
    return it == resumes_.end() ? std::vector<std::pair<std::int64_t, std::int64_t>>{} : it->second;
  }
  // The last didWriteData's totalBytesExpectedToWrite (0 before any).
  std::int64_t expectedToWrite(std::uint64_t task) const {
    std::lock_guard lock(mutex_);
    auto it = expectedToWrite_.find(task);
    return it == expectedToWrite_.end() ? 0 : it->second;
  }
  // The bytes of the file didFinishDownloadingTo got, with keepsDownloads.
  std::string downloaded(std::uint64_t task) const {
    std::lock_guard lock(mutex_);
    auto it = downloads_.find(task);
    return it == downloads_.end() ? std::string() : it->second;
  }
  std::shared_ptr<URLSessionDownloadTask> becameDownload() const {
    std::lock_guard lock(mutex_);
    return becameDownload_;
  }

  // --- delegate methods ---
  void didBecomeInvalidWithError(URLSession&, const std::optional<Error>&) override {
    Guard g(*this);
    std::lock_guard lock(mutex_);
    sessionEvents_.push_back("didBecomeInvalidWithError");
    invalidated_ = true;
    changed_.notify_all();
  }
  void didCreateTask(URLSession&, URLSessionTask& task) override { record(task, "didCreateTask"); }
  void willPerformHTTPRedirection(URLSession&, URLSessionTask& task, const HTTPURLResponse& response,
                                  const URLRequest& next, std::function<void(std::optional<URLRequest>)> answer) override {
    Guard g(*this);
    record(task, "willPerformHTTPRedirection");
    answer(redirect(response, next));
  }
  void didSendBodyData(URLSession&, URLSessionTask& task, std::int64_t, std::int64_t, std::int64_t) override {
    Guard g(*this);
    recordOnce(task, "didSendBodyData");
  }
  void didReceiveInformationalResponse(URLSession&, URLSessionTask& task, const HTTPURLResponse&) override {
    Guard g(*this);
    record(task, "didReceiveInformationalResponse");
  }
  void didFinishCollectingMetrics(URLSession&, URLSessionTask& task, const URLSessionTaskMetrics& m) override {
    Guard g(*this);
    record(task, "didFinishCollectingMetrics");
    std::lock_guard lock(mutex_);
    metrics_[task.taskIdentifier()] = m;
  }
  void didCompleteWithError(URLSession&, URLSessionTask& task, const std::optional<Error>& error) override {
    Guard g(*this);
    record(task, "didCompleteWithError");
    std::lock_guard lock(mutex_);
    completions_[task.taskIdentifier()] = Completion{error, task.response()};
    changed_.notify_all();
  }
  void didReceiveResponse(URLSession&, URLSessionDataTask& task, const URLResponse&,
                          std::function<void(URLSession::ResponseDisposition)> answer) override {
    Guard g(*this);
    record(task, "didReceiveResponse");
    answer(disposition);
  }
  void didBecomeDownloadTask(URLSession&, URLSessionDataTask& task, URLSessionDownloadTask& download) override {
    Guard g(*this);
    record(task, "didBecomeDownloadTask");
    std::lock_guard lock(mutex_);
    becameDownload_ = std::static_pointer_cast<URLSessionDownloadTask>(download.shared_from_this());
  }
  void didReceiveData(URLSession&, URLSessionDataTask& task, const Data& data) override {
    Guard g(*this);
    recordOnce(task, "didReceiveData");
    {
      std::lock_guard lock(mutex_);
      auto& body = bodies_[task.taskIdentifier()];
      body.append(data.view());
      auto undelivered = task.countOfBytesReceived() - static_cast<std::int64_t>(body.size());
      if (undelivered > maxUndelivered_) maxUndelivered_ = undelivered;
    }
    if (onData) onData(task, data);
    if (dataDelay.count() > 0) std::this_thread::sleep_for(dataDelay);
  }
  void didFinishDownloadingTo(URLSession&, URLSessionDownloadTask& task, const URL& location) override {
    Guard g(*this);
    record(task, "didFinishDownloadingTo");
    if (keepsDownloads) {
      auto bytes = contentsOf(location.path());
      std::lock_guard lock(mutex_);
      downloads_[task.taskIdentifier()] = std::move(bytes);
    }
    if (onDownloaded) onDownloaded(task, location);
  }
  void didWriteData(URLSession&, URLSessionDownloadTask& task, std::int64_t written, std::int64_t total,
                    std::int64_t expected) override {
    Guard g(*this);
    recordOnce(task, "didWriteData");
    std::lock_guard lock(mutex_);
    expectedToWrite_[task.taskIdentifier()] = expected;
    auto& sum = written_[task.taskIdentifier()];
    sum += written;
    if (sum != total) ++overlaps_;  // increments must add up to the totals
  }
  void didResumeAtOffset(URLSession&, URLSessionDownloadTask& task, std::int64_t offset, std::int64_t expected) override {
    Guard g(*this);
    record(task, "didResumeAtOffset");
    std::lock_guard lock(mutex_);
    resumes_[task.taskIdentifier()].emplace_back(offset, expected);
    written_[task.taskIdentifier()] = offset;  // the totals that follow count the offset as written
  }

 private:
  // Counts calls that overlap another delegate call of this recorder.
  struct Guard {
    explicit Guard(Recorder& r) : r(r) {
      if (r.inCall_.exchange(true)) ++r.overlaps_;
    }
    ~Guard() { r.inCall_ = false; }
    Recorder& r;
  };
  void record(URLSessionTask& task, const char* event) {
    std::lock_guard lock(mutex_);
    events_[task.taskIdentifier()].push_back(event);
  }
  // Progress-like events are recorded once per run of calls, so orders stay comparable.
  void recordOnce(URLSessionTask& task, const char* event) {
    std::lock_guard lock(mutex_);
    auto& list = events_[task.taskIdentifier()];
    if (list.empty() || list.back() != event) list.push_back(event);
  }

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::uint64_t, std::vector<std::string>> events_;
  std::vector<std::string> sessionEvents_;
  std::map<std::uint64_t, std::string> bodies_;
  std::map<std::uint64_t, Completion> completions_;
  std::map<std::uint64_t, URLSessionTaskMetrics> metrics_;
  std::map<std::uint64_t, std::int64_t> written_;
  std::map<std::uint64_t, std::int64_t> expectedToWrite_;
  std::map<std::uint64_t, std::string> downloads_;
  std::map<std::uint64_t, std::vector<std::pair<std::int64_t, std::int64_t>>> resumes_;
  std::shared_ptr<URLSessionDownloadTask> becameDownload_;
  bool invalidated_ = false;
  std::atomic<bool> inCall_{false};
  std::atomic<int> overlaps_{0};
  std::atomic<std::int64_t> maxUndelivered_{0};
};

// Implements only the session-level didReceiveChallenge, answering with `credential`: the
// task-level method is URLSessionTaskDelegate's, which hands the challenge on to it, as Apple does.
class SessionLevelChallengeRecorder : public Recorder {
 public:
  explicit SessionLevelChallengeRecorder(URLCredential credential) : credential_(std::move(credential)) {}
  std::atomic<int> asked{0};
  void didReceiveChallenge(URLSession&, const URLAuthenticationChallenge&,
      std::function<void(URLSession::AuthChallengeDisposition, std::optional<URLCredential>)> answer) override {
    ++asked;
    answer(URLSession::AuthChallengeDisposition::useCredential, credential_);
  }

 private:
  URLCredential credential_;
};

// Waits for a completion-handler result.
template <class T>
struct Awaited {
  std::mutex mutex;
  std::condition_variable cv;
  std::optional<T> value;
  void set(T v) {
    std::lock_guard lock(mutex);
    value = std::move(v);
    cv.notify_all();
  }
  bool wait(std::chrono::milliseconds limit = 20s) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, limit, [&] { return value.has_value(); });
  }
};

struct DataResult {
  std::optional<Data> data;
  std::shared_ptr<const URLResponse> response;
  std::optional<Error> error;
};

// Runs a completion-handler data task to the end.
inline DataResult load(const std::shared_ptr<URLSession>& session, const URLRequest& request) {
  auto result = std::make_shared<Awaited<DataResult>>();
  session->dataTask(request, [result](std::optional<Data> d, std::shared_ptr<const URLResponse> r,
                                      std::optional<Error> e) { result->set({std::move(d), std::move(r), std::move(e)}); })
      ->resume();
  if (!result->wait()) throw std::runtime_error("task did not complete");
  return *result->value;
}

// Cancels a running download for resume data once `atLeast` bytes were written; the handler's
// answer. The task's completion is -999 carrying the same resume data (or none).
inline std::optional<Data> cancelForResumeData(Recorder& recorder, URLSessionDownloadTask& task, std::int64_t atLeast) {
  const auto completed = recorder.completionCount();
  for (int i = 0; i < 4000 && recorder.bytesWritten(task.taskIdentifier()) < atLeast; ++i)
    std::this_thread::sleep_for(5ms);
  if (recorder.bytesWritten(task.taskIdentifier()) < atLeast) throw std::runtime_error("the download did not progress");
  Awaited<std::optional<Data>> produced;
  task.cancelByProducingResumeData([&](std::optional<Data> data) { produced.set(std::move(data)); });
  if (!produced.wait() || !recorder.waitForCompletions(completed + 1)) throw std::runtime_error("no answer");
  auto error = recorder.completion(task.taskIdentifier()).error;
  if (!error || error->code != URLError::cancelled || error->resumeData != *produced.value)
    throw std::runtime_error("the completion is not -999 with the same resume data");
  return *produced.value;
}

inline int statusOf(const std::shared_ptr<const URLResponse>& response) {
  auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(response);
  return http ? http->statusCode() : 0;
}

}  // namespace fntest

// URLSessionTask: one load — created suspended by a URLSession factory, started by resume().
// All members are safe to call from any thread.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <foundation_net/Date.hpp>
#include <foundation_net/Error.hpp>
#include <foundation_net/URLRequest.hpp>
#include <foundation_net/URLResponse.hpp>

namespace foundation {

class URLSession;
class URLSessionTaskDelegate;

// NSURLSessionTransferSizeUnknown
inline constexpr std::int64_t URLSessionTransferSizeUnknown = -1;

class URLSessionTask : public std::enable_shared_from_this<URLSessionTask> {
 public:
  enum class State { running = 0, suspended = 1, canceling = 2, completed = 3 };
  static constexpr float defaultPriority = 0.5f, lowPriority = 0.25f, highPriority = 0.75f;

  virtual ~URLSessionTask();
  URLSessionTask(const URLSessionTask&) = delete;
  URLSessionTask& operator=(const URLSessionTask&) = delete;

  std::uint64_t taskIdentifier() const;  // unique within its session
  State state() const;
  // Starts or continues the task. Balanced against suspend(): suspends nest.
  void resume();
  void suspend();
  // Ends the task with NSURLErrorCancelled unless it already finished; works when suspended.
  void cancel();

  std::optional<URLRequest> originalRequest() const;
  std::optional<URLRequest> currentRequest() const;
  std::shared_ptr<const URLResponse> response() const;
  std::optional<Error> error() const;
  std::string taskDescription() const;
  void setTaskDescription(std::string description);
  float priority() const;
  void setPriority(float priority);  // clamped to 0...1
  std::optional<Date> earliestBeginDate() const;
  void setEarliestBeginDate(std::optional<Date> date);
  std::int64_t countOfBytesClientExpectsToSend() const;
  void setCountOfBytesClientExpectsToSend(std::int64_t count);
  std::int64_t countOfBytesClientExpectsToReceive() const;
  void setCountOfBytesClientExpectsToReceive(std::int64_t count);
  std::int64_t countOfBytesSent() const;
  std::int64_t countOfBytesReceived() const;
  std::int64_t countOfBytesExpectedToSend() const;
  std::int64_t countOfBytesExpectedToReceive() const;
  // A per-task delegate gets this task's events before the session's delegate.
  std::shared_ptr<URLSessionTaskDelegate> delegate() const;
  void setDelegate(std::shared_ptr<URLSessionTaskDelegate> delegate);

  class Impl;  // the task's state machine (foundation_net/session/TaskImpl.hpp)
  Impl& impl() const { return *impl_; }

 protected:
  explicit URLSessionTask(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace foundation

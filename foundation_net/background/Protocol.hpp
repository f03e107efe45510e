// The urlsessiond message catalogue (fields of each wire::Message type) and where the daemon
// lives. docs/background.md describes the exchange; Wire.hpp the encoding.
#pragma once
#include <cstdint>
#include <string>

namespace foundation::wire {

// Message-level field tags.
namespace tag {
enum : std::uint16_t {
  appId = 1, sessionId = 2, configuration = 3, taskId = 4, taskKind = 5, request = 6,
  uploadFile = 7, description = 8, priority = 9, earliestBegin = 10, discretionary = 11,
  expectsToSend = 12, expectsToReceive = 13, sequence = 14, eventKind = 15, error = 16,
  response = 17, location = 18, bytes = 19, totalBytes = 20, expectedBytes = 21,
  nextTaskId = 22, task = 23, cancelAll = 24, disposition = 25, pid = 26, launchCommand = 27,
  taskState = 28, data = 29, foreground = 30, originalRequest = 31, bytesSent = 32,
  bytesExpectedToSend = 33, attempts = 34, nextAttemptAt = 35, ok = 36,
  launchedForEvents = 37,  // attach: urlsessiond launched this process for this session's events
  answersResponses = 38,   // attach: the app answers data tasks' responses (responseAnswer)
  downloadTaskId = 39,     // responseAnswer becomeDownload: the id of the download task it becomes
  // The tools' status and listTasks answers (numbered from 40).
  uptimeMs = 40, sessionCount = 41, waitingCount = 42, runningCount = 43, suspendedCount = 44,
  completedCount = 45, daemonTaskState = 46, pendingEventCount = 47,
  // Resume data (60+): cancelTask asks for it; createTask continues a partial file with it.
  produceResumeData = 60, resumeFile = 61, resumeValidator = 62,
  // Task-level authentication challenges (70+): the `challenge` event and its answer; the
  // credential fields (77–79) are the answer's credential, or the event's proposed credential.
  challengeHost = 70, challengePort = 71, challengeProtocol = 72, challengeRealm = 73,
  authenticationMethod = 74, previousFailureCount = 75, failureResponse = 76,
  credentialUser = 77, credentialPassword = 78, credentialPersistence = 79,
  // The completed event's task metrics (wire::encodeMetrics): every attempt's transactions.
  metrics = 80,
};
}

// What an `event` message reports. Durable events are stored until acknowledged and replayed
// on the next attach; the others are sent only to an attached app.
enum class EventKind : std::int64_t {
  response = 1,          // data tasks: didReceiveResponse (response); the transfer waits for the
                         // responseAnswer of an app that attached with answersResponses
  data = 2,              // data tasks: didReceiveData (data)
  writeProgress = 3,     // downloads: didWriteData (bytes, totalBytes, expectedBytes)
  sendProgress = 4,      // uploads: didSendBodyData (bytes, totalBytes, expectedBytes)
  completed = 5,         // durable: [location] [data] [response] [error] [metrics] → the last messages
  delayedRequest = 6,    // willBeginDelayedRequest (request); answered by delayedRequestAnswer
  finishedEvents = 7,    // didFinishEventsForBackgroundURLSession, after a replay
  resumed = 8,           // downloads: didResumeAtOffset (bytes = offset, expectedBytes)
  challenge = 9,         // task-level didReceiveChallenge (protection space, failures, failure
                         // response, proposed credential: wire::encodeChallenge); answered by
                         // challengeAnswer
};

}  // namespace foundation::wire

namespace foundation::background {

// Set by urlsessiond in the environment of an app it launches for background events: the
// identifiers of the sessions with events, one per line.
inline constexpr const char* launchSessionsVariable = "FOUNDATION_NET_LAUNCH_SESSIONS";

// FOUNDATION_NET_RUNTIME_DIR, else $XDG_RUNTIME_DIR/foundation_net, else /tmp/foundation_net-<uid>.
std::string runtimeDirectory();
// FOUNDATION_NET_STATE_DIR, else $XDG_STATE_HOME/foundation_net, else ~/.local/state/foundation_net.
std::string stateDirectory();
std::string socketPath();  // <runtime>/urlsessiond.sock
// FOUNDATION_NET_APP_ID, else the executable's file name.
std::string appIdentifier();
// FOUNDATION_NET_DAEMON, else urlsessiond in the library's install folder, else on PATH.
std::string daemonExecutable();

}  // namespace foundation::background

#include <optional>

#include "background/Wire.hpp"

namespace foundation::background {

// A task as the daemon reports it on attach (one nested `task` field each).
struct TaskSummary {
  std::uint64_t taskId = 0;
  int kind = 0;   // 0 data, 1 upload, 2 download
  int state = 0;  // URLSessionTask::State
  std::optional<URLRequest> originalRequest, currentRequest;
  std::optional<HTTPURLResponse> response;
  std::string description;
  std::int64_t bytesReceived = 0, bytesExpected = -1, bytesSent = 0, bytesExpectedToSend = 0;
  double priority = 0.5;
  std::optional<std::int64_t> earliestBegin;  // ms since the epoch
  std::int64_t expectsToSend = -1, expectsToReceive = -1;
};
wire::Message encodeTaskSummary(const TaskSummary& summary);
std::optional<TaskSummary> decodeTaskSummary(const wire::Message& message);

}  // namespace foundation::background

// The urlsessiond wire protocol, shared by the library (client) and the daemon.
//
// A connection carries frames: a 4-byte little-endian payload length, then the payload.
// A payload is: u16 protocol version, u16 message type, u16 field count, then the fields.
// A field is: u16 tag, u8 kind, then the value — kind 0: i64 (8 bytes, little-endian),
// kind 1: bytes (u32 length + the bytes), kind 2: f64 (8 bytes, IEEE-754 little-endian).
// A tag may appear more than once (lists). Decoding validates every length against the
// payload; anything malformed, oversized or of an unknown version is rejected, and the
// receiver closes that connection. See docs/background.md for the message catalogue.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <foundation_net/Error.hpp>
#include <foundation_net/HTTPURLResponse.hpp>
#include <foundation_net/URLAuthenticationChallenge.hpp>
#include <foundation_net/URLRequest.hpp>
#include <foundation_net/URLSessionConfiguration.hpp>
#include <foundation_net/URLSessionTaskMetrics.hpp>

namespace foundation::wire {

inline constexpr std::uint16_t protocolVersion = 1;
inline constexpr std::size_t maximumPayload = 16u << 20;  // 16 MiB

enum class Type : std::uint16_t {
  // client → daemon
  attach = 1,          // app id, session identifier, configuration → attached | error
  createTask = 2,      // task id, kind, request, upload file, description, priority, dates, hints
  resumeTask = 3,
  suspendTask = 4,
  cancelTask = 5,      // also: produce resume data (flag)
  acknowledge = 6,     // event sequence number: the delegate method returned
  invalidate = 7,      // cancel flag: invalidateAndCancel / finishTasksAndInvalidate
  delayedRequestAnswer = 8,  // task id, disposition, optional new request
  setTaskDescription = 9,
  appState = 10,       // foreground / background
  status = 11,         // → statusReport (tools)
  listTasks = 12,      // optional app id → taskList (tools)
  challengeAnswer = 13,  // task id, disposition, optional credential (user, password, persistence)
  responseAnswer = 14,   // task id, disposition (cancel, allow, becomeDownload + downloadTaskId)
  // daemon → client
  attached = 100,      // next task id, the tasks still in flight (one `task` field each)
  event = 101,         // sequence number, task id, event kind, payload fields
  reply = 102,         // generic answer to a request: ok or an error
  statusReport = 103,
  taskList = 104,
};

enum class Kind : std::uint8_t { integer = 0, bytes = 1, real = 2 };

struct Field {
  std::uint16_t tag;
  std::variant<std::int64_t, std::string, double> value;
};

class Message {
 public:
  explicit Message(Type type = Type::reply) : type_(type) {}
  Type type() const { return type_; }

  Message& add(std::uint16_t tag, std::int64_t value);
  Message& add(std::uint16_t tag, std::string_view bytes);
  Message& add(std::uint16_t tag, double value);
  Message& add(std::uint16_t tag, const Message& nested);  // an encoded payload as bytes
  // Adds every field of `other`, in order (re-routing an event built elsewhere).
  Message& append(const Message& other);

  // The first field with this tag, if it has that kind.
  std::optional<std::int64_t> integer(std::uint16_t tag) const;
  std::optional<std::string> bytes(std::uint16_t tag) const;
  std::optional<double> real(std::uint16_t tag) const;
  std::optional<Message> nested(std::uint16_t tag) const;  // decodes a bytes field as a payload
  // Every field with this tag, in order (bytes fields only).
  std::vector<std::string> allBytes(std::uint16_t tag) const;
  const std::vector<Field>& fields() const { return fields_; }

  // The payload (without the frame length).
  std::string encode() const;
  // nullopt when the payload is malformed: truncated, trailing bytes, unknown kind, wrong
  // version, more than `maximumPayload` bytes.
  static std::optional<Message> decode(std::string_view payload);

 private:
  Type type_;
  std::vector<Field> fields_;
};

// A frame: length prefix + payload.
std::string frame(const Message& message);

// Reassembles frames from a byte stream.
class FrameReader {
 public:
  // Appends received bytes; false when the stream is broken (a declared length above
  // maximumPayload, or a payload that does not decode): the connection must be closed.
  bool feed(std::string_view bytes);
  // The next complete message, if any.
  std::optional<Message> next();

 private:
  std::string buffer_;
  std::vector<Message> ready_;
  std::size_t readyAt_ = 0;
};

// Values as nested payloads. Each decode returns nullopt on missing or invalid fields.
Message encodeRequest(const URLRequest& request);
std::optional<URLRequest> decodeRequest(const Message& message);
Message encodeConfiguration(const URLSessionConfiguration& configuration);
std::optional<URLSessionConfiguration> decodeConfiguration(const Message& message);
Message encodeError(const Error& error);
std::optional<Error> decodeError(const Message& message);
Message encodeResponse(const HTTPURLResponse& response);
std::optional<HTTPURLResponse> decodeResponse(const Message& message);
// Transactions keep their response only when it is an HTTPURLResponse.
Message encodeMetrics(const URLSessionTaskMetrics& metrics);
std::optional<URLSessionTaskMetrics> decodeMetrics(const Message& message);

// Authentication, as message-level fields (tags 70–79 of Protocol.hpp) of a `challenge` event
// or a `challengeAnswer`, not as nested payloads.
// A credential's fields (credentialUser, credentialPassword, credentialPersistence).
void addCredential(Message& message, const URLCredential& credential);
// nullopt in `credential` when there is none; false when its fields are there but malformed
// (no user, a persistence outside 0…3).
bool readCredential(const Message& message, std::optional<URLCredential>& credential);
// The protection space, previousFailureCount, [failureResponse] and [proposedCredential].
Message encodeChallenge(const URLAuthenticationChallenge& challenge);
// nullopt when a field is missing or invalid (an empty host, protocol or method, a port outside
// 0…65535, a negative failure count, a failure response or credential that does not decode).
std::optional<URLAuthenticationChallenge> decodeChallenge(const Message& message);

}  // namespace foundation::wire

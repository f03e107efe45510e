// libFuzzer target for the urlsessiond wire codec (see README.md here).
//
// Input layout: the first byte chooses where the rest is cut in two before it is fed to a
// FrameReader; the rest is also decoded directly as a payload, and — past a 4-byte length — as
// the payload of a frame. Every message decoded has its fields tried as nested values.
// Values: requests, configurations, errors, responses, challenges (message-level fields, as in
// a challenge event) and credentials (as in a challengeAnswer).
// Besides the sanitizers, it checks the codec's invariants and traps when one fails:
//   - a payload that decodes re-encodes to the same bytes (the encoding is canonical);
//   - a value that decodes re-encodes to a payload that decodes to a value with the same encoding;
//   - a stream of frames fed whole, in two pieces, or byte by byte yields the same messages.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "background/Wire.hpp"

using namespace foundation;
using namespace foundation::wire;

namespace {

void check(bool condition) {
  if (!condition) __builtin_trap();
}

// Decodes message as a value of each kind; a value that decodes must be stable under re-encoding.
template <class Decode, class Encode>
void tryValue(const Message& message, Decode decode, Encode encode) {
  const auto value = decode(message);
  if (!value) return;
  const std::string once = encode(*value).encode();
  const auto reparsed = Message::decode(once);
  check(reparsed.has_value());
  const auto again = decode(*reparsed);
  check(again.has_value());
  check(encode(*again).encode() == once);
}

void tryValues(const Message& message) {
  tryValue(message, decodeRequest, encodeRequest);
  tryValue(message, decodeConfiguration, encodeConfiguration);
  tryValue(message, decodeError, encodeError);
  tryValue(message, decodeResponse, encodeResponse);
  tryValue(message, decodeMetrics, encodeMetrics);
  tryValue(message, decodeChallenge, encodeChallenge);
  // A credential read back from its own fields reads the same.
  std::optional<URLCredential> credential;
  if (readCredential(message, credential) && credential) {
    Message again;
    addCredential(again, *credential);
    std::optional<URLCredential> reread;
    check(readCredential(again, reread) && reread && reread->user() == credential->user() &&
          reread->password() == credential->password() && reread->persistence() == credential->persistence());
  }
}

void exercise(const Message& message) {
  tryValues(message);
  for (const auto& field : message.fields()) {
    const auto* bytes = std::get_if<std::string>(&field.value);
    if (bytes == nullptr) continue;
    if (const auto nested = Message::decode(*bytes)) tryValues(*nested);
  }
  // The accessors over every tag present.
  for (const auto& field : message.fields()) {
    (void)message.integer(field.tag);
    (void)message.real(field.tag);
    (void)message.bytes(field.tag);
    (void)message.allBytes(field.tag);
    (void)message.nested(field.tag);
  }
}

void decodePayload(std::string_view payload) {
  const auto message = Message::decode(payload);
  if (!message) return;
  check(message->encode() == payload);
  exercise(*message);
}

// Feeds stream to a reader in the given pieces; the messages it yields, re-encoded, and whether
// the stream stayed healthy.
std::vector<std::string> readAll(const std::vector<std::string_view>& pieces, bool& healthy) {
  FrameReader reader;
  std::vector<std::string> out;
  healthy = true;
  for (const auto piece : pieces) {
    if (!reader.feed(piece)) {
      healthy = false;
      break;
    }
  }
  while (auto message = reader.next()) out.push_back(message->encode());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t split = stream.empty() ? 0 : data[0] % (stream.size() + 1);

  bool wholeHealthy = false, splitHealthy = false, bytewiseHealthy = false;
  const auto whole = readAll({stream}, wholeHealthy);
  const auto pieces = readAll({stream.substr(0, split), stream.substr(split)}, splitHealthy);
  std::vector<std::string_view> bytes;
  if (stream.size() <= 4096) {
    for (std::size_t i = 0; i < stream.size(); ++i) bytes.push_back(stream.substr(i, 1));
    const auto bytewise = readAll(bytes, bytewiseHealthy);
    check(bytewise == whole && bytewiseHealthy == wholeHealthy);
  }
  check(pieces == whole && splitHealthy == wholeHealthy);
  for (const auto& payload : whole) decodePayload(payload);

  decodePayload(stream);
  if (stream.size() >= 4) decodePayload(stream.substr(4));
  return 0;
}

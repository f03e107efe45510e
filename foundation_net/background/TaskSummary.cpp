#include "background/Protocol.hpp"

namespace foundation::background {

using namespace wire;

Message encodeTaskSummary(const TaskSummary& s) {
  Message m(Type::reply);
  m.add(tag::taskId, static_cast<std::int64_t>(s.taskId))
      .add(tag::taskKind, static_cast<std::int64_t>(s.kind))
      .add(tag::taskState, static_cast<std::int64_t>(s.state))
      .add(tag::description, s.description)
      .add(tag::bytes, s.bytesReceived)
      .add(tag::expectedBytes, s.bytesExpected)
      .add(tag::bytesSent, s.bytesSent)
      .add(tag::bytesExpectedToSend, s.bytesExpectedToSend)
      .add(tag::priority, s.priority)
      .add(tag::expectsToSend, s.expectsToSend)
      .add(tag::expectsToReceive, s.expectsToReceive);
  if (s.originalRequest) m.add(tag::originalRequest, encodeRequest(*s.originalRequest));
  if (s.currentRequest) m.add(tag::request, encodeRequest(*s.currentRequest));
  if (s.response) m.add(tag::response, encodeResponse(*s.response));
  if (s.earliestBegin) m.add(tag::earliestBegin, *s.earliestBegin);
  return m;
}

std::optional<TaskSummary> decodeTaskSummary(const Message& m) {
  TaskSummary s;
  auto id = m.integer(tag::taskId);
  auto kind = m.integer(tag::taskKind);
  auto state = m.integer(tag::taskState);
  if (!id || !kind || !state || *kind < 0 || *kind > 2 || *state < 0 || *state > 3) return std::nullopt;
  s.taskId = static_cast<std::uint64_t>(*id);
  s.kind = static_cast<int>(*kind);
  s.state = static_cast<int>(*state);
  s.description = m.bytes(tag::description).value_or("");
  s.bytesReceived = m.integer(tag::bytes).value_or(0);
  s.bytesExpected = m.integer(tag::expectedBytes).value_or(-1);
  s.bytesSent = m.integer(tag::bytesSent).value_or(0);
  s.bytesExpectedToSend = m.integer(tag::bytesExpectedToSend).value_or(0);
  s.priority = m.real(tag::priority).value_or(0.5);
  s.expectsToSend = m.integer(tag::expectsToSend).value_or(-1);
  s.expectsToReceive = m.integer(tag::expectsToReceive).value_or(-1);
  s.earliestBegin = m.integer(tag::earliestBegin);
  if (auto r = m.nested(tag::originalRequest)) s.originalRequest = decodeRequest(*r);
  if (auto r = m.nested(tag::request)) s.currentRequest = decodeRequest(*r);
  if (auto r = m.nested(tag::response)) s.response = decodeResponse(*r);
  return s;
}

}  // namespace foundation::background

// Unit tests of the urlsessiond wire codec: messages, frames, FrameReader and the value payloads.
#include <doctest/doctest.h>

#include <foundation_net/HTTPCookieStorage.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "background/Wire.hpp"

using namespace foundation;
using namespace foundation::wire;

namespace {

// The tag numbers Wire.cpp documents; pinned here because they are the protocol.
namespace request_tag {
constexpr std::uint16_t url = 1, method = 2, body = 3, timeout = 4, explicitTimeout = 5, cachePolicy = 6,
                        serviceType = 7, handlesCookies = 8, usesPipelining = 9, mainDocumentURL = 13,
                        header = 14, http3 = 15;
}
namespace configuration_tag {
constexpr std::uint16_t identifier = 1, ephemeral = 2, requestTimeout = 3, maximumConnections = 5,
                        additionalHeader = 6, proxyEntry = 7, cachePolicy = 16, cookieFile = 19;
}
namespace error_tag {
constexpr std::uint16_t domain = 1, code = 2, description = 3, failingURL = 4, resumeData = 5,
                        cancelledReason = 6;
}
namespace response_tag {
constexpr std::uint16_t url = 1, statusCode = 2, httpVersion = 3, header = 4;
}
namespace metrics_tag {
constexpr std::uint16_t intervalStart = 1, intervalDuration = 2, redirectCount = 3, transaction = 4;
}
namespace transaction_tag {
constexpr std::uint16_t request = 1, response = 2, fetchStartDate = 3, responseEndDate = 13, protocolName = 14,
                        reused = 15, fetchType = 17, remotePort = 19, requestHeaderBytes = 20,
                        responseBodyBytes = 23;
}

std::string le16(std::uint16_t v) { return {static_cast<char>(v & 0xff), static_cast<char>(v >> 8)}; }
std::string le32(std::uint32_t v) {
  std::string out;
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}
std::string le64(std::uint64_t v) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}
std::string header(std::uint16_t type, std::uint16_t count, std::uint16_t version = protocolVersion) {
  return le16(version) + le16(type) + le16(count);
}

// A copy of message without any field of the given tag.
Message without(const Message& message, std::uint16_t tag) {
  Message copy(message.type());
  for (const auto& field : message.fields()) {
    if (field.tag == tag) continue;
    std::visit([&](const auto& value) {
      using T = std::decay_t<decltype(value)>;
      if constexpr (std::is_same_v<T, std::string>) copy.add(field.tag, std::string_view(value));
      else copy.add(field.tag, value);
    }, field.value);
  }
  return copy;
}

template <class T>
Message replaced(const Message& message, std::uint16_t tag, T value) {
  Message copy = without(message, tag);
  copy.add(tag, value);
  return copy;
}

// The "name\0value" entries of a value payload, in order.
std::vector<std::string> entries(const Message& message, std::uint16_t tag) { return message.allBytes(tag); }

std::string entry(std::string_view name, std::string_view value) {
  std::string out(name);
  out.push_back('\0');
  out += value;
  return out;
}

void checkTruncationsFail(const Message& message) {
  const std::string payload = message.encode();
  REQUIRE(Message::decode(payload).has_value());
  for (std::size_t length = 0; length < payload.size(); ++length) {
    CAPTURE(length);
    CHECK_FALSE(Message::decode(std::string_view(payload).substr(0, length)).has_value());
  }
}

URLRequest fullRequest() {
  URLRequest request(URL("https://user:pw@example.com:8443/a/b%20c?q=1&r=2#frag"),
                     URLRequest::CachePolicy::reloadRevalidatingCacheData, 12.5);
  request.mainDocumentURL = URL("https://example.com/index.html");
  request.httpMethod = "PATCH";
  request.httpBody = Data(std::string_view("body\0with\xff" "binary", 16));
  request.networkServiceType = URLRequest::NetworkServiceType::callSignaling;
  request.httpShouldHandleCookies = false;
  request.httpShouldUsePipelining = true;
  request.allowsCellularAccess = false;
  request.allowsExpensiveNetworkAccess = false;
  request.allowsConstrainedNetworkAccess = false;
  request.assumesHTTP3Capable = true;
  request.setValue("zeta", "Z-Last-Alphabetically");
  request.setValue("application/json", "Content-Type");
  request.addValue("a", "Accept");
  request.addValue("b", "Accept");
  request.setValue("", "X-Empty");
  request.setValue(std::string("one\0two", 7), "X-Binary");
  return request;
}

void checkSameRequest(const URLRequest& a, const URLRequest& b) {
  CHECK(a == b);
  CHECK(a.url == b.url);
  CHECK(a.mainDocumentURL == b.mainDocumentURL);
  CHECK(a.httpMethod == b.httpMethod);
  CHECK(a.httpBody == b.httpBody);
  CHECK(std::bit_cast<std::uint64_t>(a.timeoutInterval) == std::bit_cast<std::uint64_t>(b.timeoutInterval));
  CHECK(a.hasExplicitTimeout() == b.hasExplicitTimeout());
  CHECK(a.cachePolicy == b.cachePolicy);
  CHECK(a.networkServiceType == b.networkServiceType);
  CHECK(a.httpShouldHandleCookies == b.httpShouldHandleCookies);
  CHECK(a.httpShouldUsePipelining == b.httpShouldUsePipelining);
  CHECK(a.allowsCellularAccess == b.allowsCellularAccess);
  CHECK(a.allowsExpensiveNetworkAccess == b.allowsExpensiveNetworkAccess);
  CHECK(a.allowsConstrainedNetworkAccess == b.allowsConstrainedNetworkAccess);
  CHECK(a.assumesHTTP3Capable == b.assumesHTTP3Capable);
  CHECK(a.allHTTPHeaderFields() == b.allHTTPHeaderFields());
  // The encodings hold the headers in the requests' own order.
  CHECK(entries(encodeRequest(a), request_tag::header) == entries(encodeRequest(b), request_tag::header));
  CHECK(encodeRequest(a).encode() == encodeRequest(b).encode());
}

URLRequest roundTrip(const URLRequest& request) {
  const auto decoded = Message::decode(encodeRequest(request).encode());
  REQUIRE(decoded.has_value());
  auto back = decodeRequest(*decoded);
  REQUIRE(back.has_value());
  return *back;
}

URLSessionConfiguration fullConfiguration(URLSessionConfiguration configuration) {
  configuration.timeoutIntervalForRequest = 7.25;
  configuration.timeoutIntervalForResource = 3600.5;
  configuration.httpMaximumConnectionsPerHost = 17;
  configuration.httpAdditionalHeaders = {{"User-Agent", "test/1.0"}, {"X-Token", "abc"}, {"X-Empty", ""}};
  configuration.connectionProxyDictionary = {{"HTTPEnable", "1"}, {"HTTPProxy", "proxy.local"}, {"HTTPPort", "3128"}};
  configuration.isDiscretionary = true;
  configuration.sessionSendsLaunchEvents = false;
  configuration.waitsForConnectivity = true;
  configuration.allowsCellularAccess = false;
  configuration.allowsExpensiveNetworkAccess = false;
  configuration.allowsConstrainedNetworkAccess = false;
  configuration.httpShouldSetCookies = false;
  configuration.httpCookieAcceptPolicy = HTTPCookie::AcceptPolicy::never;
  configuration.httpShouldUsePipelining = true;
  configuration.requestCachePolicy = URLRequest::CachePolicy::returnCacheDataDontLoad;
  configuration.protocolClasses.push_back(URLProtocolClass{});  // not carried
  return configuration;
}

void checkSameConfiguration(const URLSessionConfiguration& a, const URLSessionConfiguration& b) {
  CHECK(a.identifier() == b.identifier());
  CHECK(a.isEphemeral() == b.isEphemeral());
  CHECK(a.timeoutIntervalForRequest == b.timeoutIntervalForRequest);
  CHECK(a.timeoutIntervalForResource == b.timeoutIntervalForResource);
  CHECK(a.httpMaximumConnectionsPerHost == b.httpMaximumConnectionsPerHost);
  CHECK(a.httpAdditionalHeaders == b.httpAdditionalHeaders);
  CHECK(a.connectionProxyDictionary == b.connectionProxyDictionary);
  CHECK(a.isDiscretionary == b.isDiscretionary);
  CHECK(a.sessionSendsLaunchEvents == b.sessionSendsLaunchEvents);
  CHECK(a.waitsForConnectivity == b.waitsForConnectivity);
  CHECK(a.allowsCellularAccess == b.allowsCellularAccess);
  CHECK(a.allowsExpensiveNetworkAccess == b.allowsExpensiveNetworkAccess);
  CHECK(a.allowsConstrainedNetworkAccess == b.allowsConstrainedNetworkAccess);
  CHECK(a.httpShouldSetCookies == b.httpShouldSetCookies);
  CHECK(a.httpCookieAcceptPolicy == b.httpCookieAcceptPolicy);
  CHECK(a.httpShouldUsePipelining == b.httpShouldUsePipelining);
  CHECK(a.requestCachePolicy == b.requestCachePolicy);
}

URLSessionConfiguration roundTrip(const URLSessionConfiguration& configuration) {
  const auto decoded = Message::decode(encodeConfiguration(configuration).encode());
  REQUIRE(decoded.has_value());
  auto back = decodeConfiguration(*decoded);
  REQUIRE(back.has_value());
  return *back;
}

Error roundTrip(const Error& error) {
  const auto decoded = Message::decode(encodeError(error).encode());
  REQUIRE(decoded.has_value());
  auto back = decodeError(*decoded);
  REQUIRE(back.has_value());
  return *back;
}

void checkSameError(const Error& a, const Error& b) {
  CHECK(a.domain == b.domain);
  CHECK(a.code == b.code);
  CHECK(a.localizedDescription == b.localizedDescription);
  CHECK(a.localizedFailureReason == b.localizedFailureReason);
  CHECK(a.failingURL == b.failingURL);
  CHECK(a.resumeData == b.resumeData);
  CHECK(a.backgroundTaskCancelledReason == b.backgroundTaskCancelledReason);
}

HTTPURLResponse roundTrip(const HTTPURLResponse& response) {
  const auto decoded = Message::decode(encodeResponse(response).encode());
  REQUIRE(decoded.has_value());
  auto back = decodeResponse(*decoded);
  REQUIRE(back.has_value());
  return *back;
}

void checkSameResponse(const HTTPURLResponse& a, const HTTPURLResponse& b) {
  CHECK(a.url() == b.url());
  CHECK(a.statusCode() == b.statusCode());
  CHECK(a.httpVersion() == b.httpVersion());
  CHECK(a.allHeaderFields() == b.allHeaderFields());
  CHECK(a.mimeType() == b.mimeType());
  CHECK(a.textEncodingName() == b.textEncodingName());
  CHECK(a.expectedContentLength() == b.expectedContentLength());
  CHECK(entries(encodeResponse(a), response_tag::header) == entries(encodeResponse(b), response_tag::header));
}

Message sampleMessage(std::int64_t serial) {
  Message message(Type::event);
  message.add(1, serial).add(2, std::string_view("payload")).add(3, 0.5);
  return message;
}

// Every frame the reader produced, in order, as encoded payloads.
std::vector<std::string> drain(FrameReader& reader) {
  std::vector<std::string> out;
  while (auto message = reader.next()) out.push_back(message->encode());
  return out;
}

}  // namespace

// ---- Message ----------------------------------------------------------------------------------

TEST_CASE("wire: the payload layout is little-endian as documented") {
  Message message(Type::createTask);
  message.add(0x0102, std::int64_t{0x0807060504030201}).add(7, std::string_view("ab")).add(9, 1.0);
  const std::string expected = header(2, 3) + le16(0x0102) + '\0' + le64(0x0807060504030201) + le16(7) +
                               '\x01' + le32(2) + "ab" + le16(9) + '\x02' + le64(0x3ff0000000000000);
  CHECK(message.encode() == expected);
  CHECK(frame(message) == le32(static_cast<std::uint32_t>(expected.size())) + expected);
}

TEST_CASE("wire: every kind round-trips, including extreme values") {
  const std::vector<std::int64_t> integers = {0, 1, -1, std::numeric_limits<std::int64_t>::min(),
                                              std::numeric_limits<std::int64_t>::max(), 0x1234567890};
  const std::vector<double> reals = {0.0, -0.0, 1.5, -1e300, std::numeric_limits<double>::infinity(),
                                     -std::numeric_limits<double>::infinity(),
                                     std::numeric_limits<double>::denorm_min(),
                                     std::numeric_limits<double>::quiet_NaN()};
  const std::vector<std::string> blobs = {"", std::string("\0\0\0", 3), "text", std::string(70000, '\xfe')};
  Message inner(Type::reply);
  inner.add(1, std::string_view("inside"));
  Message message(Type::attached);
  for (const auto value : integers) message.add(10, value);
  for (const auto value : reals) message.add(20, value);
  for (const auto& value : blobs) message.add(30, std::string_view(value));
  message.add(40, inner);

  const auto decoded = Message::decode(message.encode());
  REQUIRE(decoded.has_value());
  CHECK(decoded->type() == Type::attached);
  REQUIRE(decoded->fields().size() == message.fields().size());
  std::size_t i = 0;
  for (const auto value : integers) CHECK(std::get<std::int64_t>(decoded->fields()[i++].value) == value);
  for (const auto value : reals) {
    CHECK(std::bit_cast<std::uint64_t>(std::get<double>(decoded->fields()[i++].value)) ==
          std::bit_cast<std::uint64_t>(value));
  }
  CHECK(decoded->allBytes(30) == blobs);
  CHECK(decoded->integer(10) == 0);
  CHECK(decoded->real(20) == 0.0);
  CHECK(decoded->bytes(30) == "");
  const auto nested = decoded->nested(40);
  REQUIRE(nested.has_value());
  CHECK(nested->type() == Type::reply);
  CHECK(nested->bytes(1) == "inside");
  CHECK(decoded->encode() == message.encode());
}

TEST_CASE("wire: an empty message round-trips") {
  const auto decoded = Message::decode(Message(Type::status).encode());
  REQUIRE(decoded.has_value());
  CHECK(decoded->type() == Type::status);
  CHECK(decoded->fields().empty());
  CHECK(Message::decode(Message().encode())->type() == Type::reply);
}

TEST_CASE("wire: accessors read the first field with the tag, and only of its kind") {
  Message message;
  message.add(1, std::string_view("text")).add(1, std::int64_t{5}).add(2, std::int64_t{7}).add(3, 2.5);
  message.add(4, std::string_view("not a payload"));
  CHECK_FALSE(message.integer(1).has_value());  // the first tag-1 field holds bytes
  CHECK(message.bytes(1) == "text");
  CHECK(message.allBytes(1) == std::vector<std::string>{"text"});
  CHECK(message.integer(2) == 7);
  CHECK_FALSE(message.real(2).has_value());
  CHECK_FALSE(message.bytes(2).has_value());
  CHECK(message.real(3) == 2.5);
  CHECK_FALSE(message.nested(2).has_value());
  CHECK_FALSE(message.nested(4).has_value());
  CHECK_FALSE(message.nested(99).has_value());
  CHECK_FALSE(message.integer(99).has_value());
  CHECK(message.allBytes(99).empty());
}

TEST_CASE("wire: decode rejects malformed payloads") {
  const std::string good = sampleMessage(1).encode();
  REQUIRE(Message::decode(good).has_value());

  SUBCASE("shorter than the header") {
    CHECK_FALSE(Message::decode("").has_value());
    CHECK_FALSE(Message::decode(header(101, 0).substr(0, 5)).has_value());
    CHECK(Message::decode(header(101, 0)).has_value());
  }
  SUBCASE("another version") {
    CHECK_FALSE(Message::decode(header(101, 0, 0)).has_value());
    CHECK_FALSE(Message::decode(header(101, 0, 2)).has_value());
    std::string other = good;
    other[0] = 2;
    CHECK_FALSE(Message::decode(other).has_value());
  }
  SUBCASE("more fields declared than present") {
    CHECK_FALSE(Message::decode(header(101, 1)).has_value());
    CHECK_FALSE(Message::decode(header(101, 1) + le16(1)).has_value());
    CHECK_FALSE(Message::decode(header(101, 1) + le16(1) + '\0' + "1234567").has_value());
    CHECK_FALSE(Message::decode(header(101, 65535) + le16(1) + '\0' + le64(1)).has_value());
  }
  SUBCASE("a bytes length running past the end") {
    CHECK_FALSE(Message::decode(header(101, 1) + le16(1) + '\x01' + le32(4) + "abc").has_value());
    CHECK_FALSE(Message::decode(header(101, 1) + le16(1) + '\x01' + le32(0xffffffff) + "abc").has_value());
    CHECK_FALSE(Message::decode(header(101, 1) + le16(1) + '\x01' + "\x01\x00").has_value());
    CHECK(Message::decode(header(101, 1) + le16(1) + '\x01' + le32(3) + "abc").has_value());
  }
  SUBCASE("an unknown kind") {
    for (const char kind : {'\x03', '\x7f', '\xff'}) {
      CHECK_FALSE(Message::decode(header(101, 1) + le16(1) + kind + le64(0)).has_value());
    }
  }
  SUBCASE("trailing bytes") {
    CHECK_FALSE(Message::decode(good + '\0').has_value());
    CHECK_FALSE(Message::decode(header(101, 0) + "x").has_value());
  }
  SUBCASE("above maximumPayload") {
    std::string huge = header(101, 1) + le16(1) + '\x01' + le32(static_cast<std::uint32_t>(maximumPayload - 12));
    huge.resize(maximumPayload + 1, 'x');
    CHECK_FALSE(Message::decode(huge).has_value());
    // At exactly the maximum a well-formed payload is fine.
    std::string largest = header(101, 1) + le16(1) + '\x01' + le32(static_cast<std::uint32_t>(maximumPayload - 13));
    largest.resize(maximumPayload, 'y');
    CHECK(Message::decode(largest).has_value());
  }
}

TEST_CASE("wire: unknown message types are left to the receiver") {
  const auto decoded = Message::decode(header(0xbeef, 0));
  REQUIRE(decoded.has_value());
  CHECK(static_cast<std::uint16_t>(decoded->type()) == 0xbeef);
}

TEST_CASE("wire: a message holds at most 65535 fields") {
  Message message;
  for (std::int64_t i = 0; i < 65535; ++i) message.add(static_cast<std::uint16_t>(i), i);
  CHECK_THROWS_AS(message.add(1, std::int64_t{1}), std::length_error);
  CHECK_THROWS_AS(message.add(1, std::string_view("x")), std::length_error);
  CHECK_THROWS_AS(message.add(1, 1.0), std::length_error);
  const auto decoded = Message::decode(message.encode());
  REQUIRE(decoded.has_value());
  CHECK(decoded->fields().size() == 65535);
  CHECK(decoded->integer(65534) == 65534);
}

TEST_CASE("wire: encode refuses a payload the peer would reject") {
  Message message;
  message.add(1, std::string_view(std::string(maximumPayload - 6 - 7, 'a')));
  CHECK(message.encode().size() == maximumPayload);
  message.add(2, std::int64_t{0});
  CHECK_THROWS_AS(message.encode(), std::length_error);
  CHECK_THROWS_AS(frame(message), std::length_error);
  CHECK_THROWS_AS(Message().add(1, std::string_view(std::string(maximumPayload + 1, 'a'))), std::length_error);
}

TEST_CASE("wire: truncated payloads never decode") {
  checkTruncationsFail(sampleMessage(42));
  checkTruncationsFail(encodeRequest(fullRequest()));
  checkTruncationsFail(encodeConfiguration(fullConfiguration(URLSessionConfiguration::background("id"))));
  Error error = Error::url(URLError::timedOut, URL("http://example.com/"));
  error.resumeData = Data("resume");
  error.backgroundTaskCancelledReason = 2;
  checkTruncationsFail(encodeError(error));
  checkTruncationsFail(encodeResponse(HTTPURLResponse(URL("http://example.com/"), 200, "HTTP/1.1",
                                                      {{"Content-Type", "text/plain"}})));
  Message outer(Type::createTask);
  outer.add(1, std::int64_t{7}).add(2, encodeRequest(fullRequest())).add(3, 1.0);
  checkTruncationsFail(outer);
}

// ---- FrameReader ------------------------------------------------------------------------------

TEST_CASE("FrameReader: two frames split at every byte offset") {
  const std::string first = frame(sampleMessage(1));
  Message second(Type::reply);
  second.add(9, encodeError(Error::url(URLError::cancelled)));
  const std::string stream = first + frame(second);
  const std::vector<std::string> expected = {sampleMessage(1).encode(), second.encode()};

  for (std::size_t split = 0; split <= stream.size(); ++split) {
    CAPTURE(split);
    FrameReader reader;
    CHECK(reader.feed(std::string_view(stream).substr(0, split)));
    CHECK(reader.feed(std::string_view(stream).substr(split)));
    CHECK(drain(reader) == expected);
    CHECK_FALSE(reader.next().has_value());
  }
  // Three pieces, cut at every pair of offsets, draining between feeds.
  for (std::size_t a = 0; a <= stream.size(); ++a) {
    for (std::size_t b = a; b <= stream.size(); ++b) {
      FrameReader reader;
      std::vector<std::string> got;
      for (const auto piece : {std::string_view(stream).substr(0, a), std::string_view(stream).substr(a, b - a),
                               std::string_view(stream).substr(b)}) {
        REQUIRE(reader.feed(piece));
        for (auto& payload : drain(reader)) got.push_back(std::move(payload));
      }
      CHECK(got == expected);
    }
  }
  // One byte at a time.
  FrameReader reader;
  for (const char byte : stream) CHECK(reader.feed(std::string_view(&byte, 1)));
  CHECK(drain(reader) == expected);
}

TEST_CASE("FrameReader: many frames in one feed, and leftovers across feeds") {
  std::string stream;
  std::vector<std::string> expected;
  for (std::int64_t i = 0; i < 5000; ++i) {
    stream += frame(sampleMessage(i));
    expected.push_back(sampleMessage(i).encode());
  }
  FrameReader reader;
  CHECK(reader.feed(stream));
  CHECK(drain(reader) == expected);

  // Feeds of an awkward size, reading only some messages between feeds.
  FrameReader chunked;
  std::vector<std::string> got;
  for (std::size_t at = 0; at < stream.size(); at += 997) {
    REQUIRE(chunked.feed(std::string_view(stream).substr(at, 997)));
    if (auto message = chunked.next()) got.push_back(message->encode());
  }
  for (auto& payload : drain(chunked)) got.push_back(std::move(payload));
  CHECK(got == expected);
}

TEST_CASE("FrameReader: a large frame arriving in pieces") {
  Message big;
  big.add(1, std::string_view(std::string(3u << 20, 'z')));
  const std::string stream = frame(big) + frame(sampleMessage(5));
  FrameReader reader;
  for (std::size_t at = 0; at < stream.size(); at += 65536) {
    REQUIRE(reader.feed(std::string_view(stream).substr(at, 65536)));
  }
  const auto first = reader.next();
  REQUIRE(first.has_value());
  CHECK(first->bytes(1)->size() == 3u << 20);
  CHECK(reader.next()->integer(1) == 5);
}

TEST_CASE("FrameReader: an oversized declared length is rejected at once") {
  SUBCASE("alone") {
    FrameReader reader;
    CHECK_FALSE(reader.feed(le32(static_cast<std::uint32_t>(maximumPayload + 1))));
  }
  SUBCASE("the length header split over feeds") {
    const std::string length = le32(0xffffffff);
    FrameReader reader;
    CHECK(reader.feed(length.substr(0, 1)));
    CHECK(reader.feed(length.substr(1, 2)));
    CHECK_FALSE(reader.feed(length.substr(3)));
  }
  SUBCASE("after good frames, which stay readable, and the stream stays broken") {
    FrameReader reader;
    CHECK_FALSE(reader.feed(frame(sampleMessage(1)) + le32(0x80000000) + "more"));
    CHECK(reader.next()->integer(1) == 1);
    CHECK_FALSE(reader.feed(frame(sampleMessage(2))));
    CHECK_FALSE(reader.next().has_value());
  }
  SUBCASE("the maximum itself is only buffered") {
    FrameReader reader;
    CHECK(reader.feed(le32(static_cast<std::uint32_t>(maximumPayload)) + "partial"));
    CHECK_FALSE(reader.next().has_value());
  }
}

TEST_CASE("FrameReader: a garbage payload breaks the stream") {
  const std::vector<std::string> garbage = {
      "",                                     // shorter than a message header
      header(101, 0, 9),                      // another version
      header(101, 1) + le16(1) + '\x05' + le64(0),  // unknown kind
      header(101, 0) + "trailing",
      "\xde\xad\xbe\xef\x00\x01\x02\x03\x04\x05\x06\x07",
  };
  for (const auto& payload : garbage) {
    CAPTURE(payload);
    FrameReader reader;
    const std::string stream = le32(static_cast<std::uint32_t>(payload.size())) + payload;
    CHECK_FALSE(reader.feed(stream));
    CHECK_FALSE(reader.next().has_value());
    CHECK_FALSE(reader.feed(frame(sampleMessage(1))));

    // Also when the bad frame completes in a later feed.
    FrameReader split;
    CHECK(split.feed(std::string_view(stream).substr(0, stream.size() - 1)));
    CHECK_FALSE(split.feed(std::string_view(stream).substr(stream.size() - 1)));
  }
}

TEST_CASE("FrameReader: truncated frames wait for more") {
  const std::string stream = frame(encodeRequest(fullRequest()));
  for (std::size_t length = 0; length < stream.size(); ++length) {
    FrameReader reader;
    CHECK(reader.feed(std::string_view(stream).substr(0, length)));
    CHECK_FALSE(reader.next().has_value());
  }
}

// ---- URLRequest -------------------------------------------------------------------------------

TEST_CASE("wire: URLRequest with every field set round-trips") {
  const URLRequest request = fullRequest();
  const URLRequest back = roundTrip(request);
  checkSameRequest(request, back);
  CHECK(back.hasExplicitTimeout());
  CHECK(back.value("accept") == "a,b");
  CHECK(entries(encodeRequest(back), request_tag::header) ==
        std::vector<std::string>{entry("Z-Last-Alphabetically", "zeta"), entry("Content-Type", "application/json"),
                                 entry("Accept", "a,b"), entry("X-Empty", ""),
                                 entry("X-Binary", std::string_view("one\0two", 7))});
}

TEST_CASE("wire: a minimal URLRequest round-trips") {
  const URLRequest request(URL("http://example.com/"));
  const URLRequest back = roundTrip(request);
  checkSameRequest(request, back);
  CHECK_FALSE(back.hasExplicitTimeout());
  CHECK_FALSE(back.httpBody.has_value());
  CHECK_FALSE(back.mainDocumentURL.has_value());
  CHECK(back.allHTTPHeaderFields().empty());
}

TEST_CASE("wire: URLRequest variants round-trip") {
  SUBCASE("without a url") {
    URLRequest request(URL("http://example.com/"));
    request.url.reset();
    const URLRequest back = roundTrip(request);
    checkSameRequest(request, back);
    CHECK_FALSE(back.url.has_value());
  }
  SUBCASE("an explicit timeout equal to the default") {
    URLRequest request(URL("http://example.com/"));
    request.setTimeoutInterval(60);
    const URLRequest back = roundTrip(request);
    CHECK(back.hasExplicitTimeout());
    checkSameRequest(request, back);
  }
  SUBCASE("an empty body differs from no body") {
    URLRequest request(URL("http://example.com/"));
    request.httpBody = Data();
    const URLRequest back = roundTrip(request);
    REQUIRE(back.httpBody.has_value());
    CHECK(back.httpBody->empty());
  }
  SUBCASE("URLs without an authority and every enum value") {
    for (const auto type : {URLRequest::NetworkServiceType::defaultType, URLRequest::NetworkServiceType::voip,
                            URLRequest::NetworkServiceType::video, URLRequest::NetworkServiceType::background,
                            URLRequest::NetworkServiceType::voice, URLRequest::NetworkServiceType::responsiveData,
                            URLRequest::NetworkServiceType::avStreaming, URLRequest::NetworkServiceType::responsiveAV,
                            URLRequest::NetworkServiceType::callSignaling}) {
      for (int policy = 0; policy <= 5; ++policy) {
        URLRequest request(URL("data:,hello"), static_cast<URLRequest::CachePolicy>(policy));
        request.networkServiceType = type;
        request.mainDocumentURL = URL("mailto:someone@example.com");
        checkSameRequest(request, roundTrip(request));
      }
    }
  }
}

TEST_CASE("wire: invalid URLRequest payloads do not decode") {
  const Message good = encodeRequest(fullRequest());
  REQUIRE(decodeRequest(good).has_value());
  CHECK_FALSE(decodeRequest(replaced(good, request_tag::url, std::string_view("not a url"))).has_value());
  CHECK_FALSE(decodeRequest(replaced(good, request_tag::url, std::int64_t{1})).has_value());
  CHECK_FALSE(decodeRequest(replaced(good, request_tag::mainDocumentURL, std::string_view("/relative"))).has_value());
  CHECK_FALSE(decodeRequest(replaced(good, request_tag::body, 1.0)).has_value());
  CHECK_FALSE(decodeRequest(replaced(good, request_tag::cachePolicy, std::int64_t{6})).has_value());
  CHECK_FALSE(decodeRequest(replaced(good, request_tag::cachePolicy, std::int64_t{-1})).has_value());
  for (const std::int64_t bad : {std::int64_t{5}, std::int64_t{7}, std::int64_t{10}, std::int64_t{12}, std::int64_t{-1}, std::numeric_limits<std::int64_t>::min()}) {
    CHECK_FALSE(decodeRequest(replaced(good, request_tag::serviceType, bad)).has_value());
  }
  CHECK_FALSE(decodeRequest(replaced(good, request_tag::handlesCookies, std::int64_t{2})).has_value());
  CHECK_FALSE(decodeRequest(replaced(good, request_tag::explicitTimeout, std::int64_t{-1})).has_value());
  CHECK_FALSE(decodeRequest(replaced(good, request_tag::timeout, std::int64_t{60})).has_value());
  CHECK_FALSE(decodeRequest(replaced(good, request_tag::header, std::string_view("no separator"))).has_value());
  Message duplicate = good;
  duplicate.add(request_tag::header, entry("content-type", "text/plain"));
  CHECK_FALSE(decodeRequest(duplicate).has_value());
  for (const std::uint16_t tag : {request_tag::method, request_tag::timeout, request_tag::explicitTimeout,
                                  request_tag::cachePolicy, request_tag::serviceType, request_tag::usesPipelining,
                                  request_tag::http3}) {
    CAPTURE(tag);
    CHECK_FALSE(decodeRequest(without(good, tag)).has_value());
  }
  CHECK_FALSE(decodeRequest(Message()).has_value());
  // Optional parts may be missing.
  CHECK(decodeRequest(without(good, request_tag::body)).has_value());
  CHECK(decodeRequest(without(good, request_tag::header)).has_value());
}

TEST_CASE("wire: requests and responses carry at most 1024 header fields") {
  URLRequest request(URL("http://example.com/"));
  std::vector<std::pair<std::string, std::string>> fields;
  for (int i = 0; i < 1024; ++i) {
    request.setValue("v", "X-Field-" + std::to_string(i));
    fields.emplace_back("X-Field-" + std::to_string(i), "v");
  }
  const HTTPURLResponse response(URL("http://example.com/"), 200, "HTTP/1.1", fields);
  CHECK(roundTrip(request).allHTTPHeaderFields().size() == 1024);
  CHECK(roundTrip(response).allHeaderFields().size() == 1024);

  Message oneMoreRequest = encodeRequest(request);
  oneMoreRequest.add(request_tag::header, entry("X-One-More", "v"));
  CHECK_FALSE(decodeRequest(oneMoreRequest).has_value());
  Message oneMoreResponse = encodeResponse(response);
  oneMoreResponse.add(response_tag::header, entry("X-One-More", "v"));
  CHECK_FALSE(decodeResponse(oneMoreResponse).has_value());
}

// ---- URLSessionConfiguration ------------------------------------------------------------------

TEST_CASE("wire: configurations round-trip") {
  SUBCASE("default, untouched") {
    const auto configuration = URLSessionConfiguration::defaultConfiguration();
    checkSameConfiguration(configuration, roundTrip(configuration));
  }
  SUBCASE("ephemeral, untouched") {
    const auto back = roundTrip(URLSessionConfiguration::ephemeral());
    CHECK(back.isEphemeral());
    checkSameConfiguration(URLSessionConfiguration::ephemeral(), back);
  }
  SUBCASE("background with every field set") {
    const auto configuration = fullConfiguration(URLSessionConfiguration::background("com.example.app.bg"));
    const auto back = roundTrip(configuration);
    CHECK(back.identifier() == "com.example.app.bg");
    CHECK_FALSE(back.isEphemeral());
    CHECK(back.protocolClasses.empty());
    checkSameConfiguration(configuration, back);
  }
  SUBCASE("default and ephemeral with every field set") {
    for (const auto& base : {URLSessionConfiguration::defaultConfiguration(), URLSessionConfiguration::ephemeral()}) {
      const auto configuration = fullConfiguration(base);
      checkSameConfiguration(configuration, roundTrip(configuration));
    }
  }
}

TEST_CASE("wire: a configuration names its cookie storage's file, and only a storage with one") {
  auto configuration = URLSessionConfiguration::ephemeral();
  configuration.httpCookieStorage = std::make_shared<HTTPCookieStorage>("/somewhere/Cookies.db");
  const auto back = roundTrip(configuration);
  REQUIRE(back.httpCookieStorage);
  CHECK(back.httpCookieStorage != configuration.httpCookieStorage);
  CHECK(detail::cookieFileOf(*back.httpCookieStorage) == std::optional<std::string>("/somewhere/Cookies.db"));
  // A memory storage is named by nothing: the decoder's side gets none (not its own shared one).
  CHECK_FALSE(roundTrip(URLSessionConfiguration::ephemeral()).httpCookieStorage);
  const auto shared = roundTrip(URLSessionConfiguration::defaultConfiguration());
  REQUIRE(shared.httpCookieStorage);
  CHECK(detail::cookieFileOf(*shared.httpCookieStorage) == detail::cookieFileOf(*HTTPCookieStorage::shared()));
  CHECK_FALSE(decodeConfiguration(replaced(encodeConfiguration(configuration), configuration_tag::cookieFile,
                                           std::string_view(""))).has_value());
}

TEST_CASE("wire: invalid configuration payloads do not decode") {
  const Message good = encodeConfiguration(fullConfiguration(URLSessionConfiguration::background("bg")));
  REQUIRE(decodeConfiguration(good).has_value());
  CHECK_FALSE(decodeConfiguration(replaced(good, configuration_tag::identifier, std::string_view(""))).has_value());
  CHECK_FALSE(decodeConfiguration(replaced(good, configuration_tag::identifier, std::int64_t{1})).has_value());
  CHECK_FALSE(decodeConfiguration(replaced(good, configuration_tag::ephemeral, std::int64_t{1})).has_value());
  CHECK_FALSE(decodeConfiguration(replaced(good, configuration_tag::cachePolicy, std::int64_t{6})).has_value());
  CHECK_FALSE(decodeConfiguration(
                  replaced(good, configuration_tag::maximumConnections, std::int64_t{1} << 40)).has_value());
  CHECK_FALSE(decodeConfiguration(replaced(good, configuration_tag::requestTimeout, std::string_view("1")))
                  .has_value());
  CHECK_FALSE(decodeConfiguration(replaced(good, configuration_tag::proxyEntry, std::string_view("HTTPEnable")))
                  .has_value());
  Message duplicate = good;
  duplicate.add(configuration_tag::additionalHeader, entry("X-Token", "again"));
  CHECK_FALSE(decodeConfiguration(duplicate).has_value());
  for (std::uint16_t tag = 2; tag <= 16; ++tag) {
    if (tag == configuration_tag::additionalHeader || tag == configuration_tag::proxyEntry) continue;
    CAPTURE(tag);
    CHECK_FALSE(decodeConfiguration(without(good, tag)).has_value());
  }
  const auto notBackground = decodeConfiguration(without(good, configuration_tag::identifier));
  REQUIRE(notBackground.has_value());
  CHECK_FALSE(notBackground->identifier().has_value());
}

// ---- Error ------------------------------------------------------------------------------------

TEST_CASE("wire: errors round-trip") {
  SUBCASE("every field set") {
    Error error = Error::url(URLError::cancelled, URL("https://example.com/big.iso"), "detail");
    error.resumeData = Data(std::string_view("\x00\x01resume", 8));
    error.backgroundTaskCancelledReason = URLError::insufficientSystemResources;
    checkSameError(error, roundTrip(error));
  }
  SUBCASE("minimal") {
    const Error error;
    const Error back = roundTrip(error);
    checkSameError(error, back);
    CHECK_FALSE(back.failingURL.has_value());
    CHECK_FALSE(back.resumeData.has_value());
    CHECK_FALSE(back.backgroundTaskCancelledReason.has_value());
  }
  SUBCASE("extreme codes and a zero reason") {
    Error error{"CustomDomain", std::numeric_limits<int>::min(), "", std::nullopt, Data(), 0, std::nullopt};
    checkSameError(error, roundTrip(error));
    error.code = std::numeric_limits<int>::max();
    checkSameError(error, roundTrip(error));
  }
}

TEST_CASE("wire: invalid error payloads do not decode") {
  Error full = Error::url(URLError::timedOut, URL("http://example.com/"));
  full.resumeData = Data("r");
  full.backgroundTaskCancelledReason = 1;
  const Message good = encodeError(full);
  REQUIRE(decodeError(good).has_value());
  for (const std::uint16_t tag : {error_tag::domain, error_tag::code, error_tag::description}) {
    CHECK_FALSE(decodeError(without(good, tag)).has_value());
  }
  CHECK_FALSE(decodeError(replaced(good, error_tag::code, std::int64_t{1} << 31)).has_value());
  CHECK_FALSE(decodeError(replaced(good, error_tag::cancelledReason, -(std::int64_t{1} << 31) - 1)).has_value());
  CHECK_FALSE(decodeError(replaced(good, error_tag::cancelledReason, std::string_view("1"))).has_value());
  CHECK_FALSE(decodeError(replaced(good, error_tag::failingURL, std::string_view("::"))).has_value());
  CHECK_FALSE(decodeError(replaced(good, error_tag::resumeData, std::int64_t{0})).has_value());
  CHECK(decodeError(without(good, error_tag::failingURL)).has_value());
}

// ---- HTTPURLResponse --------------------------------------------------------------------------

TEST_CASE("wire: responses round-trip") {
  SUBCASE("every field set, headers in arrival order") {
    const HTTPURLResponse response(URL("https://example.com/files/report.pdf?x=1"), 206, "HTTP/2",
                                   {{"Server", "test"},
                                    {"Content-Type", "application/pdf; charset=UTF-8"},
                                    {"Content-Length", "1234"},
                                    {"Set-Cookie", "a=1"},
                                    {"set-cookie", "b=2"},
                                    {"Content-Disposition", "attachment; filename=\"r.pdf\""}});
    const HTTPURLResponse back = roundTrip(response);
    checkSameResponse(response, back);
    CHECK(back.value("Set-Cookie") == "a=1, b=2");
    CHECK(back.suggestedFilename() == "r.pdf");
    CHECK(entries(encodeResponse(back), response_tag::header) ==
          std::vector<std::string>{entry("Server", "test"),
                                   entry("Content-Type", "application/pdf; charset=UTF-8"),
                                   entry("Content-Length", "1234"), entry("Set-Cookie", "a=1, b=2"),
                                   entry("Content-Disposition", "attachment; filename=\"r.pdf\"")});
  }
  SUBCASE("minimal") {
    const HTTPURLResponse response(URL("http://example.com/"), 0, "", {});
    const HTTPURLResponse back = roundTrip(response);
    checkSameResponse(response, back);
    CHECK(back.allHeaderFields().empty());
  }
}

TEST_CASE("wire: invalid response payloads do not decode") {
  const Message good = encodeResponse(HTTPURLResponse(URL("http://example.com/"), 200, "HTTP/1.1", {{"A", "b"}}));
  REQUIRE(decodeResponse(good).has_value());
  for (const std::uint16_t tag : {response_tag::url, response_tag::statusCode, response_tag::httpVersion}) {
    CHECK_FALSE(decodeResponse(without(good, tag)).has_value());
  }
  CHECK_FALSE(decodeResponse(replaced(good, response_tag::url, std::string_view("example.com"))).has_value());
  CHECK_FALSE(decodeResponse(replaced(good, response_tag::statusCode, std::int64_t{1} << 32)).has_value());
  CHECK_FALSE(decodeResponse(replaced(good, response_tag::header, std::string_view("A: b"))).has_value());
  Message duplicate = good;
  duplicate.add(response_tag::header, entry("a", "c"));
  CHECK_FALSE(decodeResponse(duplicate).has_value());
}

// ---- URLSessionTaskMetrics --------------------------------------------------------------------

namespace {

URLSessionTaskTransactionMetrics fullTransaction() {
  URLSessionTaskTransactionMetrics t;
  t.request = URLRequest(URL("https://example.com/a"));
  t.response = std::make_shared<HTTPURLResponse>(URL("https://example.com/a"), 200, "HTTP/1.1",
                                                 std::vector<std::pair<std::string, std::string>>{{"A", "b"}});
  Date at = std::chrono::system_clock::now();
  for (auto* date : {&t.fetchStartDate, &t.domainLookupStartDate, &t.domainLookupEndDate, &t.connectStartDate,
                     &t.secureConnectionStartDate, &t.secureConnectionEndDate, &t.connectEndDate, &t.requestStartDate,
                     &t.requestEndDate, &t.responseStartDate, &t.responseEndDate}) {
    *date = at;
    at += std::chrono::nanoseconds(1);  // exact to the tick
  }
  t.networkProtocolName = "http/1.1";
  t.isReusedConnection = true;
  t.isProxyConnection = true;
  t.resourceFetchType = URLSessionTaskTransactionMetrics::ResourceFetchType::networkLoad;
  t.remoteAddress = "127.0.0.1";
  t.remotePort = 65535;
  t.countOfRequestHeaderBytesSent = 1;
  t.countOfRequestBodyBytesSent = 2;
  t.countOfResponseHeaderBytesReceived = 3;
  t.countOfResponseBodyBytesReceived = std::int64_t{1} << 40;
  return t;
}

}  // namespace

TEST_CASE("wire: metrics round-trip, every transaction field exact") {
  URLSessionTaskMetrics metrics;
  metrics.taskIntervalStart = std::chrono::system_clock::now();
  metrics.taskIntervalDuration = 1.25;
  metrics.redirectCount = 1;
  metrics.transactionMetrics = {fullTransaction(), URLSessionTaskTransactionMetrics{}};
  auto decoded = Message::decode(encodeMetrics(metrics).encode());
  REQUIRE(decoded);
  auto back = decodeMetrics(*decoded);
  REQUIRE(back);
  CHECK(back->taskIntervalStart == metrics.taskIntervalStart);
  CHECK(back->taskIntervalDuration == 1.25);
  CHECK(back->redirectCount == 1);
  REQUIRE(back->transactionMetrics.size() == 2);
  const auto& a = metrics.transactionMetrics[0];
  const auto& b = back->transactionMetrics[0];
  CHECK(b.request->url->absoluteString() == "https://example.com/a");
  REQUIRE(std::dynamic_pointer_cast<const HTTPURLResponse>(b.response));
  CHECK(std::dynamic_pointer_cast<const HTTPURLResponse>(b.response)->statusCode() == 200);
  CHECK(b.fetchStartDate == a.fetchStartDate);
  CHECK(b.secureConnectionEndDate == a.secureConnectionEndDate);
  CHECK(b.responseEndDate == a.responseEndDate);
  CHECK(b.networkProtocolName == "http/1.1");
  CHECK(b.isReusedConnection);
  CHECK(b.isProxyConnection);
  CHECK(b.resourceFetchType == URLSessionTaskTransactionMetrics::ResourceFetchType::networkLoad);
  CHECK(b.remoteAddress == "127.0.0.1");
  CHECK(b.remotePort == 65535);
  CHECK(b.countOfRequestHeaderBytesSent == 1);
  CHECK(b.countOfRequestBodyBytesSent == 2);
  CHECK(b.countOfResponseHeaderBytesReceived == 3);
  CHECK(b.countOfResponseBodyBytesReceived == std::int64_t{1} << 40);
  // The empty transaction stays empty.
  const auto& empty = back->transactionMetrics[1];
  CHECK_FALSE(empty.request);
  CHECK_FALSE(empty.response);
  CHECK_FALSE(empty.fetchStartDate);
  CHECK_FALSE(empty.remotePort);
  CHECK(encodeMetrics(*back).encode() == encodeMetrics(metrics).encode());
}

TEST_CASE("wire: invalid metrics payloads do not decode") {
  URLSessionTaskMetrics metrics;
  metrics.transactionMetrics = {fullTransaction()};
  const Message good = encodeMetrics(metrics);
  REQUIRE(decodeMetrics(good));
  for (const std::uint16_t tag : {metrics_tag::intervalStart, metrics_tag::intervalDuration, metrics_tag::redirectCount})
    CHECK_FALSE(decodeMetrics(without(good, tag)));
  CHECK_FALSE(decodeMetrics(replaced(good, metrics_tag::intervalDuration, -1.0)));
  CHECK_FALSE(decodeMetrics(replaced(good, metrics_tag::redirectCount, std::int64_t{-1})));
  CHECK_FALSE(decodeMetrics(replaced(good, metrics_tag::transaction, std::string_view("garbage"))));
  const auto nested = good.nested(metrics_tag::transaction);
  REQUIRE(nested);
  const Message transaction = *nested;
  auto with = [](const Message& t) {
    Message m = encodeMetrics(URLSessionTaskMetrics{});
    m.add(metrics_tag::transaction, t);
    return m;
  };
  REQUIRE(decodeMetrics(with(transaction)));
  for (const std::uint16_t tag : {transaction_tag::reused, transaction_tag::fetchType, transaction_tag::requestHeaderBytes,
                                  transaction_tag::responseBodyBytes})
    CHECK_FALSE(decodeMetrics(with(without(transaction, tag))));
  CHECK_FALSE(decodeMetrics(with(replaced(transaction, transaction_tag::fetchType, std::int64_t{4}))));
  CHECK_FALSE(decodeMetrics(with(replaced(transaction, transaction_tag::remotePort, std::int64_t{65536}))));
  CHECK_FALSE(decodeMetrics(with(replaced(transaction, transaction_tag::responseBodyBytes, std::int64_t{-1}))));
  CHECK_FALSE(decodeMetrics(with(replaced(transaction, transaction_tag::reused, std::int64_t{2}))));
  CHECK_FALSE(decodeMetrics(with(replaced(transaction, transaction_tag::fetchStartDate, std::string_view("now")))));
  CHECK_FALSE(decodeMetrics(with(replaced(transaction, transaction_tag::protocolName, std::int64_t{1}))));
  CHECK_FALSE(decodeMetrics(with(replaced(transaction, transaction_tag::request, std::string_view("x")))));
  CHECK_FALSE(decodeMetrics(with(replaced(transaction, transaction_tag::response, std::string_view("x")))));
  CHECK(decodeMetrics(with(without(transaction, transaction_tag::responseEndDate))));
}

// ---- Nesting ----------------------------------------------------------------------------------

TEST_CASE("wire: values travel nested in framed messages") {
  Message message(Type::createTask);
  message.add(1, std::int64_t{12}).add(2, encodeRequest(fullRequest()));
  message.add(3, encodeConfiguration(URLSessionConfiguration::background("x")));
  message.add(4, encodeError(Error::url(URLError::timedOut)));
  message.add(5, encodeResponse(HTTPURLResponse(URL("http://a.example/"), 404, "HTTP/1.1", {})));
  FrameReader reader;
  REQUIRE(reader.feed(frame(message)));
  const auto received = reader.next();
  REQUIRE(received.has_value());
  CHECK(received->type() == Type::createTask);
  checkSameRequest(fullRequest(), decodeRequest(*received->nested(2)).value());
  CHECK(decodeConfiguration(*received->nested(3))->identifier() == "x");
  CHECK(decodeError(*received->nested(4))->code == URLError::timedOut);
  CHECK(decodeResponse(*received->nested(5))->statusCode() == 404);
  // A value is not mistaken for another kind of value.
  CHECK_FALSE(decodeRequest(*received->nested(4)).has_value());
  CHECK_FALSE(decodeResponse(*received->nested(3)).has_value());
}

// The urlsessiond wire codec: messages, frames, and the value types as nested payloads.
// Every multi-byte number is written byte by byte in little-endian order, whatever the host.
#include "background/Wire.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <limits>
#include <stdexcept>
#include <unordered_set>
#include <utility>

#include <foundation_net/HTTPCookieStorage.hpp>

#include "background/Protocol.hpp"
#include "model/Text.hpp"

namespace foundation::wire {

namespace {

// ---- Tag numbers of the nested value payloads -------------------------------------------------
// Each value type has its own tag space. Nested payloads carry the default message type
// (Type::reply), which their decoders ignore. Booleans are integers 0 or 1; enums are
// integers holding the enum's value; URLs are their absoluteString; header lists are one bytes
// field per entry, "name\0value", in order. Optional members are left out when absent.

// URLRequest. Every field is required except url, httpBody, mainDocumentURL and headers.
enum RequestTag : std::uint16_t {
  requestURL = 1,                        // bytes, absent when the request has no url
  requestMethod = 2,                     // bytes
  requestBody = 3,                       // bytes, absent when httpBody is nullopt
  requestTimeout = 4,                    // real: timeoutInterval
  requestExplicitTimeout = 5,            // bool: hasExplicitTimeout()
  requestCachePolicy = 6,                // integer: URLRequest::CachePolicy
  requestNetworkServiceType = 7,         // integer: URLRequest::NetworkServiceType
  requestHandlesCookies = 8,             // bool: httpShouldHandleCookies
  requestUsesPipelining = 9,             // bool: httpShouldUsePipelining
  requestAllowsCellular = 10,            // bool
  requestAllowsExpensive = 11,           // bool
  requestAllowsConstrained = 12,         // bool
  requestMainDocumentURL = 13,           // bytes, absent when nullopt
  requestHeader = 14,                    // bytes, repeated: one per header field, in order
  requestAssumesHTTP3Capable = 15,       // bool
};

// URLSessionConfiguration (protocolClasses are not sent). All required except identifier and
// the two dictionaries.
enum ConfigurationTag : std::uint16_t {
  configurationIdentifier = 1,           // bytes, background configurations only (non-empty)
  configurationEphemeral = 2,            // bool: isEphemeral()
  configurationRequestTimeout = 3,       // real: timeoutIntervalForRequest
  configurationResourceTimeout = 4,      // real: timeoutIntervalForResource
  configurationMaximumConnections = 5,   // integer: httpMaximumConnectionsPerHost
  configurationAdditionalHeader = 6,     // bytes, repeated: httpAdditionalHeaders, "name\0value"
  configurationProxyEntry = 7,           // bytes, repeated: connectionProxyDictionary, "key\0value"
  configurationDiscretionary = 8,        // bool: isDiscretionary
  configurationSendsLaunchEvents = 9,    // bool: sessionSendsLaunchEvents
  configurationWaitsForConnectivity = 10,  // bool
  configurationAllowsCellular = 11,      // bool
  configurationAllowsExpensive = 12,     // bool
  configurationAllowsConstrained = 13,   // bool
  configurationSetsCookies = 14,         // bool: httpShouldSetCookies
  configurationUsesPipelining = 15,      // bool: httpShouldUsePipelining
  configurationCachePolicy = 16,         // integer: requestCachePolicy
  configurationUploadInteropVersion = 17,  // integer: resumableUploadInteropVersion; absent: the default
  configurationCookieAcceptPolicy = 18,  // integer: httpCookieAcceptPolicy (0–2); absent: the default
  configurationCookieFile = 19,          // bytes: the file of httpCookieStorage, when it has one
};

// Error. domain, code and localizedDescription are required.
enum ErrorTag : std::uint16_t {
  errorDomain = 1,                       // bytes
  errorCode = 2,                         // integer (an int)
  errorDescription = 3,                  // bytes: localizedDescription
  errorFailingURL = 4,                   // bytes, absent when nullopt
  errorResumeData = 5,                   // bytes, absent when nullopt
  errorCancelledReason = 6,              // integer (an int): backgroundTaskCancelledReason
  errorFailureReason = 7,                // bytes, absent when nullopt: localizedFailureReason
};

// HTTPURLResponse. All required except headers.
enum ResponseTag : std::uint16_t {
  responseURL = 1,                       // bytes
  responseStatusCode = 2,                // integer (an int)
  responseHTTPVersion = 3,               // bytes
  responseHeader = 4,                    // bytes, repeated: one per header field, in order
};

// URLSessionTaskMetrics: all required but the transactions. Dates are integers, the
// system_clock ticks since the epoch (exact both ways).
enum MetricsTag : std::uint16_t {
  metricsIntervalStart = 1,              // integer: taskInterval's start
  metricsIntervalDuration = 2,           // real, >= 0
  metricsRedirectCount = 3,              // integer (an int, >= 0)
  metricsTransaction = 4,                // bytes, repeated: one transaction payload each, in order
};

// URLSessionTaskTransactionMetrics: the flags, fetch type and byte counts are required.
enum TransactionTag : std::uint16_t {
  transactionRequest = 1,                // bytes: a request payload, absent when nullopt
  transactionResponse = 2,               // bytes: a response payload, absent unless an HTTPURLResponse
  transactionFirstDate = 3,              // integers 3…13, each absent when nullopt: fetchStart,
  transactionLastDate = 13,              //   domainLookupStart/End, connectStart,
                                         //   secureConnectionStart/End, connectEnd,
                                         //   requestStart/End, responseStart/End
  transactionProtocolName = 14,          // bytes, absent when nullopt
  transactionReused = 15,                // bool: isReusedConnection
  transactionProxy = 16,                 // bool: isProxyConnection
  transactionFetchType = 17,             // integer: ResourceFetchType (0–3)
  transactionRemoteAddress = 18,         // bytes, absent when nullopt
  transactionRemotePort = 19,            // integer (0–65535), absent when nullopt
  transactionByteCount = 20,             // integers 20…23, >= 0: request header, request body,
                                         //   response header, response body bytes
};

// ---- Little-endian primitives -----------------------------------------------------------------

constexpr std::size_t messageHeaderSize = 6;  // version, type, field count
constexpr std::size_t fieldHeaderSize = 3;    // tag, kind
constexpr std::size_t frameHeaderSize = 4;    // payload length
constexpr std::size_t maximumFields = std::numeric_limits<std::uint16_t>::max();

void putLittleEndian(std::string& out, std::uint64_t value, std::size_t byteCount) {
  for (std::size_t i = 0; i < byteCount; ++i) {
    out.push_back(static_cast<char>(static_cast<std::uint8_t>(value >> (8 * i))));
  }
}

std::uint64_t getLittleEndian(std::string_view in, std::size_t byteCount) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < byteCount; ++i) {
    value |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(in[i])) << (8 * i);
  }
  return value;
}

// Reads a payload front to back; every read checks the remaining length first.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  std::size_t remaining() const { return data_.size(); }

  template <class Unsigned>
  bool read(Unsigned& value) {
    if (data_.size() < sizeof(Unsigned)) return false;
    value = static_cast<Unsigned>(getLittleEndian(data_, sizeof(Unsigned)));
    data_.remove_prefix(sizeof(Unsigned));
    return true;
  }

  bool read(std::size_t count, std::string_view& bytes) {
    if (data_.size() < count) return false;
    bytes = data_.substr(0, count);
    data_.remove_prefix(count);
    return true;
  }

 private:
  std::string_view data_;
};

// Appends a field, building its value in place: a Field temporary holding an integer or a real
// makes g++ 12 warn (wrongly) that the string alternative may be used uninitialized.
template <class T, class... Args>
void appendField(std::vector<Field>& fields, std::uint16_t tag, Args&&... value) {
  Field& field = fields.emplace_back();
  field.tag = tag;
  field.value.emplace<T>(std::forward<Args>(value)...);
}

std::size_t encodedSize(const Field& field) {
  if (const auto* bytes = std::get_if<std::string>(&field.value)) {
    return fieldHeaderSize + sizeof(std::uint32_t) + bytes->size();
  }
  return fieldHeaderSize + sizeof(std::uint64_t);
}

// ---- Value helpers ----------------------------------------------------------------------------

using HeaderList = std::vector<std::pair<std::string, std::string>>;

const HeaderList& orderedHeaders(const URLRequest& request) { return request.headerFields(); }
const HeaderList& orderedHeaders(const HTTPURLResponse& response) { return response.headerFields(); }

std::int64_t flag(bool value) { return value ? 1 : 0; }

std::string joinedEntry(std::string_view name, std::string_view value) {
  std::string entry;
  entry.reserve(name.size() + 1 + value.size());
  entry.append(name).push_back('\0');
  entry.append(value);
  return entry;
}

// Splits "name\0value" at the first NUL; nullopt when there is none.
std::optional<std::pair<std::string, std::string>> splitEntry(std::string_view entry) {
  const auto separator = entry.find('\0');
  if (separator == std::string_view::npos) return std::nullopt;
  return std::pair{std::string(entry.substr(0, separator)), std::string(entry.substr(separator + 1))};
}

void addEntries(Message& message, std::uint16_t tag, const auto& entries) {
  for (const auto& [name, value] : entries) message.add(tag, joinedEntry(name, value));
}

// Header fields a decoded URLRequest or HTTPURLResponse may hold. Both types add a field in time
// linear in the fields they already hold (URLRequest::setValue, HTTPURLResponse's constructor), so
// a 1 MB payload of 65535 tiny header fields would cost ~13 s of CPU; 1024 cost under 5 ms. Real
// requests and responses carry a few dozen (Apache refuses requests with more than 100 by
// default). The dictionaries of a configuration are std::maps, which need no such bound.
constexpr std::size_t maximumHeaderFields = 1024;

enum class Names { caseSensitive, caseInsensitive };

// The entries of a repeated "name\0value" field; nullopt when one lacks the separator, a name
// repeats (ignoring ASCII case for header names), or there are more than maximumEntries.
std::optional<HeaderList> readEntries(const Message& message, std::uint16_t tag, Names names,
                                      std::size_t maximumEntries = std::numeric_limits<std::size_t>::max()) {
  HeaderList entries;
  std::unordered_set<std::string> seen;
  for (const auto& field : message.fields()) {
    if (field.tag != tag) continue;
    if (entries.size() == maximumEntries) return std::nullopt;
    const auto* bytes = std::get_if<std::string>(&field.value);
    if (bytes == nullptr) return std::nullopt;
    auto entry = splitEntry(*bytes);
    if (!entry) return std::nullopt;
    if (!seen.insert(names == Names::caseInsensitive ? text::lowercased(entry->first) : entry->first).second) {
      return std::nullopt;
    }
    entries.push_back(std::move(*entry));
  }
  return entries;
}

// A required boolean: present, an integer, and 0 or 1.
bool readFlag(const Message& message, std::uint16_t tag, bool& out) {
  const auto value = message.integer(tag);
  if (!value || (*value != 0 && *value != 1)) return false;
  out = *value == 1;
  return true;
}

std::optional<int> asInt(std::optional<std::int64_t> value) {
  if (!value || *value < std::numeric_limits<int>::min() || *value > std::numeric_limits<int>::max()) {
    return std::nullopt;
  }
  return static_cast<int>(*value);
}

bool readInt(const Message& message, std::uint16_t tag, int& out) {
  const auto value = asInt(message.integer(tag));
  if (!value) return false;
  out = *value;
  return true;
}

// Whether any field has this tag (whatever its kind): an optional field of the wrong kind is malformed.
bool hasField(const Message& message, std::uint16_t tag) {
  return std::any_of(message.fields().begin(), message.fields().end(), [tag](const Field& f) { return f.tag == tag; });
}

// A URL field: absent is fine (out stays nullopt); present must be a bytes field that parses.
bool readOptionalURL(const Message& message, std::uint16_t tag, std::optional<URL>& out) {
  const auto found = std::find_if(message.fields().begin(), message.fields().end(),
                                  [tag](const Field& field) { return field.tag == tag; });
  if (found == message.fields().end()) return true;
  const auto* text = std::get_if<std::string>(&found->value);
  if (text == nullptr) return false;
  out = URL::fromString(*text);
  return out.has_value();
}

// A Data field: absent leaves out as nullopt; present must be a bytes field.
bool readOptionalData(const Message& message, std::uint16_t tag, std::optional<Data>& out) {
  const auto found = std::find_if(message.fields().begin(), message.fields().end(),
                                  [tag](const Field& field) { return field.tag == tag; });
  if (found == message.fields().end()) return true;
  const auto* bytes = std::get_if<std::string>(&found->value);
  if (bytes == nullptr) return false;
  out = Data(std::string_view(*bytes));
  return true;
}

std::optional<URLRequest::CachePolicy> asCachePolicy(std::optional<std::int64_t> value) {
  if (!value || *value < 0 || *value > 5) return std::nullopt;
  return static_cast<URLRequest::CachePolicy>(*value);
}

std::optional<URLRequest::NetworkServiceType> asNetworkServiceType(std::optional<std::int64_t> value) {
  using T = URLRequest::NetworkServiceType;
  if (!value) return std::nullopt;
  for (const T type : {T::defaultType, T::voip, T::video, T::background, T::voice, T::responsiveData,
                       T::avStreaming, T::responsiveAV, T::callSignaling}) {
    if (static_cast<std::int64_t>(type) == *value) return type;
  }
  return std::nullopt;
}

}  // namespace

// ---- Message ----------------------------------------------------------------------------------

Message& Message::add(std::uint16_t tag, std::int64_t value) {
  if (fields_.size() >= maximumFields) throw std::length_error("wire::Message: more than 65535 fields");
  appendField<std::int64_t>(fields_, tag, value);
  return *this;
}

Message& Message::add(std::uint16_t tag, std::string_view bytes) {
  if (fields_.size() >= maximumFields) throw std::length_error("wire::Message: more than 65535 fields");
  if (bytes.size() > maximumPayload) throw std::length_error("wire::Message: field above maximumPayload");
  appendField<std::string>(fields_, tag, bytes);
  return *this;
}

Message& Message::add(std::uint16_t tag, double value) {
  if (fields_.size() >= maximumFields) throw std::length_error("wire::Message: more than 65535 fields");
  appendField<double>(fields_, tag, value);
  return *this;
}

Message& Message::add(std::uint16_t tag, const Message& nested) { return add(tag, nested.encode()); }

Message& Message::append(const Message& other) {
  for (const auto& field : other.fields()) std::visit([&](const auto& value) { add(field.tag, value); }, field.value);
  return *this;
}

namespace {

// The first field with `tag`, if it holds a T.
template <class T>
std::optional<T> firstField(const std::vector<Field>& fields, std::uint16_t tag) {
  for (const auto& field : fields) {
    if (field.tag != tag) continue;
    if (const auto* value = std::get_if<T>(&field.value)) return *value;
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::int64_t> Message::integer(std::uint16_t tag) const { return firstField<std::int64_t>(fields_, tag); }
std::optional<std::string> Message::bytes(std::uint16_t tag) const { return firstField<std::string>(fields_, tag); }
std::optional<double> Message::real(std::uint16_t tag) const { return firstField<double>(fields_, tag); }

std::optional<Message> Message::nested(std::uint16_t tag) const {
  for (const auto& field : fields_) {
    if (field.tag != tag) continue;
    if (const auto* value = std::get_if<std::string>(&field.value)) return decode(*value);
    return std::nullopt;
  }
  return std::nullopt;
}

std::vector<std::string> Message::allBytes(std::uint16_t tag) const {
  std::vector<std::string> all;
  for (const auto& field : fields_) {
    if (field.tag != tag) continue;
    if (const auto* value = std::get_if<std::string>(&field.value)) all.push_back(*value);
  }
  return all;
}

// Throws std::length_error when the payload would exceed maximumPayload: the peer would reject it
// and close the connection.
std::string Message::encode() const {
  std::size_t size = messageHeaderSize;
  for (const auto& field : fields_) size += encodedSize(field);
  if (size > maximumPayload) throw std::length_error("wire::Message: payload above maximumPayload");

  std::string out;
  out.reserve(size);
  putLittleEndian(out, protocolVersion, 2);
  putLittleEndian(out, static_cast<std::uint16_t>(type_), 2);
  putLittleEndian(out, fields_.size(), 2);
  for (const auto& field : fields_) {
    putLittleEndian(out, field.tag, 2);
    if (const auto* integer = std::get_if<std::int64_t>(&field.value)) {
      out.push_back(static_cast<char>(Kind::integer));
      putLittleEndian(out, static_cast<std::uint64_t>(*integer), 8);
    } else if (const auto* bytes = std::get_if<std::string>(&field.value)) {
      out.push_back(static_cast<char>(Kind::bytes));
      putLittleEndian(out, bytes->size(), 4);
      out += *bytes;
    } else {
      out.push_back(static_cast<char>(Kind::real));
      putLittleEndian(out, std::bit_cast<std::uint64_t>(std::get<double>(field.value)), 8);
    }
  }
  return out;
}

std::optional<Message> Message::decode(std::string_view payload) {
  if (payload.size() > maximumPayload) return std::nullopt;
  Reader reader(payload);
  std::uint16_t version = 0, type = 0, count = 0;
  if (!reader.read(version) || !reader.read(type) || !reader.read(count)) return std::nullopt;
  if (version != protocolVersion) return std::nullopt;

  Message message(static_cast<Type>(type));
  // The smallest field is an empty bytes field (7 bytes): a lying count cannot make us reserve much.
  constexpr std::size_t smallestField = fieldHeaderSize + sizeof(std::uint32_t);
  message.fields_.reserve(std::min<std::size_t>(count, reader.remaining() / smallestField));
  for (std::size_t i = 0; i < count; ++i) {
    std::uint16_t tag = 0;
    std::uint8_t kind = 0;
    if (!reader.read(tag) || !reader.read(kind)) return std::nullopt;
    switch (static_cast<Kind>(kind)) {
      case Kind::integer: {
        std::uint64_t value = 0;
        if (!reader.read(value)) return std::nullopt;
        appendField<std::int64_t>(message.fields_, tag, static_cast<std::int64_t>(value));
        break;
      }
      case Kind::bytes: {
        std::uint32_t length = 0;
        std::string_view bytes;
        if (!reader.read(length) || !reader.read(length, bytes)) return std::nullopt;
        appendField<std::string>(message.fields_, tag, bytes);
        break;
      }
      case Kind::real: {
        std::uint64_t bits = 0;
        if (!reader.read(bits)) return std::nullopt;
        appendField<double>(message.fields_, tag, std::bit_cast<double>(bits));
        break;
      }
      default:
        return std::nullopt;
    }
  }
  if (reader.remaining() != 0) return std::nullopt;
  return message;
}

std::string frame(const Message& message) {
  const std::string payload = message.encode();
  std::string out;
  out.reserve(frameHeaderSize + payload.size());
  putLittleEndian(out, payload.size(), 4);
  out += payload;
  return out;
}

// ---- FrameReader ------------------------------------------------------------------------------
// buffer_ only ever holds the start of one incomplete frame: complete frames are decoded straight
// from the bytes fed, so nothing is copied or shifted per frame. Once the stream is broken,
// buffer_ holds a length header above maximumPayload, which no healthy stream leaves there, so
// every later feed fails too.

namespace {

constexpr std::string_view brokenMarker = "\xff\xff\xff\xff";

std::size_t declaredLength(std::string_view header) { return getLittleEndian(header, frameHeaderSize); }

}  // namespace

bool FrameReader::feed(std::string_view bytes) {
  if (buffer_.size() >= frameHeaderSize && declaredLength(buffer_) > maximumPayload) return false;

  // Messages already handed out are dropped in bulk.
  if (readyAt_ > 0) {
    ready_.erase(ready_.begin(), ready_.begin() + static_cast<std::ptrdiff_t>(readyAt_));
    readyAt_ = 0;
  }
  const auto broken = [this] {
    buffer_ = brokenMarker;
    return false;
  };
  const auto accept = [this](std::string_view payload) {
    auto message = Message::decode(payload);
    if (!message) return false;
    ready_.push_back(std::move(*message));
    return true;
  };

  // 1. Complete the frame begun by an earlier feed.
  if (!buffer_.empty()) {
    if (buffer_.size() < frameHeaderSize) {
      const std::size_t take = std::min(frameHeaderSize - buffer_.size(), bytes.size());
      buffer_.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      if (buffer_.size() < frameHeaderSize) return true;
      if (declaredLength(buffer_) > maximumPayload) return broken();
    }
    const std::size_t total = frameHeaderSize + declaredLength(buffer_);
    const std::size_t take = std::min(total - buffer_.size(), bytes.size());
    buffer_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (buffer_.size() < total) return true;
    if (!accept(std::string_view(buffer_).substr(frameHeaderSize))) return broken();
    buffer_.clear();
    if (buffer_.capacity() > (1u << 20)) std::string().swap(buffer_);  // do not keep a large frame's buffer
  }

  // 2. Whole frames straight from the input.
  while (bytes.size() >= frameHeaderSize) {
    const std::size_t length = declaredLength(bytes);
    if (length > maximumPayload) return broken();
    if (bytes.size() - frameHeaderSize < length) break;
    if (!accept(bytes.substr(frameHeaderSize, length))) return broken();
    bytes.remove_prefix(frameHeaderSize + length);
  }

  // 3. Keep the incomplete rest.
  buffer_.assign(bytes);
  return true;
}

std::optional<Message> FrameReader::next() {
  if (readyAt_ >= ready_.size()) return std::nullopt;
  Message message = std::move(ready_[readyAt_++]);
  if (readyAt_ == ready_.size()) {
    ready_.clear();
    readyAt_ = 0;
  }
  return message;
}

// ---- URLRequest -------------------------------------------------------------------------------

Message encodeRequest(const URLRequest& request) {
  Message message;
  if (request.url) message.add(requestURL, request.url->absoluteString());
  message.add(requestMethod, request.httpMethod);
  if (request.httpBody) message.add(requestBody, request.httpBody->view());
  message.add(requestTimeout, request.timeoutInterval);
  message.add(requestExplicitTimeout, flag(request.hasExplicitTimeout()));
  message.add(requestCachePolicy, static_cast<std::int64_t>(request.cachePolicy));
  message.add(requestNetworkServiceType, static_cast<std::int64_t>(request.networkServiceType));
  message.add(requestHandlesCookies, flag(request.httpShouldHandleCookies));
  message.add(requestUsesPipelining, flag(request.httpShouldUsePipelining));
  message.add(requestAllowsCellular, flag(request.allowsCellularAccess));
  message.add(requestAllowsExpensive, flag(request.allowsExpensiveNetworkAccess));
  message.add(requestAllowsConstrained, flag(request.allowsConstrainedNetworkAccess));
  message.add(requestAssumesHTTP3Capable, flag(request.assumesHTTP3Capable));
  if (request.mainDocumentURL) message.add(requestMainDocumentURL, request.mainDocumentURL->absoluteString());
  addEntries(message, requestHeader, orderedHeaders(request));
  return message;
}

std::optional<URLRequest> decodeRequest(const Message& message) {
  std::optional<URL> url, mainDocumentURL;
  std::optional<Data> body;
  if (!readOptionalURL(message, requestURL, url) ||
      !readOptionalURL(message, requestMainDocumentURL, mainDocumentURL) ||
      !readOptionalData(message, requestBody, body)) {
    return std::nullopt;
  }
  auto method = message.bytes(requestMethod);
  const auto timeout = message.real(requestTimeout);
  const auto cachePolicy = asCachePolicy(message.integer(requestCachePolicy));
  const auto serviceType = asNetworkServiceType(message.integer(requestNetworkServiceType));
  bool explicitTimeout = false;
  if (!method || !timeout || !cachePolicy || !serviceType ||
      !readFlag(message, requestExplicitTimeout, explicitTimeout)) {
    return std::nullopt;
  }
  auto headers = readEntries(message, requestHeader, Names::caseInsensitive, maximumHeaderFields);
  if (!headers) return std::nullopt;

  // The constructor needs a URL; a placeholder that needs no parsing stands in until url is set.
  URLRequest request(URL::fromString("about:blank").value(), *cachePolicy);
  request.url = std::move(url);
  request.mainDocumentURL = std::move(mainDocumentURL);
  request.httpMethod = std::move(*method);
  request.httpBody = std::move(body);
  if (explicitTimeout) {
    request.setTimeoutInterval(*timeout);
  } else {
    request.timeoutInterval = *timeout;
  }
  request.networkServiceType = *serviceType;
  if (!readFlag(message, requestHandlesCookies, request.httpShouldHandleCookies) ||
      !readFlag(message, requestUsesPipelining, request.httpShouldUsePipelining) ||
      !readFlag(message, requestAllowsCellular, request.allowsCellularAccess) ||
      !readFlag(message, requestAllowsExpensive, request.allowsExpensiveNetworkAccess) ||
      !readFlag(message, requestAllowsConstrained, request.allowsConstrainedNetworkAccess) ||
      !readFlag(message, requestAssumesHTTP3Capable, request.assumesHTTP3Capable)) {
    return std::nullopt;
  }
  for (auto& [name, value] : *headers) request.setValue(std::move(value), name);
  return request;
}

// ---- URLSessionConfiguration ------------------------------------------------------------------

Message encodeConfiguration(const URLSessionConfiguration& configuration) {
  Message message;
  if (const auto identifier = configuration.identifier()) message.add(configurationIdentifier, *identifier);
  message.add(configurationEphemeral, flag(configuration.isEphemeral()));
  message.add(configurationRequestTimeout, configuration.timeoutIntervalForRequest);
  message.add(configurationResourceTimeout, configuration.timeoutIntervalForResource);
  message.add(configurationMaximumConnections,
              static_cast<std::int64_t>(configuration.httpMaximumConnectionsPerHost));
  addEntries(message, configurationAdditionalHeader, configuration.httpAdditionalHeaders);
  addEntries(message, configurationProxyEntry, configuration.connectionProxyDictionary);
  message.add(configurationDiscretionary, flag(configuration.isDiscretionary));
  message.add(configurationSendsLaunchEvents, flag(configuration.sessionSendsLaunchEvents));
  message.add(configurationWaitsForConnectivity, flag(configuration.waitsForConnectivity));
  message.add(configurationAllowsCellular, flag(configuration.allowsCellularAccess));
  message.add(configurationAllowsExpensive, flag(configuration.allowsExpensiveNetworkAccess));
  message.add(configurationAllowsConstrained, flag(configuration.allowsConstrainedNetworkAccess));
  message.add(configurationSetsCookies, flag(configuration.httpShouldSetCookies));
  message.add(configurationUsesPipelining, flag(configuration.httpShouldUsePipelining));
  message.add(configurationCachePolicy, static_cast<std::int64_t>(configuration.requestCachePolicy));
  message.add(configurationUploadInteropVersion, static_cast<std::int64_t>(configuration.resumableUploadInteropVersion));
  message.add(configurationCookieAcceptPolicy, static_cast<std::int64_t>(configuration.httpCookieAcceptPolicy));
  // urlsessiond keeps the session's cookies in that file, which the app's storage reads too.
  if (configuration.httpCookieStorage)
    if (auto file = detail::cookieFileOf(*configuration.httpCookieStorage)) message.add(configurationCookieFile, *file);
  return message;
}

std::optional<URLSessionConfiguration> decodeConfiguration(const Message& message) {
  bool ephemeral = false;
  if (!readFlag(message, configurationEphemeral, ephemeral)) return std::nullopt;
  std::optional<std::string> identifier;
  if (hasField(message, configurationIdentifier)) {
    identifier = message.bytes(configurationIdentifier);
    // A background configuration is never ephemeral, and background() takes no empty identifier.
    if (!identifier || identifier->empty() || ephemeral) return std::nullopt;
  }
  const auto requestTimeout = message.real(configurationRequestTimeout);
  const auto resourceTimeout = message.real(configurationResourceTimeout);
  const auto maximumConnections = asInt(message.integer(configurationMaximumConnections));
  const auto cachePolicy = asCachePolicy(message.integer(configurationCachePolicy));
  auto additionalHeaders = readEntries(message, configurationAdditionalHeader, Names::caseSensitive);
  auto proxyEntries = readEntries(message, configurationProxyEntry, Names::caseSensitive);
  if (!requestTimeout || !resourceTimeout || !maximumConnections || !cachePolicy || !additionalHeaders ||
      !proxyEntries) {
    return std::nullopt;
  }

  URLSessionConfiguration configuration =
      identifier ? URLSessionConfiguration::background(std::move(*identifier))
                 : (ephemeral ? URLSessionConfiguration::ephemeral()
                              : URLSessionConfiguration::defaultConfiguration());
  configuration.timeoutIntervalForRequest = *requestTimeout;
  configuration.timeoutIntervalForResource = *resourceTimeout;
  configuration.httpMaximumConnectionsPerHost = *maximumConnections;
  configuration.requestCachePolicy = *cachePolicy;
  for (auto& [name, value] : *additionalHeaders) {
    configuration.httpAdditionalHeaders.emplace(std::move(name), std::move(value));
  }
  for (auto& [key, value] : *proxyEntries) {
    configuration.connectionProxyDictionary.emplace(std::move(key), std::move(value));
  }
  if (!readFlag(message, configurationDiscretionary, configuration.isDiscretionary) ||
      !readFlag(message, configurationSendsLaunchEvents, configuration.sessionSendsLaunchEvents) ||
      !readFlag(message, configurationWaitsForConnectivity, configuration.waitsForConnectivity) ||
      !readFlag(message, configurationAllowsCellular, configuration.allowsCellularAccess) ||
      !readFlag(message, configurationAllowsExpensive, configuration.allowsExpensiveNetworkAccess) ||
      !readFlag(message, configurationAllowsConstrained, configuration.allowsConstrainedNetworkAccess) ||
      !readFlag(message, configurationSetsCookies, configuration.httpShouldSetCookies) ||
      !readFlag(message, configurationUsesPipelining, configuration.httpShouldUsePipelining)) {
    return std::nullopt;
  }
  // Written since resumable uploads; a configuration stored by an older library has the default.
  if (hasField(message, configurationUploadInteropVersion)) {
    const auto version = asInt(message.integer(configurationUploadInteropVersion));
    if (!version) return std::nullopt;
    configuration.resumableUploadInteropVersion = *version;
  }
  // Written since cookies; older configurations have the default.
  if (hasField(message, configurationCookieAcceptPolicy)) {
    const auto policy = asInt(message.integer(configurationCookieAcceptPolicy));
    if (!policy || *policy < 0 || *policy > 2) return std::nullopt;
    configuration.httpCookieAcceptPolicy = static_cast<HTTPCookie::AcceptPolicy>(*policy);
  }
  // A storage on the sender's cookie file, or none (never the decoding process's own storage).
  configuration.httpCookieStorage = nullptr;
  if (hasField(message, configurationCookieFile)) {
    auto file = message.bytes(configurationCookieFile);
    if (!file || file->empty()) return std::nullopt;
    configuration.httpCookieStorage = std::make_shared<HTTPCookieStorage>(std::move(*file));
  }
  return configuration;
}

// ---- Error ------------------------------------------------------------------------------------

Message encodeError(const Error& error) {
  Message message;
  message.add(errorDomain, error.domain);
  message.add(errorCode, static_cast<std::int64_t>(error.code));
  message.add(errorDescription, error.localizedDescription);
  if (error.failingURL) message.add(errorFailingURL, error.failingURL->absoluteString());
  if (error.resumeData) message.add(errorResumeData, error.resumeData->view());
  if (error.localizedFailureReason) message.add(errorFailureReason, *error.localizedFailureReason);
  if (error.backgroundTaskCancelledReason) {
    message.add(errorCancelledReason, static_cast<std::int64_t>(*error.backgroundTaskCancelledReason));
  }
  return message;
}

std::optional<Error> decodeError(const Message& message) {
  Error error;
  auto domain = message.bytes(errorDomain);
  auto description = message.bytes(errorDescription);
  if (!domain || !description || !readInt(message, errorCode, error.code) ||
      !readOptionalURL(message, errorFailingURL, error.failingURL) ||
      !readOptionalData(message, errorResumeData, error.resumeData)) {
    return std::nullopt;
  }
  error.domain = std::move(*domain);
  error.localizedDescription = std::move(*description);
  error.localizedFailureReason = message.bytes(errorFailureReason);
  if (hasField(message, errorCancelledReason)) {
    error.backgroundTaskCancelledReason = asInt(message.integer(errorCancelledReason));
    if (!error.backgroundTaskCancelledReason) return std::nullopt;
  }
  return error;
}

// ---- HTTPURLResponse --------------------------------------------------------------------------

Message encodeResponse(const HTTPURLResponse& response) {
  Message message;
  // An HTTPURLResponse is constructed from a URL, so url() is always set.
  if (const auto url = response.url()) message.add(responseURL, url->absoluteString());
  message.add(responseStatusCode, static_cast<std::int64_t>(response.statusCode()));
  message.add(responseHTTPVersion, response.httpVersion());
  addEntries(message, responseHeader, orderedHeaders(response));
  return message;
}

std::optional<HTTPURLResponse> decodeResponse(const Message& message) {
  std::optional<URL> url;
  int statusCode = 0;
  auto httpVersion = message.bytes(responseHTTPVersion);
  auto headers = readEntries(message, responseHeader, Names::caseInsensitive, maximumHeaderFields);
  if (!readOptionalURL(message, responseURL, url) || !url || !readInt(message, responseStatusCode, statusCode) ||
      !httpVersion || !headers) {
    return std::nullopt;
  }
  return HTTPURLResponse(std::move(*url), statusCode, std::move(*httpVersion), std::move(*headers));
}

// ---- Metrics -----------------------------------------------------------------------------------

namespace {

using Transaction = URLSessionTaskTransactionMetrics;

// The transaction's dates in tag order (transactionFirstDate…transactionLastDate).
std::array<std::optional<Date>*, transactionLastDate - transactionFirstDate + 1> datesOf(Transaction& t) {
  return {&t.fetchStartDate,  &t.domainLookupStartDate, &t.domainLookupEndDate,      &t.connectStartDate,
          &t.secureConnectionStartDate, &t.secureConnectionEndDate, &t.connectEndDate, &t.requestStartDate,
          &t.requestEndDate, &t.responseStartDate,     &t.responseEndDate};
}

std::array<std::int64_t*, 4> byteCountsOf(Transaction& t) {
  return {&t.countOfRequestHeaderBytesSent, &t.countOfRequestBodyBytesSent, &t.countOfResponseHeaderBytesReceived,
          &t.countOfResponseBodyBytesReceived};
}

std::int64_t ticks(Date date) { return date.time_since_epoch().count(); }

Date dateFromTicks(std::int64_t count) { return Date(Date::duration(count)); }

Message encodeTransaction(Transaction t) {
  Message message;
  if (t.request) message.add(transactionRequest, encodeRequest(*t.request));
  if (auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(t.response))
    message.add(transactionResponse, encodeResponse(*http));
  auto dates = datesOf(t);
  for (std::size_t i = 0; i < dates.size(); ++i)
    if (*dates[i]) message.add(static_cast<std::uint16_t>(transactionFirstDate + i), ticks(**dates[i]));
  if (t.networkProtocolName) message.add(transactionProtocolName, *t.networkProtocolName);
  message.add(transactionReused, std::int64_t{t.isReusedConnection});
  message.add(transactionProxy, std::int64_t{t.isProxyConnection});
  message.add(transactionFetchType, static_cast<std::int64_t>(t.resourceFetchType));
  if (t.remoteAddress) message.add(transactionRemoteAddress, *t.remoteAddress);
  if (t.remotePort) message.add(transactionRemotePort, static_cast<std::int64_t>(*t.remotePort));
  auto counts = byteCountsOf(t);
  for (std::size_t i = 0; i < counts.size(); ++i)
    message.add(static_cast<std::uint16_t>(transactionByteCount + i), *counts[i]);
  return message;
}

std::optional<Transaction> decodeTransaction(const Message& message) {
  Transaction t;
  if (hasField(message, transactionRequest)) {
    auto nested = message.nested(transactionRequest);
    if (!nested || !(t.request = decodeRequest(*nested))) return std::nullopt;
  }
  if (hasField(message, transactionResponse)) {
    auto nested = message.nested(transactionResponse);
    auto response = nested ? decodeResponse(*nested) : std::nullopt;
    if (!response) return std::nullopt;
    t.response = std::make_shared<HTTPURLResponse>(std::move(*response));
  }
  auto dates = datesOf(t);
  for (std::size_t i = 0; i < dates.size(); ++i) {
    const auto tag = static_cast<std::uint16_t>(transactionFirstDate + i);
    if (!hasField(message, tag)) continue;
    auto value = message.integer(tag);
    if (!value) return std::nullopt;
    *dates[i] = dateFromTicks(*value);
  }
  for (auto [tag, out] : {std::pair{transactionProtocolName, &t.networkProtocolName},
                          std::pair{transactionRemoteAddress, &t.remoteAddress}}) {
    if (!hasField(message, tag)) continue;
    if (!(*out = message.bytes(tag))) return std::nullopt;
  }
  auto fetchType = message.integer(transactionFetchType);
  if (!readFlag(message, transactionReused, t.isReusedConnection) || !readFlag(message, transactionProxy, t.isProxyConnection) ||
      !fetchType || *fetchType < 0 || *fetchType > 3)
    return std::nullopt;
  t.resourceFetchType = static_cast<Transaction::ResourceFetchType>(*fetchType);
  if (hasField(message, transactionRemotePort)) {
    auto port = message.integer(transactionRemotePort);
    if (!port || *port < 0 || *port > 65535) return std::nullopt;
    t.remotePort = static_cast<int>(*port);
  }
  auto counts = byteCountsOf(t);
  for (std::size_t i = 0; i < counts.size(); ++i) {
    auto value = message.integer(static_cast<std::uint16_t>(transactionByteCount + i));
    if (!value || *value < 0) return std::nullopt;
    *counts[i] = *value;
  }
  return t;
}

}  // namespace

Message encodeMetrics(const URLSessionTaskMetrics& metrics) {
  Message message;
  message.add(metricsIntervalStart, ticks(metrics.taskIntervalStart));
  message.add(metricsIntervalDuration, metrics.taskIntervalDuration);
  message.add(metricsRedirectCount, static_cast<std::int64_t>(metrics.redirectCount));
  for (const auto& transaction : metrics.transactionMetrics) message.add(metricsTransaction, encodeTransaction(transaction));
  return message;
}

std::optional<URLSessionTaskMetrics> decodeMetrics(const Message& message) {
  URLSessionTaskMetrics metrics;
  auto start = message.integer(metricsIntervalStart);
  auto duration = message.real(metricsIntervalDuration);
  if (!start || !duration || !(*duration >= 0) || !readInt(message, metricsRedirectCount, metrics.redirectCount) ||
      metrics.redirectCount < 0)
    return std::nullopt;
  metrics.taskIntervalStart = dateFromTicks(*start);
  metrics.taskIntervalDuration = *duration;
  for (const auto& field : message.fields()) {
    if (field.tag != metricsTransaction) continue;
    const auto* bytes = std::get_if<std::string>(&field.value);
    auto nested = bytes ? Message::decode(*bytes) : std::nullopt;
    auto transaction = nested ? decodeTransaction(*nested) : std::nullopt;
    if (!transaction) return std::nullopt;
    metrics.transactionMetrics.push_back(std::move(*transaction));
  }
  return metrics;
}

// ---- Authentication (message-level tags) ------------------------------------------------------

void addCredential(Message& message, const URLCredential& credential) {
  message.add(tag::credentialUser, credential.user().value_or(""))
      .add(tag::credentialPassword, credential.password().value_or(""))
      .add(tag::credentialPersistence, static_cast<std::int64_t>(credential.persistence()));
}

bool readCredential(const Message& message, std::optional<URLCredential>& credential) {
  credential.reset();
  auto user = message.bytes(tag::credentialUser);
  if (!user)
    return !hasField(message, tag::credentialUser) && !hasField(message, tag::credentialPassword) &&
           !hasField(message, tag::credentialPersistence);
  auto password = message.bytes(tag::credentialPassword);
  auto persistence = message.integer(tag::credentialPersistence);
  if ((!password && hasField(message, tag::credentialPassword)) ||
      (!persistence && hasField(message, tag::credentialPersistence)) || persistence.value_or(0) < 0 ||
      persistence.value_or(0) > 3)
    return false;
  credential = URLCredential(std::move(*user), password.value_or(""), static_cast<URLCredential::Persistence>(persistence.value_or(0)));
  return true;
}

Message encodeChallenge(const URLAuthenticationChallenge& challenge) {
  const auto& space = challenge.protectionSpace();
  Message message;
  message.add(tag::challengeHost, space.host())
      .add(tag::challengePort, static_cast<std::int64_t>(space.port()))
      .add(tag::challengeProtocol, space.protocol());
  if (auto realm = space.realm()) message.add(tag::challengeRealm, *realm);
  message.add(tag::authenticationMethod, space.authenticationMethod())
      .add(tag::previousFailureCount, static_cast<std::int64_t>(challenge.previousFailureCount()));
  if (auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(challenge.failureResponse()))
    message.add(tag::failureResponse, encodeResponse(*http));
  if (auto proposed = challenge.proposedCredential()) addCredential(message, *proposed);
  return message;
}

std::optional<URLAuthenticationChallenge> decodeChallenge(const Message& message) {
  auto host = message.bytes(tag::challengeHost);
  auto protocol = message.bytes(tag::challengeProtocol);
  auto method = message.bytes(tag::authenticationMethod);
  auto port = message.integer(tag::challengePort);
  auto failures = message.integer(tag::previousFailureCount);
  if (!host || host->empty() || !protocol || protocol->empty() || !method || method->empty() || !port || *port < 0 ||
      *port > 65535 || !failures || *failures < 0 || *failures > std::numeric_limits<int>::max())
    return std::nullopt;
  auto realm = message.bytes(tag::challengeRealm);
  if (!realm && hasField(message, tag::challengeRealm)) return std::nullopt;
  std::shared_ptr<const URLResponse> failure;
  if (hasField(message, tag::failureResponse)) {
    auto encoded = message.nested(tag::failureResponse);
    auto response = encoded ? decodeResponse(*encoded) : std::nullopt;
    if (!response) return std::nullopt;
    failure = std::make_shared<HTTPURLResponse>(std::move(*response));
  }
  std::optional<URLCredential> proposed;
  if (!readCredential(message, proposed)) return std::nullopt;
  return URLAuthenticationChallenge(URLProtectionSpace(std::move(*host), static_cast<int>(*port), std::move(*protocol),
                                                       std::move(realm), std::move(*method)),
                                    std::move(proposed), static_cast<int>(*failures), std::move(failure));
}

}  // namespace foundation::wire

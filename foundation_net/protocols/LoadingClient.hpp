// The built-in protocols' side channel to their task, beyond the public URLProtocolClient:
// body bytes without a copy and with flow control, upload progress, informational responses,
// metrics, and what the session configures. Every call here happens on the loop thread.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <foundation_net/HTTPCookieStorage.hpp>
#include <foundation_net/HTTPURLResponse.hpp>
#include <foundation_net/URLCredential.hpp>
#include <foundation_net/URLProtectionSpace.hpp>
#include <foundation_net/URLProtocolClient.hpp>
#include <foundation_net/URLSessionTaskMetrics.hpp>

struct curl_slist;
namespace foundation::engine { class Multi; }

namespace foundation::detail {

// Where a request body comes from: bytes in memory or a file read as it is sent.
struct BodySource {
  std::optional<Data> data;
  std::optional<std::string> filePath;
  // Where sending starts (a resumed upload appends the rest): the bytes before it are not sent,
  // and upload progress counts from it.
  std::int64_t offset = 0;
  bool empty() const { return (!data || data->empty()) && !filePath; }
};

// The request header list curl sends for a request, and the encodings curl is to decode
// (CURLOPT_ACCEPT_ENCODING), the ones its Accept-Encoding line announces.
struct RequestHeaderList {
  std::shared_ptr<curl_slist> lines;
  std::string acceptEncoding;
};

// A session's header lists for requests that set no header fields of their own: they depend
// only on the session's configuration (and on whether the request uploads, and whether a POST
// body needs a Content-Type), so each is built once. Loop thread only.
struct DefaultHeaderLists {
  std::optional<RequestHeaderList> withoutUpload;
  std::optional<RequestHeaderList> withUpload;
  std::optional<RequestHeaderList> withFormUpload;
};

// What the session gives a protocol to load with.
struct LoadContext {
  std::shared_ptr<engine::Multi> pool;  // the session's connection pool
  std::shared_ptr<DefaultHeaderLists> defaultHeaders;  // the session's, shared by its tasks
  std::map<std::string, std::string> additionalHeaders;
  std::map<std::string, std::string> proxy;  // Apple's connectionProxyDictionary keys
  BodySource body;
  // Fields the protocol adds to the request's own (a resumable upload's announcement).
  std::vector<std::pair<std::string, std::string>> extraHeaders;
  // Credentials to send, answering an earlier challenge for this protection space.
  std::optional<URLCredential> credential;
  std::string authenticationMethod;  // NSURLAuthenticationMethodHTTPBasic or …HTTPDigest
  // Where the request's cookies come from and go to; none when cookies are off for it.
  std::shared_ptr<HTTPCookieStorage> cookieStorage;
  HTTPCookie::AcceptPolicy cookieAcceptPolicy = HTTPCookie::AcceptPolicy::onlyFromMainDocumentDomain;
};

class LoadingClient : public URLProtocolClient {
 public:
  enum class BodyVerdict {
    consumed,  // the bytes are the client's now
    pause,     // not taken: offer the same bytes again after FlowControlled::resumeBody()
    abort,     // the task is over; stop the transfer
  };
  virtual BodyVerdict receiveBody(URLProtocol&, const char* bytes, std::size_t count) = 0;
  virtual void didSendBodyData(URLProtocol&, std::int64_t bytesSent, std::int64_t totalBytesSent,
                               std::int64_t totalBytesExpectedToSend) = 0;
  virtual void didReceiveInformationalResponse(URLProtocol&, std::shared_ptr<const HTTPURLResponse>) = 0;
  // A 401 the task may answer with credentials; the body is held like a redirect's meanwhile.
  virtual void didReceiveAuthenticationChallenge(URLProtocol&, URLProtectionSpace space,
                                                 std::shared_ptr<const HTTPURLResponse> response) = 0;
  virtual void didCollectTransactionMetrics(URLProtocol&, URLSessionTaskTransactionMetrics) = 0;
  // Whether metrics would reach anyone (a task delegate, the task's or the session's): without
  // one, collecting them (about twenty curl_easy_getinfo calls) is skipped.
  virtual bool wantsTransactionMetrics() = 0;
  virtual LoadContext loadContext() = 0;
};

// A protocol whose traffic the task can hold: implemented by the http(s) protocol.
// Both calls are safe from any thread and take effect on the loop thread.
class FlowControlled {
 public:
  virtual ~FlowControlled() = default;
  // The client takes body bytes again after answering `pause`.
  virtual void resumeBody() = 0;
  // A suspended transfer sends and receives nothing.
  virtual void setSuspended(bool suspended) = 0;
};

}  // namespace foundation::detail

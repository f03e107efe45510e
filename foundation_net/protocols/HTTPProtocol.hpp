// The built-in http/https protocol: one curl easy handle per request, on the session's Multi.
// It parses the response head itself (to report redirects, informational responses and folded
// headers the way Apple does), never lets curl follow redirects, and hands body bytes straight
// from curl's buffer to the task, pausing the transfer when the task says so.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <curl/curl.h>

#include <foundation_net/URLProtocol.hpp>

#include "engine/Multi.hpp"
#include "platform/File.hpp"
#include "protocols/CookieJar.hpp"
#include "protocols/LoadingClient.hpp"

namespace foundation::detail {

class HTTPProtocol final : public URLProtocol, public FlowControlled, private engine::TransferOwner {
 public:
  static constexpr std::string_view className = "foundation.http";
  static bool canInit(const URLRequest& request);

  HTTPProtocol(const URLRequest& request, std::shared_ptr<URLSessionTask> task,
               std::shared_ptr<URLProtocolClient> client);
  ~HTTPProtocol() override;

  void startLoading() override;
  void stopLoading() override;
  void resumeBody() override;
  void setSuspended(bool suspended) override;

 private:
  void begin();
  // Reports a failure found before the transfer started.
  void fail(const Error& error);
  bool configureBody(CURL* easy, const BodySource& body);
  // Sets the request's header list; a `configured` handle has the encodings to decode already.
  void configureHeaders(CURL* easy, const LoadContext& context, bool hasBody, bool configured);
  void configureProxy(CURL* easy, const std::map<std::string, std::string>& proxy, bool https);
  void configureCredential(CURL* easy, const LoadContext& context);
  // The protection space a 401 asks credentials for, when it names a scheme we can answer.
  std::optional<URLProtectionSpace> challengedSpace(const HTTPURLResponse& response) const;
  void finishHeaderBlock();
  void transferDidComplete(CURLcode result) override;
  // Hands this transaction's metrics to the client, once, if anyone can receive them.
  void reportMetrics();
  URLSessionTaskTransactionMetrics collectMetrics() const;
  void releaseTransfer();

  static std::size_t onHeader(char* data, std::size_t size, std::size_t count, void* self);
  static std::size_t onWrite(char* data, std::size_t size, std::size_t count, void* self);
  static std::size_t onRead(char* buffer, std::size_t size, std::size_t count, void* self);

  LoadingClient* client_;  // the task's client; owned through URLProtocol::client()
  std::shared_ptr<engine::Multi> pool_;
  std::shared_ptr<HTTPProtocol> self_;  // keeps this alive while curl holds the easy handle
  CURL* easy_ = nullptr;
  std::shared_ptr<curl_slist> headerList_;  // curl reads it until the transfer is released
  std::atomic<bool> stopped_{false};
  bool suspended_ = false;

  // The response head being parsed.
  int status_ = 0;
  std::string httpVersion_;
  std::vector<std::pair<std::string, std::string>> fields_;
  bool finalResponseSeen_ = false;
  bool metricsReported_ = false;
  bool expectDigestRetry_ = false;  // curl answers the first Digest 401 itself
  bool plain_ = false;        // a plain GET (see begin): its handle's options suit the next one
  bool keepOptions_ = false;  // completed as a plain GET: the handle is recycled configured
  std::optional<CookieJar> cookies_;  // the request sends and stores cookies

  // The request body.
  std::optional<Data> bodyData_;
  platform::File bodyFile_;
  bool uploads_ = false;  // curl sends a body (CURLOPT_UPLOAD)
  std::int64_t bodyLength_ = 0;
  std::int64_t bodySent_ = 0;

  Date fetchStart_{};
  char errorBuffer_[CURL_ERROR_SIZE] = {};
};

}  // namespace foundation::detail

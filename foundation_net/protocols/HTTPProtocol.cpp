#include "protocols/HTTPProtocol.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <map>

#include <fmt/format.h>

#include <foundation_net/URLSessionTask.hpp>

#include "engine/Loop.hpp"
#include "model/Text.hpp"
#include "platform/File.hpp"
#include "platform/Process.hpp"
#include "protocols/CurlErrors.hpp"
#include "protocols/Redirect.hpp"

namespace foundation::detail {
namespace {

// A receive buffer larger than curl's 16 KiB default takes a fast link's data in fewer recv
// calls (a 1 GiB body: about 5x fewer at 120 KiB than at 64 KiB). curl allocates it for every
// transfer and frees it at the end, so it stays below glibc's default mmap threshold (128 KiB),
// where it never costs an mmap/munmap pair per request. Freeing it can still trim the loop
// thread's arena (madvise: one small GET in twenty at 120 KiB, and in some runs at every size
// tried up to 1 MiB); larger buffers did not make large bodies measurably faster (bench/README.md).
constexpr long receiveBufferSize = 120 * 1024;
constexpr long sendBufferSize = 128 * 1024;

// Headers a session's httpAdditionalHeaders may not set (Apple ignores them there).
bool isReservedAdditionalHeader(std::string_view name) {
  for (std::string_view reserved : {"Authorization", "Connection", "Host", "Proxy-Authenticate",
                                    "Proxy-Authorization", "WWW-Authenticate"})
    if (text::equalsIgnoringCase(name, reserved)) return true;
  return false;
}

const std::string& defaultUserAgent() {
  static const std::string agent = fmt::format("{} foundation_net/{} (Linux)",
                                               platform::executableName(), FOUNDATION_NET_VERSION);
  return agent;
}

// "de_DE.UTF-8" → "de-DE,de;q=0.9", as Apple derives Accept-Language from the user's languages.
const std::string& defaultAcceptLanguage() {
  static const std::string language = [] {
    std::string locale = platform::environment("LANG").value_or("");
    locale = locale.substr(0, locale.find_first_of(".@"));
    if (locale.empty() || locale == "C" || locale == "POSIX") return std::string("en-US,en;q=0.9");
    std::replace(locale.begin(), locale.end(), '_', '-');
    auto base = locale.substr(0, locale.find('-'));
    return base == locale ? locale : fmt::format("{},{};q=0.9", locale, base);
  }();
  return language;
}

// What curl announces for CURLOPT_ACCEPT_ENCODING "": every encoding it was built to decode,
// in the order of its content_encoding.c.
const std::string& decodableEncodings() {
  static const std::string encodings = [] {
    const auto features = curl_version_info(CURLVERSION_NOW)->features;
    std::string list;
    auto add = [&list](std::string_view name) {
      if (!list.empty()) list += ", ";
      list += name;
    };
    if (features & CURL_VERSION_LIBZ) {
      add("deflate");
      add("gzip");
    }
    if (features & CURL_VERSION_BROTLI) add("br");
    if (features & CURL_VERSION_ZSTD) add("zstd");
    return list.empty() ? std::string("identity") : list;
  }();
  return encodings;
}

// The header list for a request's own fields merged with the session's httpAdditionalHeaders
// (the request's values win, case-insensitively) and the defaults Apple adds. curl sends
// "Accept: */*" by itself when the list has no Accept, so that default is left to curl.
RequestHeaderList requestHeaderList(const std::vector<std::pair<std::string, std::string>>& own,
                                    const std::map<std::string, std::string>& additional, bool uploads,
                                    bool formBody) {
  std::map<std::string, std::string> merged(own.begin(), own.end());
  auto has = [&merged](std::string_view name) { return text::findIgnoringCase(merged, name) != merged.end(); };
  for (const auto& [name, value] : additional)
    if (!isReservedAdditionalHeader(name) && !has(name)) merged.emplace(name, value);
  if (!has("User-Agent")) merged.emplace("User-Agent", defaultUserAgent());
  if (!has("Accept-Language")) merged.emplace("Accept-Language", defaultAcceptLanguage());
  if (formBody && !has("Content-Type")) merged.emplace("Content-Type", "application/x-www-form-urlencoded");

  // curl decodes what CURLOPT_ACCEPT_ENCODING names, and announces it unless the list has an
  // Accept-Encoding line: the line is ours, so that curl does not format it again per request.
  // The caller's own Accept-Encoding takes the place of the default.
  RequestHeaderList list;
  auto encoding = text::findIgnoringCase(merged, "Accept-Encoding");
  if (encoding == merged.end() || encoding->second.empty()) {
    if (encoding != merged.end()) merged.erase(encoding);
    merged.emplace("Accept-Encoding", decodableEncodings());
    encoding = text::findIgnoringCase(merged, "Accept-Encoding");
  }
  list.acceptEncoding = encoding->second;
  curl_slist* lines = nullptr;
  for (const auto& [name, value] : merged) {
    // "Name;" is curl's spelling of a header with an empty value; "Name:" would remove it.
    auto line = value.empty() ? name + ";" : name + ": " + value;
    lines = curl_slist_append(lines, line.c_str());
  }
  // Apple never waits for 100-continue; curl would, for large uploads (and only for uploads:
  // every line in the list costs curl work on each request).
  if (uploads) lines = curl_slist_append(lines, "Expect:");
  list.lines = std::shared_ptr<curl_slist>(lines, &curl_slist_free_all);
  return list;
}

// The proxy settings of the environment, as curl reads them (url.c, detect_proxy): read once
// per process instead of by curl for every transfer (five getenv walks per request). The
// environment of a running process does not change under it in any way this library supports
// (setenv is not thread-safe).
struct EnvironmentProxies {
  std::string http, https, noProxy;  // "" for none
};

// The certificate authorities of the environment, as OpenSSL's tools and the curl tool read
// them (SSL_CERT_FILE, SSL_CERT_DIR): libcurl itself uses only the bundle it was built with.
// Read once per process, as the proxies are.
struct EnvironmentTrust {
  std::string file, directory;  // "" for curl's default
};

const EnvironmentTrust& environmentTrust() {
  static const EnvironmentTrust trust{platform::environment("SSL_CERT_FILE").value_or(""),
                                      platform::environment("SSL_CERT_DIR").value_or("")};
  return trust;
}

const EnvironmentProxies& environmentProxies() {
  static const EnvironmentProxies proxies = [] {
    auto first = [](std::initializer_list<const char*> names) {
      for (const char* name : names)
        if (auto value = platform::environment(name); value && !value->empty()) return *value;
      return std::string();
    };
    // Only the lower-case http_proxy: HTTP_PROXY can be set by a request's "Proxy:" header in CGI.
    return EnvironmentProxies{first({"http_proxy", "all_proxy", "ALL_PROXY"}),
                              first({"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}),
                              first({"no_proxy", "NO_PROXY"})};
  }();
  return proxies;
}

Date dateAfter(Date start, curl_off_t microseconds) {
  return start + std::chrono::duration_cast<Date::duration>(std::chrono::microseconds(microseconds));
}

}  // namespace

bool HTTPProtocol::canInit(const URLRequest& request) {
  if (!request.url) return false;
  auto scheme = request.url->scheme();
  return scheme == "http" || scheme == "https";
}

HTTPProtocol::HTTPProtocol(const URLRequest& request, std::shared_ptr<URLSessionTask> task,
                           std::shared_ptr<URLProtocolClient> client)
    : URLProtocol(request, std::move(task), client),
      client_(dynamic_cast<LoadingClient*>(client.get())) {}

HTTPProtocol::~HTTPProtocol() = default;

void HTTPProtocol::startLoading() {
  auto self = std::static_pointer_cast<HTTPProtocol>(shared_from_this());
  // Always deferred: the task may start us from inside another transfer's curl callback.
  engine::Loop::shared().post([self] { self->begin(); });
}

void HTTPProtocol::stopLoading() {
  stopped_ = true;
  // A transfer that completed released its handle already: nothing is left to stop.
  if (engine::Loop::shared().isLoopThread() && !easy_ && !pool_) return;
  auto self = std::static_pointer_cast<HTTPProtocol>(shared_from_this());
  engine::Loop::shared().post([self] { self->releaseTransfer(); });
}

void HTTPProtocol::resumeBody() {
  auto self = std::static_pointer_cast<HTTPProtocol>(shared_from_this());
  engine::Loop::shared().post([self] {
    // curl_easy_pause may call onWrite at once with the bytes it held back.
    if (self->easy_ && !self->suspended_ && !self->stopped_) curl_easy_pause(self->easy_, CURLPAUSE_CONT);
  });
}

void HTTPProtocol::setSuspended(bool suspended) {
  auto self = std::static_pointer_cast<HTTPProtocol>(shared_from_this());
  engine::Loop::shared().post([self, suspended] {
    self->suspended_ = suspended;
    if (self->easy_ && !self->stopped_)
      curl_easy_pause(self->easy_, suspended ? CURLPAUSE_ALL : CURLPAUSE_CONT);
  });
}

void HTTPProtocol::fail(const Error& error) {
  if (!stopped_) client_->didFailWithError(*this, error);
}

void HTTPProtocol::begin() {
  if (stopped_) return;
  if (!client_) {
    // Only a task's client can drive the built-in protocol.
    client()->didFailWithError(*this, Error::url(URLError::unknown, request().url, "no loading client"));
    return;
  }
  LoadContext context = client_->loadContext();
  const URL& url = *request().url;
  const bool hasBody = !context.body.empty();
  if (hasBody && (request().httpMethod == "GET")) {
    return fail(Error::url(URLError::dataLengthExceedsMaximum, url, "a GET request cannot have a body"));
  }

  // A plain request (a GET with no body, header fields, proxy settings or credential of its
  // own) sets the same options as the last one did, so a handle that ran one keeps them.
  plain_ = !hasBody && request().httpMethod == "GET" && request().headerFields().empty() &&
           context.defaultHeaders && context.proxy.empty() && !context.credential;
  CURL* easy = plain_ ? context.pool->takeConfiguredHandle() : nullptr;
  const bool configured = easy != nullptr;
  if (!easy) easy = context.pool->takeHandle();
  if (!easy) return fail(Error::url(URLError::unknown, url, "cannot create a transfer"));
  easy_ = easy;
  if (!configureBody(easy, context.body)) {
    releaseTransfer();
    return;
  }
  curl_easy_setopt(easy, CURLOPT_URL, url.absoluteString().c_str());
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errorBuffer_);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, this);
  if (!configured) {
    curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, receiveBufferSize);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_UPLOAD_BUFFERSIZE, sendBufferSize);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    const auto& trust = environmentTrust();
    if (!trust.file.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, trust.file.c_str());
    if (!trust.directory.empty()) curl_easy_setopt(easy, CURLOPT_CAPATH, trust.directory.c_str());
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &HTTPProtocol::onHeader);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &HTTPProtocol::onWrite);
    if (request().httpMethod == "HEAD") {
      curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    } else if (request().httpMethod != "GET" || hasBody) {
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request().httpMethod.c_str());
    }
    configureCredential(easy, context);
  }
  // Every time: a configured handle's last request may have had another scheme.
  const std::string scheme = url.scheme();
  configureProxy(easy, context.proxy, scheme == "https");
  configureHeaders(easy, context, hasBody, configured);
  if (context.cookieStorage) {
    cookies_.emplace(std::move(context.cookieStorage), context.cookieAcceptPolicy, request().mainDocumentURL);
    cookies_->load(easy, url, !request().value("Cookie"));  // a Cookie header of the request's own wins
  }
  context.pool->setSocketCallbacks(easy, scheme == "http");

  pool_ = std::move(context.pool);
  self_ = std::static_pointer_cast<HTTPProtocol>(shared_from_this());
  fetchStart_ = std::chrono::system_clock::now();
  if (pool_->add(easy, this) != CURLM_OK) {
    self_.reset();
    releaseTransfer();
    fail(Error::url(URLError::unknown, url, "cannot start the transfer"));
  }
}

bool HTTPProtocol::configureBody(CURL* easy, const BodySource& body) {
  const URL& url = *request().url;
  if (body.filePath) {
    platform::File file;
    int rc = platform::File::openForReading(*body.filePath, file);
    int code = rc == UV_ENOENT ? URLError::fileDoesNotExist
             : rc == UV_EISDIR ? URLError::fileIsDirectory
             : (rc == UV_EACCES || rc == UV_EPERM) ? URLError::noPermissionsToReadFile
             : rc < 0 ? URLError::cannotOpenFile : 0;
    if (code != 0) {
      fail(Error::url(code, url, fmt::format("{}: {}", *body.filePath, platform::errorName(rc))));
      return false;
    }
    bodyLength_ = file.size();
    bodyFile_ = std::move(file);
  } else if (body.data && !body.data->empty()) {
    bodyData_ = body.data;
    bodyLength_ = static_cast<std::int64_t>(body.data->size());
  } else if (request().httpMethod != "POST" && request().httpMethod != "PUT" &&
             request().httpMethod != "PATCH") {
    return true;  // no body and no Content-Length
  }
  if (body.offset > bodyLength_) {
    fail(Error::url(URLError::cannotOpenFile, url, "the body is shorter than the offset to continue from"));
    return false;
  }
  bodySent_ = body.offset;
  // An upload with a known length: curl sends Content-Length and reads through onRead.
  uploads_ = true;
  curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(bodyLength_ - bodySent_));
  curl_easy_setopt(easy, CURLOPT_READFUNCTION, &HTTPProtocol::onRead);
  curl_easy_setopt(easy, CURLOPT_READDATA, this);
  return true;
}

void HTTPProtocol::configureHeaders(CURL* easy, const LoadContext& context, bool hasBody, bool configured) {
  const bool formBody = hasBody && request().httpMethod == "POST";
  std::optional<RequestHeaderList> built;
  std::optional<RequestHeaderList>* cached = nullptr;
  if (request().headerFields().empty() && context.extraHeaders.empty() && context.defaultHeaders) {
    auto& lists = *context.defaultHeaders;
    cached = formBody ? &lists.withFormUpload : uploads_ ? &lists.withUpload : &lists.withoutUpload;
  }
  if (!cached || !*cached) {
    if (context.extraHeaders.empty()) {
      built = requestHeaderList(request().headerFields(), context.additionalHeaders, uploads_, formBody);
    } else {
      auto fields = request().headerFields();
      fields.insert(fields.end(), context.extraHeaders.begin(), context.extraHeaders.end());
      built = requestHeaderList(fields, context.additionalHeaders, uploads_, formBody);
    }
    if (cached) *cached = built;
  }
  const RequestHeaderList& headers = built ? *built : **cached;
  // A configured handle has the encodings of the session's list, the same for every plain request.
  if (!configured) curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, headers.acceptEncoding.c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.lines.get());
  headerList_ = headers.lines;
}

void HTTPProtocol::configureProxy(CURL* easy, const std::map<std::string, std::string>& proxy, bool https) {
  if (proxy.empty()) {
    // No dictionary: the environment's proxies, given to curl so that it does not look them up.
    const auto& environment = environmentProxies();
    curl_easy_setopt(easy, CURLOPT_PROXY, (https ? environment.https : environment.http).c_str());
    curl_easy_setopt(easy, CURLOPT_NOPROXY, environment.noProxy.c_str());
    return;
  }
  auto get = [&](const char* key) -> std::string {
    auto it = proxy.find(key);
    return it == proxy.end() ? std::string() : it->second;
  };
  const std::string prefix = https ? "HTTPS" : "HTTP";
  if (get((prefix + "Enable").c_str()) != "1") {
    curl_easy_setopt(easy, CURLOPT_PROXY, "");  // proxies configured off: ignore the environment
    return;
  }
  auto host = get((prefix + "Proxy").c_str());
  auto port = get((prefix + "Port").c_str());
  if (host.empty()) return;
  curl_easy_setopt(easy, CURLOPT_PROXY, (port.empty() ? host : host + ":" + port).c_str());
}

void HTTPProtocol::configureCredential(CURL* easy, const LoadContext& context) {
  if (!context.credential) return;
  curl_easy_setopt(easy, CURLOPT_USERNAME, context.credential->user().value_or("").c_str());
  curl_easy_setopt(easy, CURLOPT_PASSWORD, context.credential->password().value_or("").c_str());
  if (context.authenticationMethod == NSURLAuthenticationMethodHTTPDigest) {
    curl_easy_setopt(easy, CURLOPT_HTTPAUTH, CURLAUTH_DIGEST);
    expectDigestRetry_ = true;
  } else {
    curl_easy_setopt(easy, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);  // sent with the first request
  }
}

std::optional<URLProtectionSpace> HTTPProtocol::challengedSpace(const HTTPURLResponse& response) const {
  if (response.statusCode() != 401) return std::nullopt;
  auto challenges = response.value("WWW-Authenticate");
  if (!challenges) return std::nullopt;
  // Several challenges arrive joined with ", "; the strongest scheme we support wins.
  std::string_view text = *challenges;
  auto schemeAt = [&](std::string_view scheme) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i + scheme.size() <= text.size(); ++i) {
      bool boundary = i == 0 || text[i - 1] == ' ' || text[i - 1] == ',';
      if (boundary && text::equalsIgnoringCase(text.substr(i, scheme.size()), scheme) &&
          (i + scheme.size() == text.size() || text[i + scheme.size()] == ' '))
        return i;
    }
    return std::nullopt;
  };
  auto digest = schemeAt("Digest");
  auto basic = schemeAt("Basic");
  if (!digest && !basic) return std::nullopt;
  std::size_t at = digest ? *digest : *basic;
  std::optional<std::string> realm;
  if (auto r = text.find("realm=\"", at); r != std::string_view::npos) {
    auto end = text.find('"', r + 7);
    if (end != std::string_view::npos) realm = std::string(text.substr(r + 7, end - r - 7));
  }
  const URL& url = *request().url;
  auto scheme = url.scheme();
  return URLProtectionSpace(url.host(), url.port().value_or(scheme == "https" ? 443 : 80), scheme, realm,
                            std::string(digest ? NSURLAuthenticationMethodHTTPDigest : NSURLAuthenticationMethodHTTPBasic));
}

std::size_t HTTPProtocol::onHeader(char* data, std::size_t size, std::size_t count, void* opaque) {
  auto* self = static_cast<HTTPProtocol*>(opaque);
  const std::size_t length = size * count;
  if (self->stopped_) return 0;
  std::string_view line(data, length);
  if (line.starts_with("HTTP/")) {
    // A new response head: "HTTP/1.1 200 OK", "HTTP/2 200".
    auto space = line.find(' ');
    self->httpVersion_ = std::string(line.substr(0, space));
    self->status_ = 0;
    if (space != std::string_view::npos) {
      auto code = text::trimmed(line.substr(space + 1));
      std::from_chars(code.data(), code.data() + std::min<std::size_t>(code.size(), 3), self->status_);
    }
    self->fields_.clear();
    self->fields_.reserve(16);  // a moved-from vector: one allocation for a typical head
  } else if (text::trimmed(line).empty()) {
    self->finishHeaderBlock();
  } else if ((line.front() == ' ' || line.front() == '\t') && !self->fields_.empty()) {
    // obs-fold: the line continues the previous field's value.
    auto& value = self->fields_.back().second;
    value += ' ';
    value += text::trimmed(line);
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    self->fields_.emplace_back(std::string(text::trimmed(line.substr(0, colon))),
                               std::string(text::trimmed(line.substr(colon + 1))));
  }
  return self->stopped_ ? 0 : length;
}

void HTTPProtocol::finishHeaderBlock() {
  if (status_ >= 100 && status_ < 200 && status_ != 101) {
    client_->didReceiveInformationalResponse(
        *this, std::make_shared<HTTPURLResponse>(*request().url, status_, httpVersion_, fields_));
    return;
  }
  if (status_ == 401 && expectDigestRetry_) {
    // curl answers this Digest challenge with the credentials and asks again.
    expectDigestRetry_ = false;
    fields_.clear();
    return;
  }
  finalResponseSeen_ = true;
  auto response = std::make_shared<HTTPURLResponse>(*request().url, status_, httpVersion_, std::move(fields_));
  fields_.clear();
  // Stored before anyone sees the response, so that a redirect's next request carries them.
  if (cookies_ && response->value("Set-Cookie")) cookies_->collect(easy_);
  if (auto space = challengedSpace(*response)) {
    reportMetrics();
    client_->didReceiveAuthenticationChallenge(*this, std::move(*space), response);
  } else if (auto next = redirectRequest(request(), *response)) {
    // A followed redirect stops this transfer before curl completes it: its transaction's
    // metrics are taken now.
    reportMetrics();
    client_->wasRedirectedTo(*this, *next, response);
  } else {
    client_->didReceive(*this, response);
  }
}

std::size_t HTTPProtocol::onWrite(char* data, std::size_t size, std::size_t count, void* opaque) {
  auto* self = static_cast<HTTPProtocol*>(opaque);
  if (self->stopped_) return 0;
  switch (self->client_->receiveBody(*self, data, size * count)) {
    case LoadingClient::BodyVerdict::consumed: return size * count;
    case LoadingClient::BodyVerdict::pause: return CURL_WRITEFUNC_PAUSE;
    case LoadingClient::BodyVerdict::abort: break;
  }
  self->stopped_ = true;
  return 0;
}

std::size_t HTTPProtocol::onRead(char* buffer, std::size_t size, std::size_t count, void* opaque) {
  auto* self = static_cast<HTTPProtocol*>(opaque);
  if (self->stopped_) return CURL_READFUNC_ABORT;
  const std::size_t capacity = size * count;
  std::size_t produced = 0;
  if (self->bodyData_) {
    auto remaining = self->bodyData_->size() - static_cast<std::size_t>(self->bodySent_);
    produced = std::min(capacity, remaining);
    std::memcpy(buffer, self->bodyData_->bytes() + self->bodySent_, produced);
  } else if (self->bodyFile_.isOpen()) {
    auto n = self->bodyFile_.read(buffer, capacity, self->bodySent_);
    if (n < 0) return CURL_READFUNC_ABORT;
    produced = static_cast<std::size_t>(n);
  }
  if (produced > 0) {
    self->bodySent_ += static_cast<std::int64_t>(produced);
    self->client_->didSendBodyData(*self, static_cast<std::int64_t>(produced), self->bodySent_, self->bodyLength_);
  }
  return produced;
}

void HTTPProtocol::transferDidComplete(CURLcode result) {
  auto keepAlive = std::move(self_);
  const bool stopped = stopped_;
  if (!stopped && !metricsReported_) reportMetrics();
  std::string detail = errorBuffer_;
  CURL* easy = easy_;
  if (!stopped) {
    if (result == CURLE_OK && finalResponseSeen_) {
      // An authentication challenge leaves state in the handle that only a reset clears.
      keepOptions_ = plain_ && status_ != 401 && status_ != 407;
      releaseTransfer();
      client_->didFinishLoading(*this);
      return;
    }
    Error error = result == CURLE_OK
        ? Error::url(URLError::badServerResponse, *request().url, "no response")
        : errorForCurlResult(result, easy, *request().url, detail);
    releaseTransfer();
    client_->didFailWithError(*this, error);
    return;
  }
  releaseTransfer();
}

void HTTPProtocol::reportMetrics() {
  metricsReported_ = true;
  if (client_->wantsTransactionMetrics()) client_->didCollectTransactionMetrics(*this, collectMetrics());
}

URLSessionTaskTransactionMetrics HTTPProtocol::collectMetrics() const {
  URLSessionTaskTransactionMetrics m;
  m.request = request();
  m.resourceFetchType = URLSessionTaskTransactionMetrics::ResourceFetchType::networkLoad;
  m.fetchStartDate = fetchStart_;
  curl_off_t lookup = 0, connect = 0, appConnect = 0, preTransfer = 0, startTransfer = 0, total = 0;
  curl_easy_getinfo(easy_, CURLINFO_NAMELOOKUP_TIME_T, &lookup);
  curl_easy_getinfo(easy_, CURLINFO_CONNECT_TIME_T, &connect);
  curl_easy_getinfo(easy_, CURLINFO_APPCONNECT_TIME_T, &appConnect);
  curl_easy_getinfo(easy_, CURLINFO_PRETRANSFER_TIME_T, &preTransfer);
  curl_easy_getinfo(easy_, CURLINFO_STARTTRANSFER_TIME_T, &startTransfer);
  curl_easy_getinfo(easy_, CURLINFO_TOTAL_TIME_T, &total);
  long connects = 0, httpVersion = 0, port = 0, headerBytes = 0, requestBytes = 0;
  curl_easy_getinfo(easy_, CURLINFO_NUM_CONNECTS, &connects);
  curl_easy_getinfo(easy_, CURLINFO_HTTP_VERSION, &httpVersion);
  curl_easy_getinfo(easy_, CURLINFO_PRIMARY_PORT, &port);
  curl_easy_getinfo(easy_, CURLINFO_HEADER_SIZE, &headerBytes);
  curl_easy_getinfo(easy_, CURLINFO_REQUEST_SIZE, &requestBytes);
  curl_off_t uploaded = 0, downloaded = 0;
  curl_easy_getinfo(easy_, CURLINFO_SIZE_UPLOAD_T, &uploaded);
  curl_easy_getinfo(easy_, CURLINFO_SIZE_DOWNLOAD_T, &downloaded);
  char* ip = nullptr;
  curl_easy_getinfo(easy_, CURLINFO_PRIMARY_IP, &ip);

  m.isReusedConnection = connects == 0;
  if (!m.isReusedConnection) {
    m.domainLookupStartDate = fetchStart_;
    m.domainLookupEndDate = dateAfter(fetchStart_, lookup);
    m.connectStartDate = m.domainLookupEndDate;
    m.connectEndDate = dateAfter(fetchStart_, std::max(connect, appConnect));
    if (appConnect > 0) {
      m.secureConnectionStartDate = dateAfter(fetchStart_, connect);
      m.secureConnectionEndDate = dateAfter(fetchStart_, appConnect);
    }
  }
  if (preTransfer > 0) {
    m.requestStartDate = dateAfter(fetchStart_, preTransfer);
    m.requestEndDate = m.requestStartDate;
  }
  if (startTransfer > 0) m.responseStartDate = dateAfter(fetchStart_, startTransfer);
  if (finalResponseSeen_) m.responseEndDate = dateAfter(fetchStart_, total);
  switch (httpVersion) {
    case CURL_HTTP_VERSION_1_0: m.networkProtocolName = "http/1.0"; break;
    case CURL_HTTP_VERSION_1_1: m.networkProtocolName = "http/1.1"; break;
    case CURL_HTTP_VERSION_2_0: m.networkProtocolName = "h2"; break;
    case CURL_HTTP_VERSION_3: m.networkProtocolName = "h3"; break;
    default: break;
  }
  if (ip && *ip) m.remoteAddress = ip;
  if (port > 0) m.remotePort = static_cast<int>(port);
  m.countOfRequestHeaderBytesSent = requestBytes;
  m.countOfRequestBodyBytesSent = uploaded;
  m.countOfResponseHeaderBytesReceived = headerBytes;
  m.countOfResponseBodyBytesReceived = downloaded;
  return m;
}

void HTTPProtocol::releaseTransfer() {
  if (easy_) {
    if (pool_) {
      pool_->remove(easy_);
      CookieJar::clear(easy_);  // a handle's engine stays on: its next transfer must find it empty
      if (keepOptions_) {
        curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, nullptr);  // this protocol's, about to go
        pool_->recycleConfigured(easy_);
      } else {
        pool_->recycle(easy_);
      }
    } else {
      curl_easy_cleanup(easy_);
    }
    easy_ = nullptr;
  }
  bodyFile_.close();
  self_.reset();
  // The pool may be destroyed only outside its own callbacks (see engine::Multi): the last
  // reference is dropped later. Its references are all taken and dropped on the loop thread,
  // so the count is exact here.
  if (pool_.use_count() > 1) {
    pool_.reset();
  } else if (pool_) {
    engine::Loop::shared().post([pool = std::move(pool_)] {});
  }
}

}  // namespace foundation::detail

// Support for the ported peer test suites (test_swift_port.cpp, test_gnustep_port.cpp):
//  - PortDelegate: the delegates of swift-corelibs-foundation's TestURLSession.swift
//    (SessionDelegate, HTTPRedirectionDataTask, DataTask, DownloadTask, HTTPUploadDelegate) in one
//    class. It records the callbacks those delegates record, named after the delegate method, in
//    the same way: progress-like calls (didReceiveData, didSendBodyData, didWriteData) once per run.
//  - SwiftServer: the routes of swift-corelibs-foundation's Tests/Foundation/HTTPServer.swift
//    (TestURLSessionServer) on a fntest::TestServer.
//  - small helpers: waiting on a condition, a closed port, reading files.
#pragma once
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "Recorder.hpp"
#include "TestServer.hpp"

namespace fnport {

using namespace foundation;
using namespace std::chrono_literals;
using fntest::Awaited;
using fntest::HeaderList;
using fntest::RecordedRequest;
using fntest::Responder;
using fntest::TestServer;

// Polls `condition` until it holds or `limit` passes; true when it held.
inline bool waitUntil(const std::function<bool()>& condition, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return condition();
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// A loopback port with nothing listening on it.
using fntest::closedPort;

inline std::optional<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Callback lists as one string, so that a failed comparison shows both sides.
inline std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

inline std::string toLower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

inline std::shared_ptr<URLSession> makeSession(std::shared_ptr<URLSessionDelegate> delegate, TimeInterval timeout,
                                               std::shared_ptr<OperationQueue> queue = nullptr) {
  auto configuration = URLSessionConfiguration::defaultConfiguration();
  configuration.timeoutIntervalForRequest = timeout;
  return URLSession::make(configuration, std::move(delegate), std::move(queue));
}

// ---- the delegate ------------------------------------------------------------------------------

class PortDelegate : public URLSessionDataDelegate, public URLSessionDownloadDelegate {
 public:
  using RedirectAnswer = std::function<void(std::optional<URLRequest>)>;
  // SessionDelegate.redirectionHandler: nil follows the redirect.
  std::function<void(const HTTPURLResponse&, const URLRequest&, RedirectAnswer)> redirectionHandler;
  URLSession::ResponseDisposition responseAnswer = URLSession::ResponseDisposition::allow;

  // --- what was recorded (read from the test thread) ---
  std::vector<std::string> callbacks() const { return locked([&] { return callbacks_; }); }
  std::optional<std::string> receivedData() const { return locked([&] { return receivedData_; }); }
  std::optional<Error> error() const { return locked([&] { return error_; }); }
  std::shared_ptr<const URLResponse> response() const { return locked([&] { return response_; }); }
  std::shared_ptr<const HTTPURLResponse> httpResponse() const {
    return std::dynamic_pointer_cast<const HTTPURLResponse>(response());
  }
  std::shared_ptr<const HTTPURLResponse> redirectionResponse() const {
    return locked([&] { return redirectionResponses_.empty() ? nullptr : redirectionResponses_.back(); });
  }
  std::optional<URLRequest> redirectionRequest() const {
    return locked([&] { return redirectRequests_.empty() ? std::nullopt : std::optional(redirectRequests_.back()); });
  }
  std::vector<URLRequest> redirectRequests() const { return locked([&] { return redirectRequests_; }); }
  std::vector<std::shared_ptr<const HTTPURLResponse>> redirectionResponses() const {
    return locked([&] { return redirectionResponses_; });
  }
  std::int64_t totalBytesSent() const { return totalBytesSent_; }
  std::int64_t totalBytesWritten() const { return totalBytesWritten_; }
  std::int64_t totalBytesExpectedToWrite() const { return totalBytesExpectedToWrite_; }
  int didWriteDataCount() const { return didWriteDataCount_; }
  int didReceiveDataCount() const { return didReceiveDataCount_; }
  int didCreateTaskCount() const { return didCreateTaskCount_; }
  int completionCount() const { return locked([&] { return completions_; }); }
  int didBecomeInvalidCount() const { return locked([&] { return invalidations_; }); }
  std::uint64_t createdTaskIdentifier() const { return createdTask_; }
  std::uint64_t completedTaskIdentifier() const { return completedTask_; }
  // The session each of didCreateTask and didCompleteWithError was last called with.
  const URLSession* createdInSession() const { return createdIn_; }
  const URLSession* completedInSession() const { return locked([&] { return completedIn_; }); }
  // Download task: the file as it was inside didFinishDownloadingTo.
  std::optional<URL> location() const { return locked([&] { return location_; }); }
  std::optional<std::string> downloadedContents() const { return locked([&] { return downloaded_; }); }
  std::int64_t downloadedFileSize() const { return downloadedFileSize_; }

  bool waitForCompletion(int count = 1, std::chrono::milliseconds limit = 10s) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return completions_ >= count; });
  }
  bool waitForInvalidation(std::chrono::milliseconds limit = 10s) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return invalidations_ > 0; });
  }

  // --- URLSessionDelegate ---
  void didBecomeInvalidWithError(URLSession&, const std::optional<Error>& error) override {
    std::lock_guard lock(mutex_);
    callbacks_.push_back("didBecomeInvalidWithError");
    invalidationError_ = error;
    ++invalidations_;
    changed_.notify_all();
  }

  // --- URLSessionTaskDelegate ---
  void didCreateTask(URLSession& session, URLSessionTask& task) override {
    createdIn_ = &session;
    ++didCreateTaskCount_;
    createdTask_ = task.taskIdentifier();
  }
  void willPerformHTTPRedirection(URLSession&, URLSessionTask&, const HTTPURLResponse& response,
                                  const URLRequest& request, RedirectAnswer completionHandler) override {
    {
      std::lock_guard lock(mutex_);
      callbacks_.push_back("willPerformHTTPRedirection");
      redirectRequests_.push_back(request);
      redirectionResponses_.push_back(std::make_shared<HTTPURLResponse>(response));
    }
    if (redirectionHandler)
      redirectionHandler(response, request, std::move(completionHandler));
    else
      completionHandler(request);
  }
  void didSendBodyData(URLSession&, URLSessionTask&, std::int64_t, std::int64_t totalBytesSent,
                       std::int64_t) override {
    std::lock_guard lock(mutex_);
    if (callbacks_.empty() || callbacks_.back() != "didSendBodyData") callbacks_.push_back("didSendBodyData");
    totalBytesSent_ = totalBytesSent;
  }
  void didCompleteWithError(URLSession& session, URLSessionTask& task, const std::optional<Error>& error) override {
    std::lock_guard lock(mutex_);
    completedIn_ = &session;
    callbacks_.push_back("didCompleteWithError");
    error_ = error;
    completedTask_ = task.taskIdentifier();
    ++completions_;
    changed_.notify_all();
  }

  // --- URLSessionDataDelegate ---
  void didReceiveResponse(URLSession&, URLSessionDataTask&, const URLResponse& response,
                          std::function<void(URLSession::ResponseDisposition)> completionHandler) override {
    {
      std::lock_guard lock(mutex_);
      callbacks_.push_back("didReceiveResponse");
      if (auto http = dynamic_cast<const HTTPURLResponse*>(&response))
        response_ = std::make_shared<HTTPURLResponse>(*http);
      else
        response_ = std::make_shared<URLResponse>(response);
    }
    completionHandler(responseAnswer);
  }
  void didReceiveData(URLSession&, URLSessionDataTask&, const Data& data) override {
    std::lock_guard lock(mutex_);
    if (callbacks_.empty() || callbacks_.back() != "didReceiveData") callbacks_.push_back("didReceiveData");
    if (!receivedData_) receivedData_ = std::string();
    receivedData_->append(data.view());
    ++didReceiveDataCount_;
  }

  // --- URLSessionDownloadDelegate ---
  void didWriteData(URLSession&, URLSessionDownloadTask&, std::int64_t, std::int64_t totalBytesWritten,
                    std::int64_t totalBytesExpectedToWrite) override {
    std::lock_guard lock(mutex_);
    if (callbacks_.empty() || callbacks_.back() != "didWriteData") callbacks_.push_back("didWriteData");
    totalBytesWritten_ = totalBytesWritten;
    totalBytesExpectedToWrite_ = totalBytesExpectedToWrite;
    ++didWriteDataCount_;
  }
  void didFinishDownloadingTo(URLSession&, URLSessionDownloadTask&, const URL& location) override {
    auto contents = readFile(location.path());
    std::lock_guard lock(mutex_);
    callbacks_.push_back("didFinishDownloadingTo");
    location_ = location;
    downloaded_ = contents;
    downloadedFileSize_ = contents ? static_cast<std::int64_t>(contents->size()) : -1;
  }

 private:
  template <class F>
  std::invoke_result_t<F> locked(F f) const {
    std::lock_guard lock(mutex_);
    return f();
  }

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<std::string> callbacks_;
  std::optional<std::string> receivedData_;
  std::optional<Error> error_, invalidationError_;
  std::shared_ptr<const URLResponse> response_;
  std::vector<URLRequest> redirectRequests_;
  std::vector<std::shared_ptr<const HTTPURLResponse>> redirectionResponses_;
  std::optional<URL> location_;
  std::optional<std::string> downloaded_;
  std::atomic<std::int64_t> downloadedFileSize_{-1};
  std::atomic<std::int64_t> totalBytesSent_{0}, totalBytesWritten_{0}, totalBytesExpectedToWrite_{0};
  std::atomic<int> didWriteDataCount_{0}, didReceiveDataCount_{0}, didCreateTaskCount_{0};
  std::atomic<std::uint64_t> createdTask_{0}, completedTask_{0};
  std::atomic<const URLSession*> createdIn_{nullptr};
  const URLSession* completedIn_ = nullptr;
  int completions_ = 0;
  int invalidations_ = 0;
};

// ---- the result of a completion-handler task ---------------------------------------------------

struct HandlerResult {
  std::optional<Data> data;
  std::shared_ptr<const URLResponse> response;
  std::optional<Error> error;
  int calls = 0;
};

class HandlerResults {
 public:
  URLSession::DataCompletionHandler handler() {
    return [this](std::optional<Data> d, std::shared_ptr<const URLResponse> r, std::optional<Error> e) {
      std::lock_guard lock(mutex_);
      result_.data = std::move(d);
      result_.response = std::move(r);
      result_.error = std::move(e);
      ++result_.calls;
      changed_.notify_all();
    };
  }
  bool wait(std::chrono::milliseconds limit = 10s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return result_.calls > 0; });
  }
  HandlerResult get() const {
    std::lock_guard lock(mutex_);
    return result_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  HandlerResult result_;
};

inline int statusOf(const std::shared_ptr<const URLResponse>& response) {
  auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(response);
  return http ? http->statusCode() : 0;
}

// ---- swift-corelibs-foundation's TestURLSessionServer ------------------------------------------

// The fields /jsonBody (and /head, /get, /put, /post, /delete, /NNN) answer with: "uri" (the
// request line), each request header by its name as sent, and "x-body" (the request body). The
// Swift server sends them as a JSON object; here they are "name\tvalue\n" lines, values escaped.
using Fields = std::map<std::string, std::string>;

inline std::string escapeField(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c == '\0') out += "\\0";
    else out += c;
  }
  return out;
}

inline std::string unescapeField(std::string_view value) {
  std::string out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '\\' || i + 1 == value.size()) {
      out += value[i];
      continue;
    }
    char next = value[++i];
    out += next == 'n' ? '\n' : next == 'r' ? '\r' : next == 't' ? '\t' : next == '0' ? '\0' : next;
  }
  return out;
}

inline Fields parseFields(std::string_view body) {
  Fields fields;
  std::size_t start = 0;
  while (start < body.size()) {
    std::size_t end = body.find('\n', start);
    if (end == std::string_view::npos) end = body.size();
    std::string_view line = body.substr(start, end - start);
    std::size_t tab = line.find('\t');
    if (tab != std::string_view::npos) fields[std::string(line.substr(0, tab))] = unescapeField(line.substr(tab + 1));
    start = end + 1;
  }
  return fields;
}

// A field by name, as the Swift tests look names up in the JSON dictionary (names as sent).
inline std::optional<std::string> field(const Fields& fields, const std::string& name) {
  auto it = fields.find(name);
  if (it != fields.end()) return it->second;
  return std::nullopt;
}

class SwiftServer {
 public:
  SwiftServer() : unreachablePort_(closedPort()) {
    server.route("/*", [this](const RecordedRequest& request, Responder& out) { handle(request, out); });
  }
  std::string url(std::string_view pathAndQuery) const { return server.url(pathAndQuery); }
  std::string base() const { return server.url(""); }
  int port() const { return server.port(); }
  int unreachablePort() const { return unreachablePort_; }

  static inline const std::map<std::string, std::string> capitals = {
      {"Nepal", "Kathmandu"},   {"Peru", "Lima"},         {"Italy", "Rome"},
      {"USA", "Washington, D.C."}, {"UnitedStates", "USA"}, {"UnitedKingdom", "UK"},
      {"UK", "London"},
      {"country.txt", "A country is a region that is identified as a distinct national entity in political geography"}};

 private:
  static std::string requestLine(const RecordedRequest& request) {
    return request.method + " " + request.target + " HTTP/1.1";
  }
  static std::string commaSeparatedHeaders(const RecordedRequest& request) {
    std::string text = requestLine(request) + ",";
    for (const auto& [name, value] : request.headers) text += name + ": " + value + ",";
    return text;
  }
  static std::string headersAsFields(const RecordedRequest& request) {
    std::string text = "uri\t" + escapeField(requestLine(request)) + "\n";
    for (const auto& [name, value] : request.headers) text += name + "\t" + escapeField(value) + "\n";
    if (!request.body.empty()) text += "x-body\t" + escapeField(request.body) + "\n";
    return text;
  }
  static void sendFields(const RecordedRequest& request, Responder& out, int status = 200) {
    out.send(status, {{"Content-Type", "application/json"}}, headersAsFields(request));
  }
  static void reply(Responder& out, int status, HeaderList headers, std::string_view body) {
    out.send(status, std::move(headers), body);
  }
  static void writeAndClose(Responder& out, std::string_view bytes) {
    out.writeRaw(bytes);
    out.close();
  }

  void handle(const RecordedRequest& request, Responder& out) {
    if (auto pause = request.header("x-pause")) {
      double seconds = 0;
      try {
        seconds = std::stod(*pause);
      } catch (...) {
      }
      if (seconds > 0 && !out.sleepFor(std::chrono::milliseconds(static_cast<long>(seconds * 1000))))
        return out.close();
    }
    const std::string& uri = request.path;
    if (uri.starts_with("/LandOfTheLostCities/")) return brokenResponse(uri, out);
    if (uri == "/unauthorized")
      return reply(out, 401, {{"WWW-Authenticate", "Basic realm=\"Fake Relam\""}}, "");

    if (uri == "/jsonBody") return sendFields(request, out);
    for (const char* method : {"HEAD", "GET", "PUT", "POST", "DELETE"}) {
      if (uri == "/" + toLower(method)) {
        if (request.method != method) return reply(out, 405, {}, "Method not allowed");
        return sendFields(request, out);
      }
    }
    if (uri.starts_with("/redirect/")) {
      int count = std::atoi(uri.c_str() + 10);
      std::string location = count <= 1 ? "/jsonBody" : "/redirect/" + std::to_string(count - 1);
      return reply(out, 302, {{"Location", location}}, "Redirecting to " + location);
    }
    if (uri == "/upload") {
      if (auto length = request.header("Content-Length"))
        return reply(out, 200, {}, "Upload completed!, Content-Length: " + *length);
      if (request.header("Transfer-Encoding") == "chunked") return reply(out, 200, {}, "Received Chunked request");
      return reply(out, 400, {}, "Missing Content-Length");
    }
    if (uri == "/requestHeaders" || uri == "/echoHeaders") return reply(out, 200, {}, commaSeparatedHeaders(request));
    if (uri == "/emptyPost") return reply(out, request.header("Content-Type") ? 404 : 200, {}, "");
    if (uri == "/requestCookies")
      return reply(out, 200,
                      {{"Set-Cookie", "fr=anjd&232; Max-Age=7776000; path=/"},
                       {"Set-Cookie", "nm=sddf&232; Max-Age=7776000; path=/; domain=.swift.org; secure; httponly"}},
                      "");
    if (uri == "/UnitedStates")  // Swift: port + 1, which nothing listens on
      return reply(out, 302, {{"Location", "http://127.0.0.1:" + std::to_string(unreachablePort_) + "/USA"}},
                      commaSeparatedHeaders(request));
    if (uri == "/UnitedKingdom") return reply(out, 302, {{"Location", "UK"}}, commaSeparatedHeaders(request));
    if (uri == "/echo") return reply(out, 200, {}, request.body);
    if (uri == "/redirect-with-default-port")
      return reply(out, 302, {{"Location", "http://127.0.0.1/redirected-with-default-port"}},
                      commaSeparatedHeaders(request));
    if (uri == "/gzipped-response") {
      static const unsigned char helloWorld[] = {0x1f, 0x8b, 0x08, 0x00, 0x6d, 0xca, 0xb2, 0x5c, 0x00, 0x03, 0xf3,
                                                 0x48, 0xcd, 0xc9, 0xc9, 0x57, 0x08, 0xcf, 0x2f, 0xca, 0x49, 0x51,
                                                 0x04, 0x00, 0xa3, 0x1c, 0x29, 0x1c, 0x0c, 0x00, 0x00, 0x00};
      return reply(out, 200, {{"Content-Length", std::to_string(sizeof helloWorld)}, {"Content-Encoding", "gzip"}},
                      std::string_view(reinterpret_cast<const char*>(helloWorld), sizeof helloWorld));
    }
    if (uri == "/echo-query") {
      std::string body;
      for (const auto& [key, value] : request.query) body += (body.empty() ? "" : "&") + key + "=" + value;
      return reply(out, 200, {}, body);
    }
    // /NNN: a three-digit HTTP status
    if (uri.size() == 4 && std::isdigit(static_cast<unsigned char>(uri[1])) &&
        std::isdigit(static_cast<unsigned char>(uri[2])) && std::isdigit(static_cast<unsigned char>(uri[3])))
      return statusCodeResponse(request, out, std::atoi(uri.c_str() + 1));

    auto capital = capitals.find(uri.substr(1));
    if (capital == capitals.end()) return reply(out, 404, {}, "");
    reply(out, 200, {}, capital->second);
  }

  static void statusCodeResponse(const RecordedRequest& request, Responder& out, int status) {
    if ((status >= 300 && status <= 303) || (status >= 305 && status <= 308)) {
      auto found = request.query.find("location");
      std::string location = found != request.query.end() ? found->second : "/" + toLower(request.method);
      return reply(out, status, {{"Content-Type", "test/plain"}, {"Location", location}},
                      "Redirecting to " + request.method + " " + location);
    }
    if (status == 401)
      return reply(out, status, {{"Content-Type", "application/json"}, {"WWW-Authenticate", "Basic realm=\"Fake Relam\""}},
                      headersAsFields(request));
    sendFields(request, out, status);
  }

  static void brokenResponse(const std::string& uri, Responder& out) {
    if (uri == "/LandOfTheLostCities/Pompeii") {
      // What an HTTP/2-only server answers an HTTP/1.1 request with: an empty SETTINGS frame,
      // then GOAWAY (PROTOCOL_ERROR) with a reason. No status line.
      const std::string reason = "HTTP/2 client preface string missing or corrupt";
      std::string frames("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);
      const auto length = static_cast<char>(8 + reason.size());
      frames += std::string("\x00\x00", 2) + length + std::string("\x07\x00\x00\x00\x00\x00", 6);
      frames += std::string("\x00\x00\x00\x00\x00\x00\x00\x01", 8) + reason;
      return writeAndClose(out, frames);
    }
    if (uri == "/LandOfTheLostCities/Sodom")  // an HTTP/0.9 simple-response: the body alone
      return writeAndClose(out, "an HTTP/0.9 simple-response has no status line and no header fields\r\n");
    if (uri == "/LandOfTheLostCities/Gomorrah") return writeAndClose(out, "HTTP/1.1\r\n\r\n\r\n");
    if (uri == "/LandOfTheLostCities/Myndus")
      return writeAndClose(out,
                           "HTTP/1.1 200 OK\r\n\r\nthis is a body that isn't legal as it's neither chunked encoding "
                           "nor any Content-Length\r\n");
    if (uri == "/LandOfTheLostCities/Kameiros")
      return writeAndClose(out, "HTTP/1.1 999 Wrong Code\r\nillegal: status code (too large)\r\n\r\n");
    if (uri == "/LandOfTheLostCities/Dinavar")
      return writeAndClose(out, "HTTP/1.1 20 Too Few Digits\r\nillegal: status code (too few digits)\r\n\r\n");
    if (uri == "/LandOfTheLostCities/Kuhikugu")
      return writeAndClose(out, "HTTP/1.1 2000 Too Many Digits\r\nillegal: status code (too many digits)\r\n\r\n");
    writeAndClose(out, "HTTP/1.1 500 Internal Server Error\r\ncase-missing-in: PortSupport.hpp\r\n\r\n");
  }

  int unreachablePort_;

 public:
  TestServer server;  // last: its threads stop before the members above go
};

// ---- shared by the Swift ports ----------------------------------------------------------------

inline const std::vector<std::string> kHTTPMethods = {"HEAD", "GET", "PUT", "POST", "DELETE"};

// HTTPRedirectionDataTask.run(with:): a delegate session (request timeout 8 s) running one data task.
struct DelegateRun {
  std::shared_ptr<PortDelegate> delegate = std::make_shared<PortDelegate>();
  std::shared_ptr<URLSession> session;
  std::shared_ptr<URLSessionDataTask> task;

  DelegateRun() = default;
  explicit DelegateRun(std::function<void(PortDelegate&)> setUp) { setUp(*delegate); }
  DelegateRun& run(const URLRequest& request, TimeInterval timeout = 8) {
    session = makeSession(delegate, timeout);
    task = session->dataTask(request);
    task->resume();
    return *this;
  }
  DelegateRun& run(const URL& url, TimeInterval timeout = 8) {
    session = makeSession(delegate, timeout);
    task = session->dataTask(url);
    task->resume();
    return *this;
  }
  bool wait(std::chrono::milliseconds limit = 10s) { return delegate->waitForCompletion(1, limit); }
};

inline URLRequest requestWith(const std::string& url, const std::string& method) {
  URLRequest request{URL(url)};
  request.httpMethod = method;
  return request;
}

inline HandlerResult runHandlerTask(const std::shared_ptr<URLSession>& session, const URLRequest& request) {
  HandlerResults results;
  session->dataTask(request, results.handler())->resume();
  REQUIRE(results.wait());
  return results.get();
}


// One followed redirect per method: willPerformHTTPRedirection with the 3xx, then the target's
// answer; `methodAfter` names the method the target must see for each original method.
inline void checkFollowedRedirect(SwiftServer& server, int statusCode,
                                  const std::function<std::string(const std::string&)>& methodAfter) {
  for (const auto& method : kHTTPMethods) {
    CAPTURE(statusCode);
    CAPTURE(method);
    DelegateRun d;
    d.run(requestWith(server.url("/" + std::to_string(statusCode) + "?location=jsonBody"), method));
    REQUIRE(d.wait());
    CHECK_FALSE(d.delegate->error());
    CHECK(statusOf(d.delegate->response()) == 200);
    REQUIRE(d.delegate->redirectionResponse());
    CHECK(d.delegate->redirectionResponse()->statusCode() == statusCode);
    const std::string after = methodAfter(method);
    if (after == "HEAD") {
      CHECK(joined(d.delegate->callbacks()) == joined({"willPerformHTTPRedirection", "didReceiveResponse", "didCompleteWithError"}));
      CHECK_FALSE(d.delegate->receivedData());
      CHECK(server.server.requests().back().method == "HEAD");
    } else {
      CHECK(joined(d.delegate->callbacks()) == joined({"willPerformHTTPRedirection", "didReceiveResponse",
                                                                "didReceiveData", "didCompleteWithError"}));
      auto fields = parseFields(d.delegate->receivedData().value_or(""));
      CHECK(field(fields, "uri") == after + " /jsonBody HTTP/1.1");
    }
  }
}

}  // namespace fnport

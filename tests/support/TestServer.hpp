// A loopback HTTP/1.1 server for tests and benchmarks of the URL loading library.
//
// It runs in-process on 127.0.0.1 with one blocking thread per connection and
// keeps connections alive unless asked not to. Destruction never waits for
// clients: it shuts down every socket and wakes every sleeping handler, then
// joins all threads.
//
// Built-in routes (query options in brackets; bodies are text/plain unless noted):
//   /hello                      200 "Hello, world!"
//   /bytes?n=N                  N pattern bytes from offset 0, application/octet-stream
//                               [chunked=1: 64 KiB chunks; nolength=1: no length, then close
//                                (hold_ms=H: H ms after the last byte);
//                                etag=X: ETag "X" (weak=1: W/"X", never matches If-Range);
//                                lastmod=1: fixed Last-Modified;
//                                ranges=1: Accept-Ranges, Range bytes=A-B|A-|-S -> 206/416, If-Range;
//                                pace_ms=P[&chunk=C]: C bytes (default 64 KiB) every P ms
//                                [&pace_full_only=1: 206 answers are not paced];
//                                drop_after=D: the connection closes when the body reaches
//                                offset D of the resource (a range starting at D or later is whole)]
//   /echo                       200; body = request head as received + request body;
//                               X-Echo-Method, X-Echo-Body-Length (see parseEcho)
//   /status/CODE                that status, body "status CODE" (none for 204/304/HEAD)
//                               [location=URL; retry_after=V: Retry-After V]; 1xx sends "HTTP/1.1 1xx Info", then 200 "after informational"
//   /redirect/N                 302 "redirecting N", Location /redirect/N-1 (query kept);
//                               /redirect/0 is 200 "redirect done"
//                               [status=301|302|303|307|308; absolute=1: full URL; relative=1: "N-1"]
//   /delay?ms=M                 200 "delayed" after M ms
//   /delay-body?ms=M            head at once (Content-Length: 7), body "delayed" after M ms
//   /trickle?n=N&chunk=C&interval_ms=I   N pattern bytes, C at a time, I ms apart
//   /gzip, /deflate             Content-Encoding gzip / deflate (zlib) of "compressed hello " x 1000
//   /bad-gzip                   Content-Encoding gzip with 64 bytes of garbage
//   /folded                     X-Folded obs-folded over two lines, X-Plain: plain, body "folded"
//   /malformed/status           "HTTP/1.1 abc garbage", then close
//   /malformed/garbage          non-HTTP bytes, then close
//   /malformed/truncated        Content-Length: 1000, 10 bytes, then close
//   /malformed/close            close without a response
//   /malformed/never            no response until the server stops (or the client leaves)
//   /malformed/huge-header      one 200 KiB header line, body "huge", then close
//   /malformed/bad-length       Content-Length: abc
//   /malformed/bad-chunked      chunked with an invalid chunk-size line
//   /concurrent?ms=M            200 "ok" after M ms (see maxConcurrentRequests)
//   /auth/basic?user=U&pass=P   401 "unauthorized" + WWW-Authenticate Basic realm="fntest",
//                               or 200 "authorized" with matching Basic credentials
//   /headers                    200, one "name: value\n" line per request header
//   /resumable-upload           an upload speaking the IETF "Resumable Uploads for HTTP" draft,
//                               interop versions 3, 5 and 6 (the client's Upload-Draft-Interop-Version):
//                               104 Upload Resumption Supported + Location /resumable-upload/ID, the
//                               body stored as it arrives, then 200 "stored N bytes" once complete
//                               [version=V: speak only V; plain=1: no draft (no 104, body read, 200);
//                                drop_after=A,B,…: the connection closes (FIN, the rest read and
//                                dropped) when the upload reaches offset A (once), then B, …, in
//                                any of its requests; only the first upload of a target is cut,
//                                so a client that starts over succeeds;
//                                head_lag=K: the first HEAD reports K bytes fewer than stored;
//                                lose_response=1: the first upload of a target completes, then
//                                its connection closes before the final response;
//                                pace_ms=P: P ms after each 16 KiB read]
//   /resumable-upload/ID        HEAD: 204 + Upload-Offset and the completion field; PATCH with
//                               Upload-Offset appends (409 + Upload-Offset on a mismatch, 415 for v6
//                               without Content-Type: application/partial-upload; the refused body
//                               is read and dropped); DELETE: 204.
//                               A HEAD or PATCH waits until no earlier request still writes the upload.
//   anything else               404 "not found"
// A malformed numeric option gets 400. Request heads over 1 MiB drop the connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fntest {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Deterministic body content: byte i of every generated body is i % 251
// (a prime, so the pattern does not line up with power-of-two buffer sizes).
inline std::uint8_t patternByte(std::uint64_t i) { return static_cast<std::uint8_t>(i % 251); }

inline std::string pattern(std::uint64_t offset, std::size_t length) {
    std::string out(length, '\0');
    for (std::size_t k = 0; k < length; ++k) out[k] = static_cast<char>(patternByte(offset + k));
    return out;
}

// One request as the server received it.
struct RecordedRequest {
    std::string method;
    std::string target;                        // as on the request line, e.g. "/bytes?n=10"
    std::string path;                          // target without the query, not decoded
    std::map<std::string, std::string> query;  // percent-decoded; last value wins
    HeaderList headers;                        // in order, names as sent
    std::string body;                          // decoded from chunked if needed; see requests()
    std::size_t bodySize = 0;                  // full body length even when `body` was trimmed

    // First header with this name (case-insensitive).
    std::optional<std::string> header(std::string_view name) const;
};

// What /echo sent back, parsed from its response body.
struct EchoedRequest {
    std::string method;
    std::string target;
    HeaderList headers;
    std::string body;

    std::optional<std::string> header(std::string_view name) const;
};

EchoedRequest parseEcho(std::string_view responseBody);

// An upload of /resumable-upload as the server holds it.
struct ResumableUpload {
    struct Request {
        std::string method;
        std::optional<std::uint64_t> offset;  // its Upload-Offset
        std::uint64_t bodyBytes = 0;          // body bytes the server read and stored
        int status = 0;                       // 0: the connection dropped before a response
    };
    std::string path;   // the upload resource, as in Location: "/resumable-upload/ID"
    int version = 0;    // the interop version spoken
    std::string bytes;  // what was appended, in order
    bool complete = false;
    bool deleted = false;
    std::vector<Request> requests;  // the creation, HEADs, PATCHes, DELETE, oldest first
};

// A loopback port with nothing listening on it (for connection-refused tests).
int closedPort();

// A loopback port that neither accepts nor refuses connections: a listening socket that never
// accepts, its accept queue already full, so that the SYNs of a new connection are dropped and
// the attempt can only time out (for connect-timeout tests).
class UnansweredPort {
public:
    UnansweredPort();
    ~UnansweredPort();
    UnansweredPort(const UnansweredPort&) = delete;
    UnansweredPort& operator=(const UnansweredPort&) = delete;
    int port() const { return port_; }

private:
    int listener_ = -1;
    std::vector<int> fillers_;
    int port_ = 0;
};

namespace detail {
class Connection;
}

// Handed to route handlers to produce the response on the connection's socket.
// Unless close() is called, the connection stays open for the next request
// afterwards, so a handler using writeRaw() must frame its response itself.
class Responder {
public:
    // Writes bytes as they are. Returns false once the peer is gone.
    bool writeRaw(std::string_view bytes);

    // Writes a complete response. Adds Content-Length unless `headers` already
    // frames the body (or the status has no body); leaves the body out for HEAD.
    bool send(int status, HeaderList headers, std::string_view body);

    // Writes only the status line and `headers`, for handlers that stream the
    // body with writeRaw() afterwards. Adds nothing but "Connection: close"
    // when the connection will close.
    bool sendHead(int status, const HeaderList& headers);

    // Waits, but wakes early and returns false when the server is stopping.
    bool sleepFor(std::chrono::milliseconds duration);

    // Closes the connection after the handler returns.
    void close();

    bool stopping() const;

private:
    friend class detail::Connection;
    Responder(detail::Connection& connection, const std::string& method, bool keepAlive)
        : connection_(connection), method_(method), keepAlive_(keepAlive) {}
    std::string formatHead(int status, const HeaderList& headers) const;

    detail::Connection& connection_;
    const std::string& method_;
    bool keepAlive_;
    bool closeRequested_ = false;
    bool wroteSomething_ = false;
    bool failed_ = false;
};

class TestServer {
public:
    using Handler = std::function<void(const RecordedRequest&, Responder&)>;

    TestServer();                    // 127.0.0.1 on a free port
    explicit TestServer(int port);   // 127.0.0.1:port (0 = free port); throws if it cannot bind
    ~TestServer();
    TestServer(const TestServer&) = delete;
    TestServer& operator=(const TestServer&) = delete;

    int port() const;
    std::string url(std::string_view pathAndQuery) const;  // "http://127.0.0.1:PORT" + pathAndQuery

    // Adds a route matched on the exact path, or on a prefix when `path` ends
    // with '*'; test routes take precedence over the built-in ones. The handler
    // runs on the connection's thread: it should wait only with sleepFor(), or
    // the server's destructor waits for it. A handler that neither writes nor
    // calls close() gets a 500.
    void route(std::string path, Handler handler);

    // The request log, oldest first, recorded as each request starts being
    // handled. It keeps the last 10,000 requests; only the last 1000 keep their
    // body, and at most 64 KiB of it (bodySize is always exact).
    std::vector<RecordedRequest> requests() const;
    std::size_t requestCount() const;  // requests since start or clearRequests(), uncapped
    void clearRequests();
    // Whether requests() records requests (the default); requestCount() counts them either way.
    // Benchmarks turn it off: copying each request's header fields into the log costs the server
    // more for a client that sends more fields, which is not what they measure.
    void setRecordsRequests(bool records);

    // /resumable-upload's uploads, oldest first.
    std::vector<ResumableUpload> resumableUploads() const;

    int maxConcurrentConnections() const;  // most client connections open at once
    int maxConcurrentRequests() const;     // most requests being handled at once
    int connectionsAccepted() const;
    std::uint64_t bytesSent() const;       // every byte written to clients (heads and bodies), never reset
    // Maxima restart from what is open right now; the accepted count from 0.
    void resetCounters();

private:
    friend class detail::Connection;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace fntest

// Loopback HTTP/1.1 test server: one blocking thread per connection.
// The built-in routes are listed in TestServer.hpp.
#include "TestServer.hpp"

#include "FileDescriptor.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <list>
#include <set>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace fntest {
namespace {

constexpr std::size_t kMaxHeadSize = 1 << 20;            // larger request heads drop the connection
constexpr std::size_t kMaxLineSize = 64 * 1024;          // chunk-size and trailer lines
constexpr std::uint64_t kMaxRequestBody = 1ull << 30;
constexpr std::size_t kLoggedBodyLimit = 64 * 1024;
constexpr std::size_t kRequestsKeepingBodies = 1000;
constexpr std::size_t kMaxLoggedRequests = 10'000;
constexpr std::size_t kResponseChunkSize = 64 * 1024;
constexpr std::uint64_t kMaxDelayMs = 3'600'000;
constexpr std::string_view kLastModified = "Wed, 21 Oct 2015 07:28:00 GMT";

// ---- Small string helpers -------------------------------------------------

char toLowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return toLowerAscii(x) == toLowerAscii(y); });
}

bool startsWithIgnoringCase(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && equalsIgnoringCase(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::optional<std::uint64_t> parseUnsigned(std::string_view s, int base = 10) {
    std::uint64_t value = 0;
    auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), value, base);
    if (s.empty() || error != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return value;
}

std::optional<std::string> findHeader(const HeaderList& headers, std::string_view name) {
    for (const auto& [key, value] : headers)
        if (equalsIgnoringCase(key, name)) return value;
    return std::nullopt;
}

// True if any `name` header lists `token` in its comma-separated value.
bool headerHasToken(const HeaderList& headers, std::string_view name, std::string_view token) {
    for (const auto& [key, value] : headers) {
        if (!equalsIgnoringCase(key, name)) continue;
        std::string_view rest = value;
        while (!rest.empty()) {
            std::size_t comma = rest.find(',');
            if (equalsIgnoringCase(trim(rest.substr(0, comma)), token)) return true;
            rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        }
    }
    return false;
}

int hexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Decodes %XX escapes; malformed escapes are kept as they are.
std::string percentDecode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hexDigit(s[i + 1]) >= 0 && hexDigit(s[i + 2]) >= 0) {
            out += static_cast<char>(hexDigit(s[i + 1]) * 16 + hexDigit(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::map<std::string, std::string> parseQuery(std::string_view query) {
    std::map<std::string, std::string> result;
    while (!query.empty()) {
        std::size_t amp = query.find('&');
        std::string_view item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (item.empty()) continue;
        std::size_t eq = item.find('=');
        std::string key = percentDecode(item.substr(0, eq));
        result[key] = eq == std::string_view::npos ? std::string() : percentDecode(item.substr(eq + 1));
    }
    return result;
}

std::string base64(std::string_view in) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < in.size(); i += 3) {
        std::uint32_t n = static_cast<std::uint8_t>(in[i]) << 16;
        if (i + 1 < in.size()) n |= static_cast<std::uint8_t>(in[i + 1]) << 8;
        if (i + 2 < in.size()) n |= static_cast<std::uint8_t>(in[i + 2]);
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
        out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
        out += i + 2 < in.size() ? kAlphabet[n & 63] : '=';
    }
    return out;
}

std::string_view reasonPhrase(int status) {
    switch (status) {
        case 100: return "Continue";
        case 101: return "Switching Protocols";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 206: return "Partial Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 303: return "See Other";
        case 304: return "Not Modified";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 413: return "Content Too Large";
        case 416: return "Range Not Satisfiable";
        case 429: return "Too Many Requests";
        case 500: return "Internal Server Error";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        default: return "Status";
    }
}

// ---- Precomputed bodies ------------------------------------------------------

// A whole number of pattern periods, so that any offset o starts at o % 251 and
// large bodies go out in ~1 MiB write() calls straight from this buffer.
const std::string& patternBuffer() {
    static const std::string buffer = pattern(0, 251 * 4096);
    return buffer;
}

// Up to the end of the buffer: at most ~1 MiB, at least 1 MiB - 250 bytes.
std::string_view patternSlice(std::uint64_t offset, std::uint64_t length) {
    const std::string& buffer = patternBuffer();
    std::size_t start = offset % 251;
    return std::string_view(buffer).substr(start, std::min<std::uint64_t>(length, buffer.size() - start));
}

std::string compress(std::string_view input, int windowBits) {
    z_stream stream{};
    if (deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw std::runtime_error("deflateInit2 failed");
    std::string out(deflateBound(&stream, input.size()), '\0');
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
    stream.avail_in = static_cast<uInt>(input.size());
    stream.next_out = reinterpret_cast<Bytef*>(out.data());
    stream.avail_out = static_cast<uInt>(out.size());
    int result = deflate(&stream, Z_FINISH);
    out.resize(stream.total_out);
    deflateEnd(&stream);
    if (result != Z_STREAM_END) throw std::runtime_error("deflate failed");
    return out;
}

std::string compressedText() {
    std::string text;
    for (int i = 0; i < 1000; ++i) text += "compressed hello ";
    return text;
}

const std::string& gzipBody() {
    static const std::string body = compress(compressedText(), 15 + 16);  // +16: gzip wrapper
    return body;
}

const std::string& deflateBody() {
    static const std::string body = compress(compressedText(), 15);  // zlib wrapper
    return body;
}

// Deterministic bytes that parse as neither HTTP nor gzip.
std::string garbage(std::size_t length) {
    std::string out(length, '\0');
    std::uint32_t state = 0x2545F491;
    for (char& c : out) {
        state = state * 1664525u + 1013904223u;
        c = static_cast<char>(state >> 24);
    }
    out[0] = '\x80';
    return out;
}

// A request as parsed from the socket, with what only the built-in routes need.
struct Request {
    RecordedRequest recorded;
    std::string rawHead;   // request line and headers exactly as received
    std::string rawQuery;  // target after '?', not decoded
    bool keepAlive = true;
    std::uint64_t unreadBody = 0;  // a route that reads its body itself (resumable uploads)
};

// Routes whose handler reads the request body as it arrives.
bool readsBodyItself(std::string_view path) { return path.starts_with("/resumable-upload"); }

// Appends at the end, consumes from the front; compacts instead of erasing per read.
class InputBuffer {
public:
    std::string_view view() const { return std::string_view(data_).substr(start_); }
    bool empty() const { return start_ == data_.size(); }
    void consume(std::size_t n) {
        start_ += n;
        if (start_ == data_.size()) data_.clear(), start_ = 0;
    }
    void append(const char* bytes, std::size_t n) {
        if (start_ > 0 && start_ >= data_.size() / 2) data_.erase(0, start_), start_ = 0;
        data_.append(bytes, n);
    }

private:
    std::string data_;
    std::size_t start_ = 0;
};

// Thrown by the built-in routes on an unusable query value; answered with 400.
struct BadParameter {
    std::string name;
};

[[noreturn]] void throwErrno(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

}  // namespace

// ---- Server state ------------------------------------------------------------

namespace detail {

// /resumable-upload's uploads, shared by the connections. A request that writes an upload counts
// as its writer until it ends; offset questions and appends wait for the writers to finish, so the
// answer includes every byte an interrupted request delivered.
struct UploadStore {
    struct Slot {
        ResumableUpload upload;
        std::deque<std::uint64_t> dropAt;  // offsets at which a request's connection is dropped
        std::uint64_t headLag = 0;         // subtracted from the next HEAD's offset
        bool loseResponse = false;         // the creating request's final response is not sent
        std::chrono::milliseconds pace{0};
        int writers = 0;
    };
    std::mutex mutex;
    std::condition_variable idle;
    std::map<std::string, Slot> slots;  // by path
    std::vector<std::string> order;     // paths in creation order
    std::set<std::string> targetsSeen;  // creation targets: drop_after cuts only the first upload of each
    int nextId = 1;
};

}  // namespace detail

struct TestServer::Impl {
    explicit Impl(int requestedPort);
    void acceptLoop();
    void stop();
    std::optional<Handler> findRoute(std::string_view path) const;
    void requestStarted(const RecordedRequest& request);
    void requestFinished();
    void connectionFinished(detail::Connection& connection);

    struct ConnectionThread {
        std::unique_ptr<detail::Connection> connection;
        std::thread thread;
    };

    FileDescriptor listener;
    FileDescriptor wakeRead, wakeWrite;  // a byte here ends the accept thread's poll()
    int port = 0;
    std::thread acceptThread;

    mutable std::mutex mutex;  // guards everything below, and Connection::socketClosed/finished
    std::condition_variable stopRequested;
    std::atomic<bool> stopping{false};
    std::list<ConnectionThread> connections;
    std::vector<std::pair<std::string, Handler>> routes;
    std::deque<RecordedRequest> log;
    std::size_t requestsSinceClear = 0;
    std::atomic<bool> recordsRequests{true};  // read without the mutex
    int openConnections = 0;
    int maxOpenConnections = 0;
    int activeRequests = 0;
    int maxActiveRequests = 0;
    int acceptedConnections = 0;
    std::atomic<std::uint64_t> bytesWritten{0};  // every byte any connection sent
    detail::UploadStore uploads;
};

// ---- One client connection ---------------------------------------------------

namespace detail {

class Connection {
public:
    Connection(TestServer::Impl& server, int fd) : server_(server), fd_(fd) {}

    void run() {
        try {
            serve();
        } catch (const std::exception& error) {
            std::fprintf(stderr, "fntest::TestServer: connection dropped: %s\n", error.what());
        } catch (...) {  // e.g. a failed doctest REQUIRE inside a test's handler
            std::fprintf(stderr, "fntest::TestServer: connection dropped: handler threw\n");
        }
        server_.connectionFinished(*this);
    }

    int fd() const { return fd_; }
    int serverPort() const { return server_.port; }
    UploadStore& uploads() { return server_.uploads; }

    // Reads up to `limit` bytes of the request body a route reads itself (see
    // readsBodyItself) into `out`; false when the peer is gone first.
    bool readBodySome(std::uint64_t limit, std::string& out) {
        limit = std::min(limit, unreadBody_);
        if (limit == 0) return true;
        std::size_t taken = takeInput(limit, out);
        unreadBody_ -= taken;
        return taken > 0;
    }
    std::uint64_t unreadBody() const { return unreadBody_; }
    // Reads and drops the rest of such a body; false when the peer is gone first.
    bool skipBody() {
        std::string scratch;
        while (unreadBody_ > 0) {
            scratch.clear();
            if (!readBodySome(64 * 1024, scratch)) return false;
        }
        return true;
    }
    // Ends the connection as a network failure would, but so that the client still reads what
    // was sent before (an RST could discard it): a FIN, then the client's bytes are read and
    // dropped until it closes too (at most 2 s). The socket itself closes after the handler.
    void hangUp() {
        ::shutdown(fd_, SHUT_WR);
        char buffer[64 * 1024];
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (std::chrono::steady_clock::now() < deadline && !stopping()) {
            pollfd readable{fd_, POLLIN, 0};
            if (::poll(&readable, 1, 50) <= 0) continue;
            ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
            if (n == 0 || (n < 0 && errno != EINTR)) return;
        }
    }
    bool stopping() const { return server_.stopping; }

    bool sleepFor(std::chrono::milliseconds duration) {
        std::unique_lock lock(server_.mutex);
        return !server_.stopRequested.wait_for(lock, duration, [&] { return server_.stopping.load(); });
    }

    // The client hung up (used by routes that otherwise wait for the server to stop).
    bool peerClosed() const {
        char byte;
        ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
    }

    bool write(std::string_view bytes) {
        while (!bytes.empty()) {
            ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                return false;
            }
            server_.bytesWritten += static_cast<std::uint64_t>(n);
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    bool writeVectored(iovec* parts, int count) {
        while (count > 0) {
            msghdr message{};
            message.msg_iov = parts;
            message.msg_iovlen = static_cast<std::size_t>(count);
            ssize_t n = ::sendmsg(fd_, &message, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                return false;
            }
            server_.bytesWritten += static_cast<std::uint64_t>(n);
            auto left = static_cast<std::size_t>(n);
            while (count > 0 && left >= parts->iov_len) left -= parts->iov_len, ++parts, --count;
            if (count > 0) {
                parts->iov_base = static_cast<char*>(parts->iov_base) + left;
                parts->iov_len -= left;
            }
        }
        return true;
    }

    bool writePattern(std::uint64_t offset, std::uint64_t length) {
        while (length > 0) {
            std::string_view slice = patternSlice(offset, length);
            if (!write(slice)) return false;
            offset += slice.size();
            length -= slice.size();
        }
        return true;
    }

    // Chunks of up to 64 KiB, each one sendmsg() with no copying of the data.
    bool writePatternChunked(std::uint64_t offset, std::uint64_t length) {
        if (length == 0) return write("0\r\n\r\n");
        while (length > 0) {
            std::string_view slice = patternSlice(offset, std::min<std::uint64_t>(length, kResponseChunkSize));
            char sizeLine[24];
            int sizeLength = std::snprintf(sizeLine, sizeof sizeLine, "%zx\r\n", slice.size());
            std::string_view end = slice.size() == length ? "\r\n0\r\n\r\n" : "\r\n";
            iovec parts[3] = {{sizeLine, static_cast<std::size_t>(sizeLength)},
                              {const_cast<char*>(slice.data()), slice.size()},
                              {const_cast<char*>(end.data()), end.size()}};
            if (!writeVectored(parts, 3)) return false;
            offset += slice.size();
            length -= slice.size();
        }
        return true;
    }

    // Guarded by the server mutex: the socket is closed only under it, so that
    // stop() never shuts down a reused descriptor.
    bool socketClosed = false;
    bool finished = false;

private:
    enum class ReadResult { ok, closed, bad };

    void serve();
    void dispatch(const Request& request, Responder& responder);
    ReadResult readRequest(Request& request);
    ReadResult readChunkedBody(std::string& body);
    bool readBytes(std::uint64_t count, std::string& out);
    // Moves up to `limit` (> 0) buffered bytes to `out`, reading the socket when none are
    // buffered; how many, 0 when the peer is gone.
    std::size_t takeInput(std::uint64_t limit, std::string& out);
    std::optional<std::string> readLine();
    bool fill();

    TestServer::Impl& server_;
    int fd_;
    InputBuffer input_;
    std::uint64_t unreadBody_ = 0;
};

}  // namespace detail

// ---- Request parsing ---------------------------------------------------------

namespace {

// Index just past the blank line that ends the head, if it has arrived.
std::optional<std::size_t> findHeadEnd(std::string_view data) {
    std::size_t lineStart = 0;
    for (;;) {
        std::size_t newline = data.find('\n', lineStart);
        if (newline == std::string_view::npos) return std::nullopt;
        std::size_t length = newline - lineStart;
        if (length == 0 || (length == 1 && data[lineStart] == '\r')) return newline + 1;
        lineStart = newline + 1;
    }
}

std::vector<std::string_view> splitLines(std::string_view text) {
    std::vector<std::string_view> lines;
    while (!text.empty()) {
        std::size_t newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        lines.push_back(line);
        text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    }
    return lines;
}

// Header lines into `headers`; obs-folded continuation lines join the previous value.
bool parseHeaderLines(const std::vector<std::string_view>& lines, std::size_t first, HeaderList& headers) {
    for (std::size_t i = first; i < lines.size() && !lines[i].empty(); ++i) {
        std::string_view line = lines[i];
        if ((line.front() == ' ' || line.front() == '\t') && !headers.empty()) {
            headers.back().second += ' ';
            headers.back().second += trim(line);
            continue;
        }
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) return false;
        headers.emplace_back(std::string(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
    }
    return true;
}

bool parseHead(Request& request) {
    std::vector<std::string_view> lines = splitLines(request.rawHead);
    if (lines.empty()) return false;
    std::string_view requestLine = lines[0];
    std::size_t space1 = requestLine.find(' ');
    std::size_t space2 = requestLine.rfind(' ');
    if (space1 == std::string_view::npos || space2 == space1) return false;
    std::string_view version = requestLine.substr(space2 + 1);
    if (version != "HTTP/1.1" && version != "HTTP/1.0") return false;

    RecordedRequest& recorded = request.recorded;
    recorded.method = requestLine.substr(0, space1);
    recorded.target = trim(requestLine.substr(space1 + 1, space2 - space1 - 1));
    if (recorded.method.empty() || recorded.target.empty()) return false;
    if (!parseHeaderLines(lines, 1, recorded.headers)) return false;

    // Absolute-form targets (as sent to proxies) route by their path.
    std::string_view target = recorded.target;
    if (std::size_t scheme = target.find("://"); scheme != std::string_view::npos && target[0] != '/') {
        std::size_t slash = target.find('/', scheme + 3);
        target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
    std::size_t question = target.find('?');
    recorded.path = target.substr(0, question);
    if (question != std::string_view::npos) request.rawQuery = target.substr(question + 1);
    recorded.query = parseQuery(request.rawQuery);

    if (version == "HTTP/1.1")
        request.keepAlive = !headerHasToken(recorded.headers, "Connection", "close");
    else
        request.keepAlive = headerHasToken(recorded.headers, "Connection", "keep-alive");
    return true;
}

}  // namespace

namespace detail {

bool Connection::fill() {
    char buffer[64 * 1024];
    for (;;) {
        ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
        if (n > 0) {
            input_.append(buffer, static_cast<std::size_t>(n));
            return true;
        }
        if (n < 0 && errno == EINTR) continue;
        return false;
    }
}

std::optional<std::string> Connection::readLine() {
    for (;;) {
        std::string_view data = input_.view();
        if (std::size_t newline = data.find('\n'); newline != std::string_view::npos) {
            std::string line(data.substr(0, newline));
            input_.consume(newline + 1);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            return line;
        }
        if (data.size() > kMaxLineSize || !fill()) return std::nullopt;
    }
}

std::size_t Connection::takeInput(std::uint64_t limit, std::string& out) {
    if (input_.empty() && !fill()) return 0;
    std::string_view data = input_.view();
    std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(limit, data.size()));
    out.append(data.data(), take);
    input_.consume(take);
    return take;
}

bool Connection::readBytes(std::uint64_t count, std::string& out) {
    while (count > 0) {
        std::size_t taken = takeInput(count, out);
        if (taken == 0) return false;
        count -= taken;
    }
    return true;
}

Connection::ReadResult Connection::readChunkedBody(std::string& body) {
    for (;;) {
        std::optional<std::string> line = readLine();
        if (!line) return ReadResult::bad;
        std::string_view sizeText = trim(std::string_view(*line).substr(0, line->find(';')));
        std::optional<std::uint64_t> size = parseUnsigned(sizeText, 16);
        if (!size || *size > kMaxRequestBody - body.size()) return ReadResult::bad;
        if (*size == 0) break;
        if (!readBytes(*size, body)) return ReadResult::closed;
        std::optional<std::string> end = readLine();
        if (!end || !end->empty()) return ReadResult::bad;
    }
    for (;;) {  // trailer fields are read and dropped
        std::optional<std::string> trailer = readLine();
        if (!trailer) return ReadResult::bad;
        if (trailer->empty()) return ReadResult::ok;
    }
}

Connection::ReadResult Connection::readRequest(Request& request) {
    for (;;) {
        std::string_view data = input_.view();
        std::size_t blank = data.find_first_not_of("\r\n");  // stray CRLFs between requests are allowed
        input_.consume(blank == std::string_view::npos ? data.size() : blank);
        data = input_.view();
        if (std::optional<std::size_t> end = findHeadEnd(data)) {
            request.rawHead = data.substr(0, *end);
            input_.consume(*end);
            break;
        }
        if (data.size() > kMaxHeadSize) return ReadResult::bad;
        if (!fill()) return ReadResult::closed;
    }
    if (!parseHead(request)) return ReadResult::bad;

    RecordedRequest& recorded = request.recorded;
    const bool chunked = headerHasToken(recorded.headers, "Transfer-Encoding", "chunked");
    if (!chunked && findHeader(recorded.headers, "Transfer-Encoding")) return ReadResult::bad;
    std::uint64_t contentLength = 0;
    for (const auto& [name, value] : recorded.headers) {
        if (!equalsIgnoringCase(name, "Content-Length")) continue;
        std::optional<std::uint64_t> length = parseUnsigned(trim(value));
        if (!length || *length > kMaxRequestBody || (contentLength != 0 && *length != contentLength))
            return ReadResult::bad;
        contentLength = *length;
    }
    // Without this, clients that send "Expect: 100-continue" stall for a second.
    if ((chunked || contentLength > 0) && headerHasToken(recorded.headers, "Expect", "100-continue") &&
        !write("HTTP/1.1 100 Continue\r\n\r\n"))
        return ReadResult::closed;

    if (readsBodyItself(recorded.path)) {
        if (chunked) return ReadResult::bad;
        request.unreadBody = contentLength;
        return ReadResult::ok;
    }
    if (chunked) {
        if (ReadResult result = readChunkedBody(recorded.body); result != ReadResult::ok) return result;
    } else if (!readBytes(contentLength, recorded.body)) {
        return ReadResult::closed;
    }
    recorded.bodySize = recorded.body.size();
    return ReadResult::ok;
}

void Connection::serve() {
    for (;;) {
        Request request;
        switch (readRequest(request)) {
            case ReadResult::closed: return;
            case ReadResult::bad:
                write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                return;
            case ReadResult::ok: break;
        }
        Responder responder(*this, request.recorded.method, request.keepAlive);
        unreadBody_ = request.unreadBody;
        server_.requestStarted(request.recorded);
        try {
            dispatch(request, responder);
        } catch (...) {
            server_.requestFinished();
            throw;
        }
        server_.requestFinished();
        if (!responder.wroteSomething_ && !responder.closeRequested_)
            responder.send(500, {{"Content-Type", "text/plain"}}, "handler sent no response");
        if (!responder.keepAlive_ || responder.closeRequested_ || responder.failed_ || unreadBody_ > 0) return;
    }
}

}  // namespace detail

// ---- Built-in routes -----------------------------------------------------------

namespace {

// What a built-in route gets: the request, the responder, and the connection
// for bulk writes that bypass Responder.
struct Exchange {
    const Request& request;
    Responder& out;
    detail::Connection& connection;

    const RecordedRequest& recorded() const { return request.recorded; }
    bool isHead() const { return request.recorded.method == "HEAD"; }

    std::optional<std::string> param(const std::string& name) const {
        auto found = request.recorded.query.find(name);
        if (found == request.recorded.query.end()) return std::nullopt;
        return found->second;
    }
    bool flag(const std::string& name) const {
        std::optional<std::string> value = param(name);
        return value && !value->empty() && *value != "0";
    }
    std::uint64_t number(const std::string& name, std::uint64_t fallback) const {
        std::optional<std::string> text = param(name);
        if (!text) return fallback;
        std::optional<std::uint64_t> value = parseUnsigned(*text);
        if (!value) throw BadParameter{name};
        return *value;
    }
    std::chrono::milliseconds millis(const std::string& name) const {
        return std::chrono::milliseconds(std::min(number(name, 0), kMaxDelayMs));
    }
};

const HeaderList kTextPlain = {{"Content-Type", "text/plain"}};

void sendText(Exchange& x, int status, std::string_view body) { x.out.send(status, kTextPlain, body); }

enum class RangeResult { ignored, satisfiable, unsatisfiable };

// A single "bytes=A-B", "bytes=A-" or "bytes=-S"; anything else is ignored (full 200).
RangeResult parseRange(std::string_view header, std::uint64_t total, std::uint64_t& first, std::uint64_t& length) {
    header = trim(header);
    if (!startsWithIgnoringCase(header, "bytes=")) return RangeResult::ignored;
    std::string_view spec = trim(header.substr(6));
    std::size_t dash = spec.find('-');
    if (spec.find(',') != std::string_view::npos || dash == std::string_view::npos) return RangeResult::ignored;
    std::string_view startText = trim(spec.substr(0, dash));
    std::string_view endText = trim(spec.substr(dash + 1));
    if (startText.empty()) {
        std::optional<std::uint64_t> suffix = parseUnsigned(endText);
        if (!suffix) return RangeResult::ignored;
        if (*suffix == 0 || total == 0) return RangeResult::unsatisfiable;
        length = std::min(*suffix, total);
        first = total - length;
        return RangeResult::satisfiable;
    }
    std::optional<std::uint64_t> start = parseUnsigned(startText);
    std::optional<std::uint64_t> end = endText.empty() ? std::optional<std::uint64_t>(UINT64_MAX) : parseUnsigned(endText);
    if (!start || !end || *end < *start) return RangeResult::ignored;
    if (*start >= total) return RangeResult::unsatisfiable;
    first = *start;
    length = std::min(*end, total - 1) - first + 1;
    return RangeResult::satisfiable;
}

void routeBytes(Exchange& x) {
    const std::uint64_t total = x.number("n", 0);
    HeaderList headers{{"Content-Type", "application/octet-stream"}};
    std::string etag;
    if (std::optional<std::string> tag = x.param("etag")) {
        etag = (x.flag("weak") ? "W/\"" : "\"") + *tag + '"';
        headers.emplace_back("ETag", etag);
    }
    const bool lastModified = x.flag("lastmod");
    if (lastModified) headers.emplace_back("Last-Modified", kLastModified);

    int status = 200;
    std::uint64_t first = 0;
    std::uint64_t length = total;
    if (x.flag("ranges")) {
        headers.emplace_back("Accept-Ranges", "bytes");
        std::optional<std::string> range = x.recorded().header("Range");
        std::optional<std::string> ifRange = x.recorded().header("If-Range");
        // A stale If-Range validator means "send me the whole new entity".
        // If-Range compares strongly: a weak ETag never matches.
        bool validatorMatches = !ifRange || (!etag.empty() && !etag.starts_with("W/") && trim(*ifRange) == etag) ||
                                (lastModified && trim(*ifRange) == kLastModified);
        if (range && validatorMatches) {
            switch (parseRange(*range, total, first, length)) {
                case RangeResult::satisfiable:
                    status = 206;
                    headers.emplace_back("Content-Range", "bytes " + std::to_string(first) + "-" +
                                                              std::to_string(first + length - 1) + "/" +
                                                              std::to_string(total));
                    break;
                case RangeResult::unsatisfiable:
                    headers.emplace_back("Content-Range", "bytes */" + std::to_string(total));
                    x.out.send(416, headers, "");
                    return;
                case RangeResult::ignored: break;
            }
        }
    }

    if (x.flag("chunked")) {
        headers.emplace_back("Transfer-Encoding", "chunked");
        if (x.out.sendHead(status, headers) && !x.isHead() && !x.connection.writePatternChunked(first, length))
            x.out.close();
        return;
    }
    if (x.flag("nolength")) {
        x.out.close();  // the end of the body is the end of the connection
        // hold_ms: the client has every byte but cannot know it until the connection closes.
        if (x.out.sendHead(status, headers) && !x.isHead() && x.connection.writePattern(first, length))
            x.out.sleepFor(x.millis("hold_ms"));
        return;
    }
    headers.emplace_back("Content-Length", std::to_string(length));
    if (const std::uint64_t dropAt = x.number("drop_after", 0); dropAt > first && dropAt < first + length) {
        // The connection breaks once the body reaches offset dropAt of the resource.
        if (x.out.sendHead(status, headers) && !x.isHead()) x.connection.writePattern(first, dropAt - first);
        x.out.close();
        return;
    }
    // pace_full_only: only full (200) bodies are slow, so a continuation with Range is fast.
    if (const std::uint64_t pace = x.number("pace_ms", 0); pace > 0 && !(status == 206 && x.flag("pace_full_only"))) {
        // A slow, resumable body: `chunk` bytes every pace_ms, for interruption tests.
        const std::uint64_t chunk = std::max<std::uint64_t>(1, x.number("chunk", 65536));
        if (!x.out.sendHead(status, headers) || x.isHead()) return;
        for (std::uint64_t sent = 0; sent < length; sent += chunk) {
            const std::uint64_t n = std::min(chunk, length - sent);
            if (!x.out.writeRaw(patternSlice(first + sent, n)) ||
                (sent + n < length && !x.out.sleepFor(std::chrono::milliseconds(pace)))) {
                x.out.close();
                return;
            }
        }
        return;
    }
    if (length <= kResponseChunkSize) {  // one write() for small bodies
        x.out.send(status, headers, patternSlice(first, length));
        return;
    }
    if (x.out.sendHead(status, headers) && !x.isHead() && !x.connection.writePattern(first, length)) x.out.close();
}

void routeEcho(Exchange& x) {
    HeaderList headers = kTextPlain;
    headers.emplace_back("X-Echo-Method", x.recorded().method);
    headers.emplace_back("X-Echo-Body-Length", std::to_string(x.recorded().bodySize));
    x.out.send(200, headers, x.request.rawHead + x.recorded().body);
}

void routeStatus(Exchange& x) {
    std::optional<std::uint64_t> code = parseUnsigned(std::string_view(x.recorded().path).substr(8));
    if (!code || *code < 100 || *code > 999) return sendText(x, 400, "bad status code");
    const int status = static_cast<int>(*code);
    if (status < 200) {
        x.out.writeRaw("HTTP/1.1 " + std::to_string(status) + " Info\r\n\r\n");
        return sendText(x, 200, "after informational");
    }
    HeaderList headers = kTextPlain;
    if (std::optional<std::string> location = x.param("location")) headers.emplace_back("Location", *location);
    if (std::optional<std::string> retryAfter = x.param("retry_after")) headers.emplace_back("Retry-After", *retryAfter);
    x.out.send(status, headers, "status " + std::to_string(status));
}

void routeRedirect(Exchange& x) {
    std::optional<std::uint64_t> hops = parseUnsigned(std::string_view(x.recorded().path).substr(10));
    if (!hops) return sendText(x, 400, "bad redirect count");
    if (*hops == 0) return sendText(x, 200, "redirect done");
    const std::uint64_t status = x.number("status", 302);
    if (status != 301 && status != 302 && status != 303 && status != 307 && status != 308) throw BadParameter{"status"};

    // The query string carries the options to every hop.
    std::string next = std::to_string(*hops - 1) + (x.request.rawQuery.empty() ? "" : "?" + x.request.rawQuery);
    std::string location = x.flag("absolute") ? "http://127.0.0.1:" + std::to_string(x.connection.serverPort()) + "/redirect/" + next
                           : x.flag("relative") ? next
                                                : "/redirect/" + next;
    HeaderList headers = kTextPlain;
    headers.emplace_back("Location", location);
    x.out.send(static_cast<int>(status), headers, "redirecting " + std::to_string(*hops));
}

void routeDelay(Exchange& x) {
    if (!x.out.sleepFor(x.millis("ms"))) return x.out.close();
    sendText(x, 200, "delayed");
}

void routeDelayBody(Exchange& x) {
    std::chrono::milliseconds delay = x.millis("ms");
    if (!x.out.sendHead(200, {{"Content-Type", "text/plain"}, {"Content-Length", "7"}}) || x.isHead()) return;
    if (!x.out.sleepFor(delay)) return x.out.close();
    x.out.writeRaw("delayed");
}

void routeTrickle(Exchange& x) {
    const std::uint64_t total = x.number("n", 0);
    const std::uint64_t chunk = std::max<std::uint64_t>(1, x.number("chunk", 1));
    const std::chrono::milliseconds interval = x.millis("interval_ms");
    HeaderList headers{{"Content-Type", "application/octet-stream"}, {"Content-Length", std::to_string(total)}};
    if (!x.out.sendHead(200, headers) || x.isHead()) return;
    for (std::uint64_t offset = 0; offset < total; offset += chunk) {
        if (offset > 0 && !x.out.sleepFor(interval)) return x.out.close();
        if (!x.connection.writePattern(offset, std::min(chunk, total - offset))) return x.out.close();
    }
}

void sendCompressed(Exchange& x, std::string_view encoding, std::string_view body) {
    x.out.send(200, {{"Content-Type", "text/plain"}, {"Content-Encoding", std::string(encoding)}}, body);
}

void routeNever(Exchange& x) {
    // Polls for the client hanging up so that abandoned requests do not pin a thread.
    while (x.out.sleepFor(std::chrono::milliseconds(100)) && !x.connection.peerClosed()) {
    }
    x.out.close();
}

// Writes `bytes` and closes: for responses that cannot be framed.
void writeAndClose(Exchange& x, std::string_view bytes) {
    x.out.writeRaw(bytes);
    x.out.close();
}

void routeHugeHeader(Exchange& x) {
    const std::string name = "X-Huge: ";
    writeAndClose(x, "HTTP/1.1 200 OK\r\n" + name + std::string(200 * 1024 - name.size(), 'a') + "\r\n\r\nhuge");
}

void routeAuthBasic(Exchange& x) {
    std::string expected = base64(x.param("user").value_or("") + ":" + x.param("pass").value_or(""));
    std::optional<std::string> authorization = x.recorded().header("Authorization");
    std::string_view credentials = authorization ? trim(*authorization) : std::string_view();
    if (startsWithIgnoringCase(credentials, "Basic ") && trim(credentials.substr(6)) == expected)
        return sendText(x, 200, "authorized");
    x.out.send(401, {{"Content-Type", "text/plain"}, {"WWW-Authenticate", "Basic realm=\"fntest\""}}, "unauthorized");
}

void routeHeaders(Exchange& x) {
    std::string body;
    for (const auto& [name, value] : x.recorded().headers) body += name + ": " + value + "\n";
    sendText(x, 200, body);
}

// ---- Resumable uploads (IETF "Resumable Uploads for HTTP", interop versions 3, 5, 6) ----

int draftVersion(const RecordedRequest& request) {
    std::optional<std::string> text = request.header("Upload-Draft-Interop-Version");
    std::optional<std::uint64_t> version = text ? parseUnsigned(trim(*text)) : std::nullopt;
    return version && (*version == 3 || *version == 5 || *version == 6) ? static_cast<int>(*version) : 0;
}

// Whether the request says it carries the upload's last bytes: v3 "Upload-Incomplete: ?0" (or
// none), v5 and v6 "Upload-Complete: ?1".
bool saysComplete(const RecordedRequest& request, int version) {
    if (version == 3) return trim(request.header("Upload-Incomplete").value_or("?0")) == "?0";
    return trim(request.header("Upload-Complete").value_or("")) == "?1";
}

std::pair<std::string, std::string> completionField(int version, bool complete) {
    if (version == 3) return {"Upload-Incomplete", complete ? "?0" : "?1"};
    return {"Upload-Complete", complete ? "?1" : "?0"};
}

// Reads the request body into the upload at `path`, dropping the connection at the slot's next
// drop offset. The request's record is `index`. False when the body did not arrive whole.
bool readUploadBody(Exchange& x, const std::string& path, std::size_t index) {
    detail::UploadStore& store = x.connection.uploads();
    struct Writer {
        detail::UploadStore& store;
        detail::UploadStore::Slot& slot;
        std::unique_lock<std::mutex>& lock;
        ~Writer() {
            if (!lock.owns_lock()) lock.lock();
            --slot.writers;
            lock.unlock();
            store.idle.notify_all();
        }
    };
    std::unique_lock lock(store.mutex);
    detail::UploadStore::Slot& slot = store.slots.at(path);
    ++slot.writers;
    Writer writer{store, slot, lock};
    std::string piece;
    for (;;) {
        const std::uint64_t offset = slot.upload.bytes.size();
        while (!slot.dropAt.empty() && slot.dropAt.front() < offset) slot.dropAt.pop_front();
        std::uint64_t limit = x.connection.unreadBody();
        if (!slot.dropAt.empty()) {
            if (slot.dropAt.front() == offset && limit > 0) {
                slot.dropAt.pop_front();
                lock.unlock();
                x.out.close();  // the connection goes with the rest of the body unread
                x.connection.hangUp();
                return false;
            }
            limit = std::min(limit, slot.dropAt.front() - offset);
        }
        if (x.connection.unreadBody() == 0) return true;
        const auto pace = slot.pace;
        lock.unlock();
        piece.clear();
        if (!x.connection.readBodySome(std::min<std::uint64_t>(limit, 16 * 1024), piece)) {
            x.out.close();
            return false;
        }
        if (pace.count() > 0 && !x.out.sleepFor(pace)) return false;
        lock.lock();
        slot.upload.bytes += piece;
        slot.upload.requests[index].bodyBytes += piece.size();
    }
}

// Records a request of the upload at `path`; returns its index.
std::size_t recordUploadRequest(detail::UploadStore& store, const std::string& path, const RecordedRequest& request,
                                std::optional<std::uint64_t> offset) {
    std::lock_guard lock(store.mutex);
    auto& requests = store.slots.at(path).upload.requests;
    requests.push_back({request.method, offset, 0, 0});
    return requests.size() - 1;
}

void answerUpload(Exchange& x, const std::string& path, std::size_t index, int status, HeaderList headers,
                  std::string_view body) {
    {
        detail::UploadStore& store = x.connection.uploads();
        std::lock_guard lock(store.mutex);
        store.slots.at(path).upload.requests[index].status = status;
    }
    x.out.send(status, std::move(headers), body);
}

void routeResumableUpload(Exchange& x) {
    detail::UploadStore& store = x.connection.uploads();
    const int requested = static_cast<int>(x.number("version", 0));
    int version = x.flag("plain") ? 0 : draftVersion(x.recorded());
    if (requested != 0 && requested != version) version = 0;
    std::deque<std::uint64_t> dropAt;
    if (std::optional<std::string> list = x.param("drop_after")) {
        std::string_view rest = *list;
        while (!rest.empty()) {
            std::size_t comma = rest.find(',');
            std::optional<std::uint64_t> at = parseUnsigned(trim(rest.substr(0, comma)));
            if (!at) throw BadParameter{"drop_after"};
            dropAt.push_back(*at);
            rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        }
    }
    std::string path;
    {
        std::lock_guard lock(store.mutex);
        path = "/resumable-upload/" + std::to_string(store.nextId++);
        detail::UploadStore::Slot& slot = store.slots[path];
        slot.upload.path = version ? path : std::string();
        slot.upload.version = version;
        if (store.targetsSeen.insert(x.recorded().target).second) {
            slot.dropAt = std::move(dropAt);
            slot.loseResponse = x.flag("lose_response");
        }
        slot.headLag = x.number("head_lag", 0);
        slot.pace = x.millis("pace_ms");
        store.order.push_back(path);
    }
    const std::size_t index = recordUploadRequest(store, path, x.recorded(), std::nullopt);
    if (version != 0) {
        std::string head = "HTTP/1.1 104 Upload Resumption Supported\r\nUpload-Draft-Interop-Version: " +
                           std::to_string(version) + "\r\nLocation: " + path + "\r\n\r\n";
        if (!x.out.writeRaw(head)) return;
    }
    if (!readUploadBody(x, path, index)) return;
    const bool complete = version == 0 || saysComplete(x.recorded(), version);
    std::size_t stored;
    bool loseResponse;
    {
        std::lock_guard lock(store.mutex);
        auto& slot = store.slots.at(path);
        slot.upload.complete = complete;
        stored = slot.upload.bytes.size();
        loseResponse = slot.loseResponse;
    }
    if (loseResponse) return x.out.close();
    HeaderList headers = kTextPlain;
    if (version != 0) {
        headers.push_back(completionField(version, complete));
        headers.emplace_back("Upload-Offset", std::to_string(stored));
    }
    answerUpload(x, path, index, complete ? 200 : 201, headers, "stored " + std::to_string(stored) + " bytes");
}

void routeUploadResource(Exchange& x) {
    detail::UploadStore& store = x.connection.uploads();
    const std::string& path = x.recorded().path;
    const std::string& method = x.recorded().method;
    std::optional<std::uint64_t> offset;
    if (std::optional<std::string> text = x.recorded().header("Upload-Offset")) offset = parseUnsigned(trim(*text));
    int version = 0;
    std::uint64_t stored = 0;
    bool complete = false;
    {
        std::unique_lock lock(store.mutex);
        auto found = store.slots.find(path);
        if (found == store.slots.end() || found->second.upload.deleted || found->second.upload.version == 0) {
            lock.unlock();
            x.out.close();
            return sendText(x, 404, "no such upload");
        }
        detail::UploadStore::Slot& slot = found->second;
        store.idle.wait_for(lock, std::chrono::seconds(5), [&] { return slot.writers == 0; });
        version = slot.upload.version;
        stored = slot.upload.bytes.size();
        complete = slot.upload.complete;
        if (method == "HEAD") stored -= std::min(stored, std::exchange(slot.headLag, 0));
        if (method == "DELETE") slot.upload.deleted = true;
    }
    const std::size_t index = recordUploadRequest(store, path, x.recorded(), offset);
    HeaderList headers{{"Upload-Draft-Interop-Version", std::to_string(version)}, completionField(version, complete),
                       {"Upload-Offset", std::to_string(stored)}};
    if (method == "HEAD") {
        headers.emplace_back("Cache-Control", "no-store");
        return answerUpload(x, path, index, 204, headers, "");
    }
    if (method == "DELETE") return answerUpload(x, path, index, 204, {}, "");
    if (method != "PATCH") {
        x.out.close();
        return answerUpload(x, path, index, 405, kTextPlain, "method not allowed");
    }
    // Refused: the body is read and dropped (an answer before it could be lost to an RST).
    auto refuse = [&](int status, HeaderList fields, std::string_view body) {
        if (!x.connection.skipBody()) return x.out.close();
        answerUpload(x, path, index, status, std::move(fields), body);
    };
    if (version == 6 && trim(x.recorded().header("Content-Type").value_or("")) != "application/partial-upload")
        return refuse(415, kTextPlain, "a PATCH needs Content-Type: application/partial-upload");
    if (complete) return refuse(400, kTextPlain, "the upload is complete");
    if (!offset || *offset != stored) return refuse(409, headers, "offset mismatch");
    if (!readUploadBody(x, path, index)) return;
    const bool nowComplete = saysComplete(x.recorded(), version);
    {
        std::lock_guard lock(store.mutex);
        auto& upload = store.slots.at(path).upload;
        upload.complete = nowComplete;
        stored = upload.bytes.size();
    }
    headers = kTextPlain;
    headers.push_back(completionField(version, nowComplete));
    headers.emplace_back("Upload-Offset", std::to_string(stored));
    answerUpload(x, path, index, nowComplete ? 200 : 204, headers, "stored " + std::to_string(stored) + " bytes");
}

struct BuiltinRoute {
    std::string_view path;
    bool isPrefix;
    void (*handler)(Exchange&);
};

const BuiltinRoute kBuiltinRoutes[] = {
    {"/hello", false, [](Exchange& x) { sendText(x, 200, "Hello, world!"); }},
    {"/bytes", false, routeBytes},
    {"/echo", false, routeEcho},
    {"/status/", true, routeStatus},
    {"/redirect/", true, routeRedirect},
    {"/delay", false, routeDelay},
    {"/delay-body", false, routeDelayBody},
    {"/trickle", false, routeTrickle},
    {"/gzip", false, [](Exchange& x) { sendCompressed(x, "gzip", gzipBody()); }},
    {"/deflate", false, [](Exchange& x) { sendCompressed(x, "deflate", deflateBody()); }},
    {"/bad-gzip", false, [](Exchange& x) { sendCompressed(x, "gzip", garbage(64)); }},
    {"/folded", false,
     [](Exchange& x) {
         x.out.writeRaw(std::string("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Folded: first\r\n second\r\n"
                                    "X-Plain: plain\r\nContent-Length: 6\r\n\r\n") +
                        (x.isHead() ? "" : "folded"));
     }},
    {"/malformed/status", false, [](Exchange& x) { writeAndClose(x, "HTTP/1.1 abc garbage\r\n\r\n"); }},
    {"/malformed/garbage", false, [](Exchange& x) { writeAndClose(x, garbage(256)); }},
    {"/malformed/truncated", false,
     [](Exchange& x) {
         writeAndClose(x, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n" +
                              pattern(0, 10));
     }},
    {"/malformed/close", false, [](Exchange& x) { x.out.close(); }},
    {"/malformed/never", false, routeNever},
    {"/malformed/huge-header", false, routeHugeHeader},
    {"/malformed/bad-length", false,
     [](Exchange& x) { writeAndClose(x, "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nbody"); }},
    {"/malformed/bad-chunked", false,
     [](Exchange& x) {
         writeAndClose(x, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
     }},
    {"/concurrent", false,
     [](Exchange& x) {
         if (!x.out.sleepFor(x.millis("ms"))) return x.out.close();
         sendText(x, 200, "ok");
     }},
    {"/auth/basic", false, routeAuthBasic},
    {"/headers", false, routeHeaders},
    {"/resumable-upload", false, routeResumableUpload},
    {"/resumable-upload/", true, routeUploadResource},
};

}  // namespace

void detail::Connection::dispatch(const Request& request, Responder& responder) {
    const std::string& path = request.recorded.path;
    if (std::optional<TestServer::Handler> handler = server_.findRoute(path)) return (*handler)(request.recorded, responder);

    Exchange exchange{request, responder, *this};
    try {
        for (const BuiltinRoute& route : kBuiltinRoutes) {
            if (route.isPrefix ? path.starts_with(route.path) : path == route.path) return route.handler(exchange);
        }
        sendText(exchange, 404, "not found");
    } catch (const BadParameter& error) {
        if (responder.wroteSomething_) return responder.close();
        sendText(exchange, 400, "bad parameter " + error.name);
    }
}

// ---- TestServer::Impl -------------------------------------------------------------

TestServer::Impl::Impl(int requestedPort) {
    if (requestedPort < 0 || requestedPort > 65535) throw std::invalid_argument("TestServer: bad port");
    patternBuffer();  // build the shared bodies now rather than inside a timed request
    gzipBody();
    deflateBody();

    listener.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener.fd < 0) throwErrno("TestServer: socket");
    int one = 1;
    ::setsockopt(listener.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // quick restarts on a fixed port
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(requestedPort));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) throwErrno("TestServer: bind");
    if (::listen(listener.fd, SOMAXCONN) < 0) throwErrno("TestServer: listen");
    socklen_t addressLength = sizeof address;
    if (::getsockname(listener.fd, reinterpret_cast<sockaddr*>(&address), &addressLength) < 0)
        throwErrno("TestServer: getsockname");
    port = ntohs(address.sin_port);

    int pipeFds[2];
    if (::pipe2(pipeFds, O_CLOEXEC) < 0) throwErrno("TestServer: pipe2");
    wakeRead.fd = pipeFds[0];
    wakeWrite.fd = pipeFds[1];
    acceptThread = std::thread([this] { acceptLoop(); });
}

void TestServer::Impl::acceptLoop() {
    for (;;) {
        pollfd fds[2] = {{listener.fd, POLLIN, 0}, {wakeRead.fd, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
        if (fds[1].revents != 0 || stopping) return;
        if (fds[0].revents == 0) continue;

        int fd = ::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            // Out of descriptors or memory: back off instead of spinning.
            if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            continue;
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

        std::list<ConnectionThread> finished;
        {
            std::lock_guard lock(mutex);
            if (stopping) {
                ::close(fd);
                return;
            }
            // Reap threads that are done, so that long runs do not accumulate them.
            for (auto it = connections.begin(); it != connections.end();) {
                auto next = std::next(it);
                if (it->connection->finished) finished.splice(finished.end(), connections, it);
                it = next;
            }
            ConnectionThread& entry = connections.emplace_back();
            entry.connection = std::make_unique<detail::Connection>(*this, fd);
            try {
                entry.thread = std::thread([connection = entry.connection.get()] { connection->run(); });
                ++acceptedConnections;
                maxOpenConnections = std::max(maxOpenConnections, ++openConnections);
            } catch (const std::system_error&) {
                ::close(fd);
                connections.pop_back();
            }
        }
        for (ConnectionThread& entry : finished) entry.thread.join();
    }
}

void TestServer::Impl::stop() {
    {
        std::lock_guard lock(mutex);
        if (stopping) return;
        stopping = true;
        // Wakes threads blocked in recv()/send(); their sockets get closed by themselves.
        for (ConnectionThread& entry : connections)
            if (!entry.connection->socketClosed) ::shutdown(entry.connection->fd(), SHUT_RDWR);
    }
    stopRequested.notify_all();
    char byte = 1;
    while (::write(wakeWrite.fd, &byte, 1) < 0 && errno == EINTR) {
    }
    if (acceptThread.joinable()) acceptThread.join();
    // Only the accept thread adds connections, so the list is final now.
    for (ConnectionThread& entry : connections) entry.thread.join();
    connections.clear();
}

std::optional<TestServer::Handler> TestServer::Impl::findRoute(std::string_view path) const {
    std::lock_guard lock(mutex);
    for (const auto& [routePath, handler] : routes) {
        bool matches = !routePath.empty() && routePath.back() == '*'
                           ? path.starts_with(std::string_view(routePath).substr(0, routePath.size() - 1))
                           : path == routePath;
        if (matches) return handler;
    }
    return std::nullopt;
}

void TestServer::Impl::requestStarted(const RecordedRequest& request) {
    const bool records = recordsRequests;
    RecordedRequest entry;
    if (records) {
        entry.method = request.method;
        entry.target = request.target;
        entry.path = request.path;
        entry.query = request.query;
        entry.headers = request.headers;
        entry.body = request.body.substr(0, kLoggedBodyLimit);
        entry.bodySize = request.bodySize;
    }

    std::lock_guard lock(mutex);
    if (records) {
        log.push_back(std::move(entry));
        if (log.size() > kRequestsKeepingBodies) std::string().swap(log[log.size() - kRequestsKeepingBodies - 1].body);
        if (log.size() > kMaxLoggedRequests) log.pop_front();
    }
    ++requestsSinceClear;
    maxActiveRequests = std::max(maxActiveRequests, ++activeRequests);
}

void TestServer::Impl::requestFinished() {
    std::lock_guard lock(mutex);
    --activeRequests;
}

void TestServer::Impl::connectionFinished(detail::Connection& connection) {
    std::lock_guard lock(mutex);
    ::close(connection.fd());
    connection.socketClosed = true;
    connection.finished = true;
    --openConnections;
}

// ---- Responder ------------------------------------------------------------------------

bool Responder::writeRaw(std::string_view bytes) {
    wroteSomething_ = true;
    if (!failed_ && !connection_.write(bytes)) failed_ = true;
    return !failed_;
}

std::string Responder::formatHead(int status, const HeaderList& headers) const {
    std::string head = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reasonPhrase(status)) + "\r\n";
    for (const auto& [name, value] : headers) head += name + ": " + value + "\r\n";
    if ((!keepAlive_ || closeRequested_) && !findHeader(headers, "Connection")) head += "Connection: close\r\n";
    head += "\r\n";
    return head;
}

bool Responder::sendHead(int status, const HeaderList& headers) { return writeRaw(formatHead(status, headers)); }

bool Responder::send(int status, HeaderList headers, std::string_view body) {
    const bool hasNoBody = status < 200 || status == 204 || status == 304;
    const bool framed = findHeader(headers, "Content-Length") || findHeader(headers, "Transfer-Encoding");
    if (!hasNoBody && !framed) headers.emplace_back("Content-Length", std::to_string(body.size()));
    std::string response = formatHead(status, headers);
    if (!hasNoBody && method_ != "HEAD") response += body;
    return writeRaw(response);
}

bool Responder::sleepFor(std::chrono::milliseconds duration) { return connection_.sleepFor(duration); }

void Responder::close() { closeRequested_ = true; }

bool Responder::stopping() const { return connection_.stopping(); }

// ---- Public API -----------------------------------------------------------------------

std::optional<std::string> RecordedRequest::header(std::string_view name) const { return findHeader(headers, name); }

std::optional<std::string> EchoedRequest::header(std::string_view name) const { return findHeader(headers, name); }

EchoedRequest parseEcho(std::string_view responseBody) {
    std::size_t headEnd = std::min(responseBody.find("\r\n\r\n"), responseBody.find("\n\n"));
    std::size_t bodyStart = responseBody.size();
    if (headEnd == std::string_view::npos)
        headEnd = responseBody.size();
    else
        bodyStart = headEnd + (responseBody.compare(headEnd, 4, "\r\n\r\n") == 0 ? 4 : 2);

    EchoedRequest echoed;
    std::vector<std::string_view> lines = splitLines(responseBody.substr(0, headEnd));
    if (!lines.empty()) {
        std::string_view requestLine = lines[0];
        std::size_t space1 = requestLine.find(' ');
        std::size_t space2 = requestLine.rfind(' ');
        echoed.method = requestLine.substr(0, space1);
        if (space1 != std::string_view::npos && space2 > space1)
            echoed.target = requestLine.substr(space1 + 1, space2 - space1 - 1);
        parseHeaderLines(lines, 1, echoed.headers);
    }
    echoed.body = responseBody.substr(bodyStart);
    return echoed;
}

TestServer::TestServer() : TestServer(0) {}

TestServer::TestServer(int port) : impl_(std::make_unique<Impl>(port)) {}

TestServer::~TestServer() { impl_->stop(); }

int TestServer::port() const { return impl_->port; }

std::string TestServer::url(std::string_view pathAndQuery) const {
    return "http://127.0.0.1:" + std::to_string(impl_->port) + std::string(pathAndQuery);
}

void TestServer::route(std::string path, Handler handler) {
    std::lock_guard lock(impl_->mutex);
    auto& routes = impl_->routes;
    std::erase_if(routes, [&](const auto& entry) { return entry.first == path; });
    routes.emplace_back(std::move(path), std::move(handler));
}

std::vector<RecordedRequest> TestServer::requests() const {
    std::lock_guard lock(impl_->mutex);
    return {impl_->log.begin(), impl_->log.end()};
}

std::size_t TestServer::requestCount() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->requestsSinceClear;
}

void TestServer::setRecordsRequests(bool records) { impl_->recordsRequests = records; }

void TestServer::clearRequests() {
    std::lock_guard lock(impl_->mutex);
    impl_->log.clear();
    impl_->requestsSinceClear = 0;
}

std::vector<ResumableUpload> TestServer::resumableUploads() const {
    std::lock_guard lock(impl_->uploads.mutex);
    std::vector<ResumableUpload> uploads;
    for (const std::string& path : impl_->uploads.order) uploads.push_back(impl_->uploads.slots.at(path).upload);
    return uploads;
}

int TestServer::maxConcurrentConnections() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->maxOpenConnections;
}

int TestServer::maxConcurrentRequests() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->maxActiveRequests;
}

int TestServer::connectionsAccepted() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->acceptedConnections;
}

std::uint64_t TestServer::bytesSent() const { return impl_->bytesWritten; }

void TestServer::resetCounters() {
    std::lock_guard lock(impl_->mutex);
    impl_->maxOpenConnections = impl_->openConnections;
    impl_->maxActiveRequests = impl_->activeRequests;
    impl_->acceptedConnections = 0;
}

namespace {

// Binds `fd` to 127.0.0.1 on a free port; the address with that port (0 when it failed).
sockaddr_in bindToFreeLoopbackPort(int fd) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
        address.sin_port = 0;
    return address;
}

}  // namespace

int closedPort() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_in address = bindToFreeLoopbackPort(fd);
    ::close(fd);
    return ntohs(address.sin_port);
}

UnansweredPort::UnansweredPort() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_in address = bindToFreeLoopbackPort(listener_);
    if (address.sin_port == 0 || ::listen(listener_, 0) != 0) throw std::runtime_error("UnansweredPort: cannot listen");
    port_ = ntohs(address.sin_port);
    for (int i = 0; i < 2; ++i) {  // fills the accept queue (a backlog of 0 still queues one)
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
        fillers_.push_back(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // until the handshakes are done
}

UnansweredPort::~UnansweredPort() {
    for (int fd : fillers_) ::close(fd);
    ::close(listener_);
}

}  // namespace fntest

// Checks the test server itself, with plain blocking libcurl calls and, where
// curl cannot express the request, raw sockets.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "TestServer.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

using namespace std::chrono_literals;
using fntest::TestServer;

namespace {

struct Response {
    CURLcode code = CURLE_OK;
    long status = 0;
    std::string body;
    fntest::HeaderList headers;  // of the last response only
    long redirects = 0;
    double seconds = 0;

    std::optional<std::string> header(std::string_view name) const {
        fntest::RecordedRequest lookup;  // reuse its case-insensitive search
        lookup.headers = headers;
        return lookup.header(name);
    }
};

std::size_t appendBody(char* data, std::size_t size, std::size_t count, void* response) {
    static_cast<Response*>(response)->body.append(data, size * count);
    return size * count;
}

std::size_t collectHeader(char* data, std::size_t size, std::size_t count, void* response) {
    auto& headers = static_cast<Response*>(response)->headers;
    std::string_view line(data, size * count);
    if (line.starts_with("HTTP/")) headers.clear();  // a new response (redirect or 1xx) starts
    std::size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.back() == '\n' || value.back() == '\r'))
            value = value.front() == ' ' ? value.substr(1) : value.substr(0, value.size() - 1);
        headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    }
    return size * count;
}

// One easy handle; reusing it reuses its connection (keep-alive).
class Client {
public:
    Client() : handle_(curl_easy_init()) {}
    ~Client() { curl_easy_cleanup(handle_); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    Response get(const std::string& url, const std::function<void(CURL*)>& configure = {}) {
        Response response;
        curl_easy_reset(handle_);
        curl_easy_setopt(handle_, CURLOPT_URL, url.c_str());
        curl_easy_setopt(handle_, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(handle_, CURLOPT_TIMEOUT, 20L);
        curl_easy_setopt(handle_, CURLOPT_WRITEFUNCTION, appendBody);
        curl_easy_setopt(handle_, CURLOPT_WRITEDATA, &response);
        curl_easy_setopt(handle_, CURLOPT_HEADERFUNCTION, collectHeader);
        curl_easy_setopt(handle_, CURLOPT_HEADERDATA, &response);
        if (configure) configure(handle_);
        response.code = curl_easy_perform(handle_);
        curl_easy_getinfo(handle_, CURLINFO_RESPONSE_CODE, &response.status);
        curl_easy_getinfo(handle_, CURLINFO_REDIRECT_COUNT, &response.redirects);
        curl_easy_getinfo(handle_, CURLINFO_TOTAL_TIME, &response.seconds);
        return response;
    }

private:
    CURL* handle_;
};

Response fetch(const std::string& url, const std::function<void(CURL*)>& configure = {}) {
    return Client().get(url, configure);
}

// Keeps a curl_slist alive for the duration of a request.
struct HeaderLines {
    curl_slist* list = nullptr;
    explicit HeaderLines(std::initializer_list<const char*> lines) {
        for (const char* line : lines) list = curl_slist_append(list, line);
    }
    ~HeaderLines() { curl_slist_free_all(list); }
};

// A raw TCP client for what curl will not send.
class RawSocket {
public:
    explicit RawSocket(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(static_cast<std::uint16_t>(port));
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    }
    ~RawSocket() { ::close(fd_); }
    RawSocket(const RawSocket&) = delete;
    RawSocket& operator=(const RawSocket&) = delete;

    bool send(std::string_view bytes) {
        while (!bytes.empty()) {
            ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    // Everything until the server closes (or `timeout` passes).
    std::string readUntilClosed(std::chrono::milliseconds timeout = 5000ms) {
        std::string data;
        auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            pollfd pfd{fd_, POLLIN, 0};
            if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return data;
            char buffer[65536];
            ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
            if (n <= 0) return data;
            data.append(buffer, static_cast<std::size_t>(n));
        }
    }

private:
    int fd_;
};

int countOccurrences(std::string_view haystack, std::string_view needle) {
    int count = 0;
    for (std::size_t at = haystack.find(needle); at != std::string_view::npos; at = haystack.find(needle, at + 1)) ++count;
    return count;
}

template <typename Predicate>
bool waitUntil(Predicate predicate, std::chrono::milliseconds timeout = 5000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!predicate()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

double secondsSince(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("pattern helpers") {
    CHECK(fntest::patternByte(0) == 0);
    CHECK(fntest::patternByte(250) == 250);
    CHECK(fntest::patternByte(251) == 0);
    CHECK(fntest::pattern(250, 3) == std::string("\xfa\x00\x01", 3));
}

TEST_CASE("hello, url and request log") {
    TestServer server;
    CHECK(server.url("/hello") == "http://127.0.0.1:" + std::to_string(server.port()) + "/hello");
    Response response = fetch(server.url("/hello?a=%41b&flag&x=1%202"), [](CURL* h) {
        curl_easy_setopt(h, CURLOPT_USERAGENT, "selftest");
    });
    REQUIRE(response.code == CURLE_OK);
    CHECK(response.status == 200);
    CHECK(response.body == "Hello, world!");
    CHECK(response.header("content-type") == "text/plain");

    std::vector<fntest::RecordedRequest> log = server.requests();
    REQUIRE(log.size() == 1);
    CHECK(log[0].method == "GET");
    CHECK(log[0].path == "/hello");
    CHECK(log[0].target == "/hello?a=%41b&flag&x=1%202");
    CHECK(log[0].query.at("a") == "Ab");
    CHECK(log[0].query.at("flag").empty());
    CHECK(log[0].query.at("x") == "1 2");
    CHECK(log[0].header("USER-AGENT") == "selftest");
    CHECK_FALSE(log[0].header("X-Missing"));
    server.clearRequests();
    CHECK(server.requests().empty());

    CHECK(fetch(server.url("/no/such/route")).status == 404);
}

TEST_CASE("bytes") {
    TestServer server;
    SUBCASE("content length") {
        Response response = fetch(server.url("/bytes?n=300000"));
        CHECK(response.status == 200);
        CHECK(response.header("Content-Length") == "300000");
        CHECK(response.header("Content-Type") == "application/octet-stream");
        CHECK(response.body == fntest::pattern(0, 300000));
    }
    SUBCASE("small and empty") {
        CHECK(fetch(server.url("/bytes?n=1000")).body == fntest::pattern(0, 1000));
        Response empty = fetch(server.url("/bytes?n=0"));
        CHECK(empty.status == 200);
        CHECK(empty.body.empty());
    }
    SUBCASE("chunked") {
        Response response = fetch(server.url("/bytes?n=200000&chunked=1"));
        CHECK(response.header("Transfer-Encoding") == "chunked");
        CHECK_FALSE(response.header("Content-Length"));
        CHECK(response.body == fntest::pattern(0, 200000));
    }
    SUBCASE("no length") {
        Response response = fetch(server.url("/bytes?n=100000&nolength=1"));
        CHECK(response.code == CURLE_OK);
        CHECK_FALSE(response.header("Content-Length"));
        CHECK(response.body == fntest::pattern(0, 100000));
    }
    SUBCASE("HEAD") {
        Response response = fetch(server.url("/bytes?n=12345&etag=abc&lastmod=1"), [](CURL* h) {
            curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        });
        CHECK(response.status == 200);
        CHECK(response.header("Content-Length") == "12345");
        CHECK(response.header("ETag") == "\"abc\"");
        CHECK(response.header("Last-Modified") == "Wed, 21 Oct 2015 07:28:00 GMT");
        CHECK(response.body.empty());
    }
    SUBCASE("bad parameter") { CHECK(fetch(server.url("/bytes?n=lots")).status == 400); }
}

TEST_CASE("bytes ranges and If-Range") {
    TestServer server;
    const std::string url = server.url("/bytes?n=5000&ranges=1&etag=v1&lastmod=1");
    auto withRange = [](const char* range, const char* ifRange = nullptr) {
        auto lines = std::make_shared<HeaderLines>(std::initializer_list<const char*>{});
        if (ifRange) lines->list = curl_slist_append(lines->list, ifRange);
        return [=](CURL* h) {
            curl_easy_setopt(h, CURLOPT_RANGE, range);
            if (lines->list) curl_easy_setopt(h, CURLOPT_HTTPHEADER, lines->list);
        };
    };

    Response plain = fetch(url);
    CHECK(plain.header("Accept-Ranges") == "bytes");
    CHECK(plain.body.size() == 5000);

    Response middle = fetch(url, withRange("1000-1999"));
    CHECK(middle.status == 206);
    CHECK(middle.header("Content-Range") == "bytes 1000-1999/5000");
    CHECK(middle.body == fntest::pattern(1000, 1000));

    Response open = fetch(url, withRange("4000-"));
    CHECK(open.status == 206);
    CHECK(open.header("Content-Range") == "bytes 4000-4999/5000");
    CHECK(open.body == fntest::pattern(4000, 1000));

    Response suffix = fetch(url, withRange("-10"));
    CHECK(suffix.status == 206);
    CHECK(suffix.body == fntest::pattern(4990, 10));

    CHECK(fetch(url, withRange("9000-")).status == 416);

    Response matchingTag = fetch(url, withRange("100-199", "If-Range: \"v1\""));
    CHECK(matchingTag.status == 206);
    CHECK(matchingTag.body == fntest::pattern(100, 100));

    Response matchingDate = fetch(url, withRange("100-199", "If-Range: Wed, 21 Oct 2015 07:28:00 GMT"));
    CHECK(matchingDate.status == 206);

    Response staleTag = fetch(url, withRange("100-199", "If-Range: \"v0\""));
    CHECK(staleTag.status == 200);
    CHECK(staleTag.body == fntest::pattern(0, 5000));

    Response chunkedRange = fetch(server.url("/bytes?n=300000&ranges=1&chunked=1"), withRange("100000-"));
    CHECK(chunkedRange.status == 206);
    CHECK(chunkedRange.body == fntest::pattern(100000, 200000));

    Response withoutRanges = fetch(server.url("/bytes?n=5000"), withRange("0-9"));
    CHECK(withoutRanges.status == 200);
    CHECK(withoutRanges.body.size() == 5000);
}

TEST_CASE("bytes: weak ETags and dropped connections") {
    TestServer server;
    Response weak = fetch(server.url("/bytes?n=100&ranges=1&etag=w&weak=1"), [](CURL* h) {
        static HeaderLines lines{"If-Range: W/\"w\""};
        curl_easy_setopt(h, CURLOPT_RANGE, "10-");
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, lines.list);
    });
    CHECK(weak.header("ETag") == "W/\"w\"");
    CHECK(weak.status == 200);  // If-Range compares strongly: a weak tag never matches
    CHECK(weak.body == fntest::pattern(0, 100));

    Response dropped = fetch(server.url("/bytes?n=300000&drop_after=100000"));
    CHECK(dropped.code == CURLE_PARTIAL_FILE);
    CHECK(dropped.body == fntest::pattern(0, 100000));

    // A range from the drop offset on is whole.
    Response rest = fetch(server.url("/bytes?n=300000&ranges=1&drop_after=100000"),
                          [](CURL* h) { curl_easy_setopt(h, CURLOPT_RANGE, "100000-"); });
    CHECK(rest.code == CURLE_OK);
    CHECK(rest.status == 206);
    CHECK(rest.body == fntest::pattern(100000, 200000));
}

TEST_CASE("echo round-trips a POST") {
    TestServer server;
    const std::string payload = "name=value&other=\x01\x02 binary";
    HeaderLines lines{"X-Test: yes", "Content-Type: application/x-test"};
    Response response = fetch(server.url("/echo?q=1"), [&](CURL* h) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload.c_str());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, lines.list);
    });
    CHECK(response.status == 200);
    CHECK(response.header("X-Echo-Method") == "POST");
    CHECK(response.header("X-Echo-Body-Length") == std::to_string(payload.size()));
    CHECK(response.body.starts_with("POST /echo?q=1 HTTP/1.1\r\n"));

    fntest::EchoedRequest echoed = fntest::parseEcho(response.body);
    CHECK(echoed.method == "POST");
    CHECK(echoed.target == "/echo?q=1");
    CHECK(echoed.header("x-test") == "yes");
    CHECK(echoed.header("Content-Type") == "application/x-test");
    CHECK(echoed.body == payload);

    std::vector<fntest::RecordedRequest> log = server.requests();
    REQUIRE(log.size() == 1);
    CHECK(log[0].body == payload);
    CHECK(log[0].bodySize == payload.size());
}

TEST_CASE("chunked upload, and a large one with Expect: 100-continue") {
    TestServer server;
    struct Source {
        std::string data;
        std::size_t offset = 0;
    };
    auto upload = [&](std::size_t size, bool chunked) {
        Source source{fntest::pattern(7, size)};
        HeaderLines lines{chunked ? "Transfer-Encoding: chunked" : "X-Plain-Upload: 1"};
        Response response = fetch(server.url("/echo"), [&](CURL* h) {
            curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "POST");
            if (!chunked) curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, lines.list);
            curl_easy_setopt(h, CURLOPT_READDATA, &source);
            curl_easy_setopt(h, CURLOPT_READFUNCTION, +[](char* buffer, std::size_t s, std::size_t n, void* user) {
                auto* src = static_cast<Source*>(user);
                std::size_t take = std::min(s * n, src->data.size() - src->offset);
                std::copy_n(src->data.data() + src->offset, take, buffer);
                src->offset += take;
                return take;
            });
        });
        CHECK(response.status == 200);
        fntest::EchoedRequest echoed = fntest::parseEcho(response.body);
        CHECK(echoed.method == "POST");
        CHECK(echoed.body == source.data);
        return response;
    };
    upload(100000, true);
    Response big = upload(3 << 20, false);
    CHECK(big.seconds < 0.9);  // would take a second if 100-continue were not answered
    std::vector<fntest::RecordedRequest> log = server.requests();
    REQUIRE(log.size() == 2);
    CHECK(log[0].header("Transfer-Encoding") == "chunked");
    CHECK(log[1].bodySize == (3u << 20));
    CHECK(log[1].body.size() == 64 * 1024);  // the log keeps a prefix only
}

TEST_CASE("redirects") {
    TestServer server;
    auto follow = [](CURL* h) { curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L); };

    Response chain = fetch(server.url("/redirect/3"), follow);
    CHECK(chain.status == 200);
    CHECK(chain.redirects == 3);
    CHECK(chain.body == "redirect done");

    Response single = fetch(server.url("/redirect/2?status=307"));
    CHECK(single.status == 307);
    CHECK(single.header("Location") == "/redirect/1?status=307");
    CHECK(single.body == "redirecting 2");

    Response absolute = fetch(server.url("/redirect/1?absolute=1"));
    CHECK(absolute.header("Location") == server.url("/redirect/0?absolute=1"));

    Response relative = fetch(server.url("/redirect/4?relative=1"), follow);
    CHECK(relative.redirects == 4);
    CHECK(relative.body == "redirect done");

    Response permanent = fetch(server.url("/redirect/2?status=308"), follow);
    CHECK(permanent.redirects == 2);
    CHECK(fetch(server.url("/redirect/2?status=200")).status == 400);
}

TEST_CASE("status codes") {
    TestServer server;
    Response notFound = fetch(server.url("/status/404"));
    CHECK(notFound.status == 404);
    CHECK(notFound.body == "status 404");

    Response noContent = fetch(server.url("/status/204"));
    CHECK(noContent.status == 204);
    CHECK(noContent.body.empty());

    Response informational = fetch(server.url("/status/103"));
    CHECK(informational.status == 200);
    CHECK(informational.body == "after informational");

    Response moved = fetch(server.url("/status/301?location=/hello"), [](CURL* h) {
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    });
    CHECK(moved.body == "Hello, world!");

    CHECK(fetch(server.url("/status/599")).status == 599);
    CHECK(fetch(server.url("/status/42")).status == 400);
}

TEST_CASE("content encodings") {
    TestServer server;
    std::string expected;
    for (int i = 0; i < 1000; ++i) expected += "compressed hello ";
    auto decode = [](CURL* h) { curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); };

    Response gzip = fetch(server.url("/gzip"), decode);
    CHECK(gzip.header("Content-Encoding") == "gzip");
    CHECK(gzip.body == expected);
    CHECK(fetch(server.url("/gzip")).body.size() < 1000);  // not decoded without Accept-Encoding

    CHECK(fetch(server.url("/deflate"), decode).body == expected);
    CHECK(fetch(server.url("/bad-gzip"), decode).code == CURLE_BAD_CONTENT_ENCODING);
}

TEST_CASE("delays and trickle") {
    TestServer server;
    Response delayed = fetch(server.url("/delay?ms=300"));
    CHECK(delayed.body == "delayed");
    CHECK(delayed.seconds >= 0.29);

    Response delayedBody = fetch(server.url("/delay-body?ms=200"));
    CHECK(delayedBody.body == "delayed");
    CHECK(delayedBody.seconds >= 0.19);

    Response trickle = fetch(server.url("/trickle?n=1000&chunk=100&interval_ms=20"));
    CHECK(trickle.body == fntest::pattern(0, 1000));
    CHECK(trickle.seconds >= 0.17);
}

TEST_CASE("keep-alive and Connection: close") {
    TestServer server;
    {
        Client client;
        CHECK(client.get(server.url("/hello")).body == "Hello, world!");
        CHECK(client.get(server.url("/bytes?n=100000")).body.size() == 100000);
        CHECK(client.get(server.url("/echo"), [](CURL* h) {
                        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "x");
                    }).status == 200);
        CHECK(server.connectionsAccepted() == 1);
    }
    server.resetCounters();
    {
        Client client;
        HeaderLines close{"Connection: close"};
        auto closing = [&](CURL* h) { curl_easy_setopt(h, CURLOPT_HTTPHEADER, close.list); };
        CHECK(client.get(server.url("/hello"), closing).header("Connection") == "close");
        CHECK(client.get(server.url("/hello"), closing).status == 200);
        CHECK(server.connectionsAccepted() == 2);
    }
}

TEST_CASE("raw socket: pipelining, chunked body, bad input") {
    TestServer server;
    SUBCASE("pipelined requests, the last one closing") {
        RawSocket socket(server.port());
        socket.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                    "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
                    "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        std::string replies = socket.readUntilClosed();
        CHECK(countOccurrences(replies, "HTTP/1.1 200 OK\r\n") == 3);
        CHECK(replies.find("X-Echo-Body-Length: 11\r\n") != std::string::npos);
        CHECK(replies.ends_with("Hello, world!"));
        std::vector<fntest::RecordedRequest> log = server.requests();
        REQUIRE(log.size() == 3);
        CHECK(log[1].body == "hello world");
    }
    SUBCASE("HTTP/1.0 closes by default") {
        RawSocket socket(server.port());
        socket.send("GET /hello HTTP/1.0\r\n\r\n");
        CHECK(socket.readUntilClosed().ends_with("Hello, world!"));
    }
    SUBCASE("oversized head") {
        RawSocket socket(server.port());
        socket.send("GET /hello HTTP/1.1\r\n");
        std::string line = "X-Filler: " + std::string(1000, 'f') + "\r\n";
        bool stillOpen = true;
        for (int i = 0; i < 1200 && stillOpen; ++i) stillOpen = socket.send(line);
        std::string reply = socket.readUntilClosed(2000ms);  // closed, not hanging
        CHECK(reply.find("200 OK") == std::string::npos);
    }
    SUBCASE("garbage request") {
        RawSocket socket(server.port());
        socket.send("NONSENSE\r\n\r\n");
        CHECK(socket.readUntilClosed().starts_with("HTTP/1.1 400"));
    }
    SUBCASE("bad chunk size") {
        RawSocket socket(server.port());
        socket.send("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
        CHECK(socket.readUntilClosed().starts_with("HTTP/1.1 400"));
    }
}

TEST_CASE("malformed responses") {
    TestServer server;
    CHECK(fetch(server.url("/malformed/status")).code != CURLE_OK);
    CHECK(fetch(server.url("/malformed/garbage")).code != CURLE_OK);
    CHECK(fetch(server.url("/malformed/truncated")).code == CURLE_PARTIAL_FILE);
    CHECK(fetch(server.url("/malformed/close")).code == CURLE_GOT_NOTHING);
    CHECK(fetch(server.url("/malformed/huge-header")).code != CURLE_OK);
    CHECK(fetch(server.url("/malformed/bad-chunked")).code != CURLE_OK);
    fetch(server.url("/malformed/bad-length"));  // curl's verdict varies; it must only not hang

    Response never = fetch(server.url("/malformed/never"), [](CURL* h) {
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 300L);
    });
    CHECK(never.code == CURLE_OPERATION_TIMEDOUT);

    Response folded = fetch(server.url("/folded"));
    CHECK(folded.body == "folded");
    CHECK(folded.header("X-Plain") == "plain");
}

TEST_CASE("basic auth") {
    TestServer server;
    const std::string url = server.url("/auth/basic?user=alice&pass=s3cret");
    Response denied = fetch(url);
    CHECK(denied.status == 401);
    CHECK(denied.header("WWW-Authenticate") == "Basic realm=\"fntest\"");
    CHECK(denied.body == "unauthorized");

    Response wrong = fetch(url, [](CURL* h) { curl_easy_setopt(h, CURLOPT_USERPWD, "alice:wrong"); });
    CHECK(wrong.status == 401);

    Response allowed = fetch(url, [](CURL* h) { curl_easy_setopt(h, CURLOPT_USERPWD, "alice:s3cret"); });
    CHECK(allowed.status == 200);
    CHECK(allowed.body == "authorized");
}

TEST_CASE("custom routes") {
    TestServer server;
    server.route("/custom", [](const fntest::RecordedRequest& request, fntest::Responder& out) {
        out.send(201, {{"X-Custom", request.query.count("v") ? request.query.at("v") : "none"}}, "made");
    });
    server.route("/files/*", [](const fntest::RecordedRequest& request, fntest::Responder& out) {
        out.send(200, {}, "file " + request.path.substr(7));
    });
    server.route("/hello", [](const fntest::RecordedRequest&, fntest::Responder& out) {
        out.writeRaw("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\noverridden");
    });
    server.route("/silent", [](const fntest::RecordedRequest&, fntest::Responder&) {});
    server.route("/throws", [](const fntest::RecordedRequest&, fntest::Responder&) { throw 42; });

    Response custom = fetch(server.url("/custom?v=42"));
    CHECK(custom.status == 201);
    CHECK(custom.header("X-Custom") == "42");
    CHECK(custom.body == "made");
    CHECK(fetch(server.url("/files/a/b.txt")).body == "file a/b.txt");
    CHECK(fetch(server.url("/hello")).body == "overridden");
    CHECK(fetch(server.url("/silent")).status == 500);
    CHECK(fetch(server.url("/throws")).code == CURLE_GOT_NOTHING);  // dropped, server still fine
    CHECK(fetch(server.url("/custom")).header("X-Custom") == "none");
}

TEST_CASE("request log keeps bodies of the last 1000 requests only") {
    TestServer server;
    Client client;
    for (int i = 0; i < 1005; ++i) {
        std::string body = "body " + std::to_string(i);
        client.get(server.url("/hello"), [&](CURL* h) { curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, body.c_str()); });
    }
    std::vector<fntest::RecordedRequest> log = server.requests();
    REQUIRE(log.size() == 1005);
    CHECK(log[4].body.empty());
    CHECK(log[4].bodySize == 6);
    CHECK(log[5].body == "body 5");
    CHECK(log[1004].body == "body 1004");
    CHECK(server.requestCount() == 1005);
    CHECK(server.connectionsAccepted() == 1);
    server.clearRequests();
    CHECK(server.requestCount() == 0);
}

TEST_CASE("maximum concurrency counters") {
    TestServer server;
    std::vector<std::thread> clients;
    for (int i = 0; i < 4; ++i)
        clients.emplace_back([&] { CHECK(fetch(server.url("/concurrent?ms=300")).body == "ok"); });
    for (std::thread& client : clients) client.join();
    CHECK(server.maxConcurrentConnections() == 4);
    CHECK(server.maxConcurrentRequests() == 4);
    CHECK(server.connectionsAccepted() == 4);

    // Let the server notice the closed connections, then count afresh.
    REQUIRE(waitUntil([&] {
        server.resetCounters();
        return server.maxConcurrentConnections() == 0;
    }));
    Client client;
    for (int i = 0; i < 3; ++i) client.get(server.url("/concurrent?ms=10"));
    CHECK(server.maxConcurrentConnections() == 1);
    CHECK(server.maxConcurrentRequests() == 1);
    CHECK(server.connectionsAccepted() == 1);
}

TEST_CASE("destruction does not wait for stuck clients") {
    auto server = std::make_unique<TestServer>();

    RawSocket never(server->port());  // waits for an answer that never comes
    never.send("GET /malformed/never HTTP/1.1\r\nHost: x\r\n\r\n");
    RawSocket idle(server->port());   // an open keep-alive connection between requests
    RawSocket slowReader(server->port());  // asks for a big body and never reads it
    slowReader.send("GET /bytes?n=1073741824 HTTP/1.1\r\n\r\n");

    std::atomic<bool> delayFinished{false};
    std::thread delayed([&] {
        Response response = fetch(server->url("/delay?ms=60000"));
        CHECK(response.code != CURLE_OK);
        delayFinished = true;
    });
    std::thread delayedBody([url = server->url("/delay-body?ms=60000")] {
        CHECK(fetch(url).code != CURLE_OK);
    });

    REQUIRE(waitUntil([&] { return server->requests().size() == 4 && server->connectionsAccepted() == 5; }));
    std::this_thread::sleep_for(100ms);  // let the slow reader's socket buffers fill up

    auto start = std::chrono::steady_clock::now();
    server.reset();
    CHECK(secondsSince(start) < 1.0);
    delayed.join();
    delayedBody.join();
    CHECK(delayFinished);
    CHECK(never.readUntilClosed(1000ms).empty());
    CHECK(secondsSince(start) < 1.0);
}

// Runs fntest-server as a child process (meson passes its path in FNTEST_SERVER).
class ServerProcess {
public:
    explicit ServerProcess(const char* path) {
        int toChild[2], fromChild[2];
        // Close-on-exec, or the child would hold its own stdin's write end open.
        REQUIRE(::pipe2(toChild, O_CLOEXEC) == 0);
        REQUIRE(::pipe2(fromChild, O_CLOEXEC) == 0);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::dup2(toChild[0], STDIN_FILENO);
            ::dup2(fromChild[1], STDOUT_FILENO);
            ::execl(path, path, "--stdin-eof-stops", static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::close(toChild[0]);
        ::close(fromChild[1]);
        stdin_ = toChild[1];
        stdout_ = fromChild[0];
    }
    ~ServerProcess() {
        closeStdin();
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        ::close(stdout_);
    }
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    std::string readLine() {
        std::string line;
        char c;
        while (::read(stdout_, &c, 1) == 1 && c != '\n') line += c;
        return line;
    }
    void closeStdin() {
        if (stdin_ >= 0) ::close(stdin_);
        stdin_ = -1;
    }
    // The exit status once the process ends by itself, or -1 after `timeout`.
    int waitForExit(std::chrono::milliseconds timeout) {
        int status = 0;
        bool exited = waitUntil([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
        if (!exited) return -1;
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
    int stdin_ = -1;
    int stdout_ = -1;
};

TEST_CASE("fntest-server executable") {
    const char* path = std::getenv("FNTEST_SERVER");
    if (!path) {
        MESSAGE("FNTEST_SERVER not set; skipped");
        return;
    }
    SUBCASE("stops at stdin EOF") {
        ServerProcess process(path);
        std::string base = process.readLine();
        REQUIRE(base.starts_with("http://127.0.0.1:"));
        CHECK(fetch(base + "/hello").body == "Hello, world!");
        process.closeStdin();
        CHECK(process.waitForExit(2000ms) == 0);
    }
    SUBCASE("stops on SIGTERM") {
        ServerProcess process(path);
        std::string base = process.readLine();
        CHECK(fetch(base + "/bytes?n=10").body == fntest::pattern(0, 10));
        ::kill(process.pid(), SIGTERM);
        CHECK(process.waitForExit(2000ms) == 0);
    }
}

// Unit tests of the value types: Data, URL, URLRequest, URLResponse/HTTPURLResponse, Error,
// authentication types and URLSessionConfiguration.
#include <doctest/doctest.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <foundation_net/Data.hpp>
#include <foundation_net/Error.hpp>
#include <foundation_net/HTTPURLResponse.hpp>
#include <foundation_net/URL.hpp>
#include <foundation_net/URLAuthenticationChallenge.hpp>
#include <foundation_net/URLCredential.hpp>
#include <foundation_net/URLCredentialStorage.hpp>
#include <foundation_net/URLProtectionSpace.hpp>
#include <foundation_net/URLRequest.hpp>
#include <foundation_net/URLResponse.hpp>
#include <foundation_net/URLSessionConfiguration.hpp>

using namespace foundation;

namespace {

std::shared_ptr<HTTPURLResponse> makeResponse(std::vector<std::pair<std::string, std::string>> headers,
                                              const std::string& url = "http://example.com/files/report.pdf") {
  return std::make_shared<HTTPURLResponse>(URL(url), 200, "HTTP/1.1", std::move(headers));
}

}  // namespace

// ---- Data ------------------------------------------------------------------------------------

TEST_CASE("Data: empty values are usable") {
  const Data empty;
  CHECK(empty.size() == 0);
  CHECK(empty.empty());
  CHECK(empty.view().empty());
  CHECK(empty == Data(""));
  CHECK(empty == Data(std::vector<std::uint8_t>{}));
  CHECK(empty.subdata(0, 0).empty());
}

TEST_CASE("Data: construction and comparison") {
  const std::uint8_t raw[] = {0x00, 0x01, 0xff};
  const Data binary(raw, sizeof raw);
  CHECK(binary.size() == 3);
  CHECK(binary.bytes()[0] == 0x00);
  CHECK(binary.bytes()[2] == 0xff);
  CHECK(binary == Data(std::vector<std::uint8_t>{0x00, 0x01, 0xff}));
  CHECK_FALSE(binary == Data(std::vector<std::uint8_t>{0x00, 0x01}));

  const Data text("hello");
  CHECK(text.view() == "hello");
  CHECK_FALSE(text.empty());
  CHECK_FALSE(text == Data("hellO"));
}

TEST_CASE("Data: copies share the buffer until one is modified") {
  Data original("hello");
  Data copy = original;
  CHECK(copy.bytes() == original.bytes());  // no bytes were copied

  const std::uint8_t* originalBytes = original.bytes();
  copy.append(" world", 6);
  CHECK(copy.view() == "hello world");
  CHECK(original.view() == "hello");
  CHECK(original.bytes() == originalBytes);  // the original kept its buffer
  CHECK(copy.bytes() != original.bytes());

  // A value that no longer shares its buffer appends in place.
  copy.reserve(64);
  const std::uint8_t* reserved = copy.bytes();
  copy.append("!", 1);
  CHECK(copy.bytes() == reserved);
  CHECK(copy.view() == "hello world!");
}

TEST_CASE("Data: appending to an empty value shares the appended buffer") {
  const Data source("abc");
  Data target;
  target.append(source);
  CHECK(target.bytes() == source.bytes());
  target.append(Data("d"));
  CHECK(target.view() == "abcd");
  CHECK(source.view() == "abc");
}

TEST_CASE("Data: removeAll(keepingCapacity:) reuses an unshared buffer and spares a shared one") {
  Data buffer;
  buffer.reserve(1024);
  buffer.append("hello", 5);
  const std::uint8_t* first = buffer.bytes();
  buffer.removeAll(true);
  CHECK(buffer.empty());
  buffer.append("world", 5);
  CHECK(buffer.view() == "world");
  CHECK(buffer.bytes() == first);  // the same buffer, filled again

  const Data kept = buffer;  // a copy shares the buffer
  buffer.removeAll(true);
  CHECK(kept.view() == "world");  // the copy keeps its bytes
  CHECK(buffer.empty());
  buffer.append("again", 5);
  CHECK(buffer.bytes() != kept.bytes());
  CHECK(kept.view() == "world");

  buffer.removeAll();
  CHECK(buffer.empty());
  CHECK(buffer == Data());
}

TEST_CASE("Data: appending its own bytes") {
  Data data("abc");
  data.append(data);
  CHECK(data.view() == "abcabc");
  data.append(data.bytes() + 1, 2);  // a range inside its own buffer
  CHECK(data.view() == "abcabcbc");
}

TEST_CASE("Data: subdata is bounds-checked") {
  const Data data("0123456789");
  CHECK(data.subdata(0, 10).view() == "0123456789");
  CHECK(data.subdata(3, 4).view() == "3456");
  CHECK(data.subdata(10, 0).empty());
  CHECK_THROWS_AS(data.subdata(11, 0), std::out_of_range);
  CHECK_THROWS_AS(data.subdata(5, 6), std::out_of_range);
  CHECK_THROWS_AS(data.subdata(1, static_cast<std::size_t>(-1)), std::out_of_range);
}

// ---- URL -------------------------------------------------------------------------------------

TEST_CASE("URL: components of an http URL") {
  const URL url("https://user:p%40ss@Example.com:8443/a%20b/c.txt?x=1&y=%20#frag");
  CHECK(url.scheme() == "https");
  CHECK(url.host() == "Example.com");
  CHECK(url.port() == 8443);
  CHECK(url.path() == "/a b/c.txt");
  CHECK(url.query() == "x=1&y=%20");  // the query stays percent-encoded, as Foundation's
  CHECK(url.fragment() == "frag");
  CHECK(url.user() == "user");
  CHECK(url.password() == "p@ss");
  CHECK(url.lastPathComponent() == "c.txt");
  CHECK_FALSE(url.isFileURL());
  CHECK(url.absoluteString() == "https://user:p%40ss@Example.com:8443/a%20b/c.txt?x=1&y=%20#frag");
}

TEST_CASE("URL: absent parts") {
  const URL url("http://example.com");
  CHECK(url.absoluteString() == "http://example.com/");
  CHECK(url.path() == "/");
  CHECK(url.port() == std::nullopt);
  CHECK(url.query() == std::nullopt);
  CHECK(url.fragment() == std::nullopt);
  CHECK(url.user() == std::nullopt);
  CHECK(url.password() == std::nullopt);
  CHECK(url.lastPathComponent() == "/");
}

TEST_CASE("URL: normalisation") {
  CHECK(URL("HTTP://example.com/a/../b").absoluteString() == "http://example.com/b");
  CHECK(URL("HTTP://example.com/a/../b").scheme() == "http");
  CHECK(URL("http://h/a/./b/../c/").path() == "/a/c/");
  CHECK(URL("http://example.com:80/").port() == 80);  // an explicit port is kept, even the default
  CHECK(URL("http://[::1]:8080/x").host() == "::1");
  CHECK(URL("HTTP://h/a/../b") == URL("http://h/b"));
  CHECK_FALSE(URL("http://h/b") == URL("http://h/c"));
}

TEST_CASE("URL: invalid text") {
  for (const char* text : {"", "relative/path", "/absolute/path", "example.com", "://x", "1http://x",
                           "http://", "http://exa mple.com/", "http://example.com/a b",
                           "http://[bad", "http://example.com/\n", "data:", "not a url",
                           "http://h:99999/"}) {
    CAPTURE(text);
    CHECK_THROWS_AS(URL{text}, std::invalid_argument);
    CHECK(URL::fromString(text) == std::nullopt);
  }
  CHECK(URL::fromString("http://example.com/") == URL("http://example.com/"));
}

TEST_CASE("URL: URLs without an authority") {
  const URL data("DATA:text/plain;charset=utf-8,hello%20world");
  CHECK(data.absoluteString() == "data:text/plain;charset=utf-8,hello%20world");
  CHECK(data.scheme() == "data");
  CHECK(data.host().empty());
  CHECK(data.port() == std::nullopt);
  CHECK(data.path() == "text/plain;charset=utf-8,hello world");
  CHECK(data.query() == std::nullopt);

  const URL mail("mailto:someone@example.com");
  CHECK(mail.scheme() == "mailto");
  CHECK(mail.path() == "someone@example.com");
  CHECK(mail.user() == std::nullopt);

  const URL urn("urn:isbn:0451450523?x=1#part");
  CHECK(urn.path() == "isbn:0451450523");
  CHECK(urn.query() == "x=1");
  CHECK(urn.fragment() == "part");
  CHECK(URL("data:,x") == URL("Data:,x"));
}

TEST_CASE("URL: file URLs") {
  const URL file = URL::fileURLWithPath("/tmp/my file #1?.txt");
  CHECK(file.isFileURL());
  CHECK(file.scheme() == "file");
  CHECK(file.absoluteString() == "file:///tmp/my%20file%20%231%3F.txt");
  CHECK(file.path() == "/tmp/my file #1?.txt");
  CHECK(file.lastPathComponent() == "my file #1?.txt");
  CHECK(file.host().empty());
  CHECK(file.query() == std::nullopt);

  CHECK(URL::fileURLWithPath("/tmp/100%").path() == "/tmp/100%");
  CHECK(URL::fileURLWithPath("relative dir/x.txt").path() ==
        (std::filesystem::current_path() / "relative dir/x.txt").string());
  CHECK(URL("file:///etc/hosts").isFileURL());
}

TEST_CASE("URL: appendingPathComponent") {
  CHECK(URL("http://h/a").appendingPathComponent("b c").absoluteString() == "http://h/a/b%20c");
  CHECK(URL("http://h/a/").appendingPathComponent("b").absoluteString() == "http://h/a/b");
  CHECK(URL("http://h").appendingPathComponent("x").absoluteString() == "http://h/x");
  CHECK(URL("http://h/a?q=1#f").appendingPathComponent("b").absoluteString() == "http://h/a/b?q=1#f");
  CHECK(URL("http://h/a").appendingPathComponent("/b").absoluteString() == "http://h/a/b");
  CHECK(URL("http://h/a").appendingPathComponent("50%").path() == "/a/50%");
  const URL directory = URL::fileURLWithPath("/tmp/some dir");
  CHECK(directory.appendingPathComponent("f.txt").path() == "/tmp/some dir/f.txt");
}

TEST_CASE("URL: resolving references") {
  const URL base("http://h:81/a/b/c?q=1#f");
  auto resolved = [&](const char* reference) {
    const auto url = base.resolving(reference);
    return url ? url->absoluteString() : std::string("<none>");
  };
  CHECK(resolved("d") == "http://h:81/a/b/d");
  CHECK(resolved("../x") == "http://h:81/a/x");
  CHECK(resolved("../../../../x") == "http://h:81/x");
  CHECK(resolved("/abs") == "http://h:81/abs");
  CHECK(resolved("//other/p") == "http://other/p");
  CHECK(resolved("?q2") == "http://h:81/a/b/c?q2");
  CHECK(resolved("#f2") == "http://h:81/a/b/c?q=1#f2");
  CHECK(resolved("") == "http://h:81/a/b/c?q=1");
  CHECK(resolved("https://new.example/x") == "https://new.example/x");
  CHECK(resolved("mailto:a@b") == "mailto:a@b");
  CHECK(resolved("http://bad host/") == "<none>");
  CHECK(URL("mailto:a@b").resolving("x") == std::nullopt);
}

TEST_CASE("URL: lastPathComponent") {
  CHECK(URL("http://h/a/b/").lastPathComponent() == "b");
  CHECK(URL("http://h/a").lastPathComponent() == "a");
  CHECK(URL("http://h//").lastPathComponent() == "/");
  CHECK(URL("http://h/dir/na%C3%AFve%20file.txt").lastPathComponent() == "na\xC3\xAFve file.txt");
}

// ---- URLRequest ------------------------------------------------------------------------------

TEST_CASE("URLRequest: defaults and explicit timeouts") {
  URLRequest request(URL("http://example.com/"));
  CHECK(request.url == URL("http://example.com/"));
  CHECK(request.httpMethod == "GET");
  CHECK(request.timeoutInterval == 60);
  CHECK(request.cachePolicy == URLRequest::CachePolicy::useProtocolCachePolicy);
  CHECK(request.httpShouldHandleCookies);
  CHECK_FALSE(request.httpBody.has_value());
  CHECK(request.allHTTPHeaderFields().empty());
  CHECK_FALSE(request.hasExplicitTimeout());

  request.setTimeoutInterval(60);
  CHECK(request.hasExplicitTimeout());

  const URLRequest withTimeout(URL("http://example.com/"), URLRequest::CachePolicy::reloadIgnoringLocalCacheData, 5);
  CHECK(withTimeout.hasExplicitTimeout());
  CHECK(withTimeout.timeoutInterval == 5);
  CHECK(withTimeout.cachePolicy == URLRequest::CachePolicy::reloadIgnoringLocalCacheData);

  URLRequest assigned(URL("http://example.com/"));
  assigned.timeoutInterval = 2;  // Swift code assigns the property directly
  CHECK(assigned.hasExplicitTimeout());
}

TEST_CASE("URLRequest: header fields") {
  URLRequest request(URL("http://example.com/"));
  request.setValue("text/plain", "Content-Type");
  CHECK(request.value("content-type") == "text/plain");
  request.setValue("application/json", "CONTENT-TYPE");
  CHECK(request.value("Content-Type") == "application/json");
  CHECK(request.allHTTPHeaderFields() == std::map<std::string, std::string>{{"Content-Type", "application/json"}});

  request.addValue("a", "Accept");
  request.addValue("b", "accept");
  CHECK(request.value("ACCEPT") == "a,b");
  CHECK(request.allHTTPHeaderFields().size() == 2);

  request.setValue(std::nullopt, "accept");
  CHECK(request.value("Accept") == std::nullopt);
  request.setValue(std::nullopt, "X-Absent");  // removing what is not there is harmless
  CHECK(request.allHTTPHeaderFields().size() == 1);

  request.setAllHTTPHeaderFields({{"X-One", "1"}, {"X-Two", "2"}});
  CHECK(request.value("Content-Type") == std::nullopt);
  CHECK(request.value("x-one") == "1");
  CHECK(request.value("x-two") == "2");
}

TEST_CASE("URLRequest: equality") {
  URLRequest a(URL("http://example.com/"));
  URLRequest b(URL("http://example.com/"));
  a.setValue("1", "X-Field");
  b.setValue("1", "x-field");
  CHECK(a == b);

  b.setValue("2", "X-Field");
  CHECK_FALSE(a == b);
  b.setValue("1", "X-Field");

  b.httpMethod = "POST";
  CHECK_FALSE(a == b);
  b.httpMethod = "GET";

  b.httpBody = Data("body");
  CHECK_FALSE(a == b);
  a.httpBody = Data("body");
  CHECK(a == b);

  b.timeoutInterval = 5;
  CHECK_FALSE(a == b);
  b.timeoutInterval = 60;

  b.cachePolicy = URLRequest::CachePolicy::returnCacheDataDontLoad;
  CHECK_FALSE(a == b);
  b.cachePolicy = a.cachePolicy;

  b.url = URL("http://example.com/other");
  CHECK_FALSE(a == b);
}

// ---- URLResponse and HTTPURLResponse ---------------------------------------------------------

TEST_CASE("HTTPURLResponse: header fields") {
  const auto response = makeResponse({{"Set-Cookie", "a=1"}, {"X-Other", "x"}, {"set-cookie", "b=2"}});
  CHECK(response->statusCode() == 200);
  CHECK(response->httpVersion() == "HTTP/1.1");
  CHECK(response->value("SET-COOKIE") == "a=1, b=2");
  CHECK(response->allHeaderFields() ==
        std::map<std::string, std::string>{{"Set-Cookie", "a=1, b=2"}, {"X-Other", "x"}});
  CHECK(response->value("Absent") == std::nullopt);
  CHECK(response->url() == URL("http://example.com/files/report.pdf"));
}

TEST_CASE("HTTPURLResponse: MIME type and text encoding from Content-Type") {
  const auto html = makeResponse({{"content-type", "Text/HTML; Charset=\"UTF-8\"; x=y"}});
  CHECK(html->mimeType() == "text/html");
  CHECK(html->textEncodingName() == "utf-8");

  const auto json = makeResponse({{"Content-Type", "application/json"}});
  CHECK(json->mimeType() == "application/json");
  CHECK(json->textEncodingName() == std::nullopt);

  const auto none = makeResponse({});
  CHECK(none->mimeType() == std::nullopt);
  CHECK(none->textEncodingName() == std::nullopt);
}

TEST_CASE("HTTPURLResponse: expected content length") {
  CHECK(makeResponse({{"Content-Length", "1234"}})->expectedContentLength() == 1234);
  CHECK(makeResponse({{"Content-Length", " 42 "}})->expectedContentLength() == 42);
  CHECK(makeResponse({{"Content-Length", "0"}})->expectedContentLength() == 0);
  CHECK(makeResponse({})->expectedContentLength() == -1);
  CHECK(makeResponse({{"Content-Length", "-5"}})->expectedContentLength() == -1);
  CHECK(makeResponse({{"Content-Length", "12abc"}})->expectedContentLength() == -1);
  CHECK(makeResponse({{"Content-Length", "99999999999999999999999"}})->expectedContentLength() == -1);
  CHECK(makeResponse({{"Content-Length", "5"}, {"Content-Length", "6"}})->expectedContentLength() == -1);
}

TEST_CASE("HTTPURLResponse: suggested file name") {
  CHECK(makeResponse({{"Content-Disposition", "attachment; filename=\"annual report.pdf\""}})
            ->suggestedFilename() == "annual report.pdf");
  CHECK(makeResponse({{"Content-Disposition", "attachment; filename=plain.txt"}})->suggestedFilename() ==
        "plain.txt");
  CHECK(makeResponse({{"Content-Disposition", "attachment; filename=\"a;b.txt\"; size=3"}})
            ->suggestedFilename() == "a;b.txt");
  CHECK(makeResponse({{"Content-Disposition",
                       "attachment; filename=\"fallback.txt\"; filename*=UTF-8''na%C3%AFve.txt"}})
            ->suggestedFilename() == "na\xC3\xAFve.txt");
  CHECK(makeResponse({{"Content-Disposition", "attachment; filename=\"../../etc/passwd\""}})
            ->suggestedFilename() == "passwd");
  CHECK(makeResponse({{"Content-Disposition", "inline"}})->suggestedFilename() == "report.pdf");
  CHECK(makeResponse({})->suggestedFilename() == "report.pdf");
  CHECK(makeResponse({}, "http://example.com/")->suggestedFilename() == "Unknown");
}

TEST_CASE("URLResponse: plain responses") {
  const URLResponse response(URL("file:///tmp/data.bin"), "application/octet-stream", 10, std::nullopt);
  CHECK(response.mimeType() == "application/octet-stream");
  CHECK(response.expectedContentLength() == 10);
  CHECK(response.textEncodingName() == std::nullopt);
  CHECK(response.suggestedFilename() == "data.bin");
  CHECK(URLResponse(std::nullopt, std::nullopt, -1, std::nullopt).suggestedFilename() == "Unknown");
}

TEST_CASE("HTTPURLResponse: localized status strings") {
  CHECK(HTTPURLResponse::localizedStringForStatusCode(200) == "no error");
  CHECK(HTTPURLResponse::localizedStringForStatusCode(204) == "no content");
  CHECK(HTTPURLResponse::localizedStringForStatusCode(301) == "moved permanently");
  CHECK(HTTPURLResponse::localizedStringForStatusCode(404) == "not found");
  CHECK(HTTPURLResponse::localizedStringForStatusCode(500) == "internal server error");
  CHECK(HTTPURLResponse::localizedStringForStatusCode(199) == "informational");
  CHECK(HTTPURLResponse::localizedStringForStatusCode(299) == "success");
  CHECK(HTTPURLResponse::localizedStringForStatusCode(308) == "redirected");
  CHECK(HTTPURLResponse::localizedStringForStatusCode(499) == "client error");
  CHECK(HTTPURLResponse::localizedStringForStatusCode(599) == "server error");
  CHECK(HTTPURLResponse::localizedStringForStatusCode(42) == "server error");
}

// ---- Error -----------------------------------------------------------------------------------

TEST_CASE("Error: URL errors carry Apple's descriptions") {
  const URL url("http://example.com/x");
  const Error timeout = Error::url(URLError::timedOut, url);
  CHECK(timeout.domain == "NSURLErrorDomain");
  CHECK(timeout.code == -1001);
  CHECK(timeout.localizedDescription == "The request timed out.");
  CHECK(timeout.failingURL == url);
  CHECK_FALSE(timeout.resumeData.has_value());
  CHECK_FALSE(timeout.backgroundTaskCancelledReason.has_value());

  const Error detailed = Error::url(URLError::cannotConnectToHost, std::nullopt, "Connection refused");
  CHECK(detailed.localizedDescription == "Could not connect to the server.");
  CHECK(detailed.localizedFailureReason == "Connection refused");
  CHECK_FALSE(detailed.failingURL.has_value());

  CHECK(Error::descriptionForCode(URLError::cancelled) == "cancelled");
  CHECK(Error::descriptionForCode(URLError::unsupportedURL) == "unsupported URL");
  CHECK(Error::descriptionForCode(URLError::cannotFindHost) ==
        "A server with the specified hostname could not be found.");
  CHECK(Error::descriptionForCode(URLError::networkConnectionLost) == "The network connection was lost.");
  CHECK(Error::descriptionForCode(URLError::httpTooManyRedirects) == "too many HTTP redirects");
  CHECK(Error::descriptionForCode(URLError::badServerResponse) == "bad server response");
  CHECK(Error::descriptionForCode(URLError::fileDoesNotExist) == "The requested URL was not found on this server.");
  CHECK(Error::descriptionForCode(12345) == "The operation couldn\xE2\x80\x99t be completed. (NSURLErrorDomain error 12345.)");
}

TEST_CASE("Error: every URLError code has its own description") {
  const std::string fallbackStart = "The operation couldn\xE2\x80\x99t be completed.";
  for (const int code :
       {-1, -999, -995, -996, -997, -1000, -1001, -1002, -1003, -1004, -1005, -1006, -1007, -1008, -1009, -1010,
        -1011, -1012, -1013, -1014, -1015, -1016, -1017, -1100, -1101, -1102, -1103, -1200, -1201, -1202, -1203,
        -1204, -1205, -1206, -2000, -3000, -3001, -3002, -3003, -3004, -3005}) {
    CAPTURE(code);
    const std::string description = Error::descriptionForCode(code);
    CHECK_FALSE(description.empty());
    CHECK(description.rfind(fallbackStart, 0) == std::string::npos);
  }
}

// ---- Authentication --------------------------------------------------------------------------

TEST_CASE("URLCredentialStorage keeps credentials by space and user, and one default per space") {
  using P = URLCredential::Persistence;
  const std::string basic(NSURLAuthenticationMethodHTTPBasic);
  const URLProtectionSpace space("Example.com", 443, "https", "realm", basic);
  const URLProtectionSpace sameSpace("example.COM", 443, "https", "realm", basic);
  const URLProtectionSpace otherRealm("example.com", 443, "https", "other", basic);
  CHECK(space == sameSpace);
  CHECK_FALSE(space == otherRealm);
  CHECK_FALSE(space == URLProtectionSpace("example.com", 8443, "https", "realm", basic));

  URLCredentialStorage storage;
  storage.set(URLCredential("nobody", "x", P::none), space);  // never stored
  CHECK(storage.allCredentials().empty());
  storage.set(URLCredential("ann", "1", P::forSession), space);
  storage.set(URLCredential("bob", "2", P::permanent), sameSpace);
  CHECK(storage.credentials(space).size() == 2);
  CHECK(storage.credentials(otherRealm).empty());
  CHECK_FALSE(storage.defaultCredential(space));  // set() alone makes no default

  storage.setDefaultCredential(URLCredential("bob", "3", P::forSession), space);  // replaces bob's
  REQUIRE(storage.defaultCredential(sameSpace));
  CHECK(storage.defaultCredential(sameSpace)->password() == "3");
  CHECK(storage.credentials(space).at("bob").password() == "3");

  storage.remove(URLCredential("bob", "whatever", P::forSession), space);
  CHECK_FALSE(storage.defaultCredential(space));
  CHECK(storage.credentials(space).size() == 1);
  storage.remove(URLCredential("ann", "1", P::forSession), space);
  CHECK(storage.allCredentials().empty());

  CHECK(URLSessionConfiguration::defaultConfiguration().urlCredentialStorage == URLCredentialStorage::shared());
  auto ephemeral = URLSessionConfiguration::ephemeral().urlCredentialStorage;
  REQUIRE(ephemeral);
  CHECK(ephemeral != URLCredentialStorage::shared());
  CHECK(ephemeral != URLSessionConfiguration::ephemeral().urlCredentialStorage);
}

TEST_CASE("Authentication types") {
  const URLCredential credential("user", "secret", URLCredential::Persistence::forSession);
  CHECK(credential.user() == "user");
  CHECK(credential.password() == "secret");
  CHECK(credential.hasPassword());
  CHECK(credential.persistence() == URLCredential::Persistence::forSession);

  const URLProtectionSpace basicHttp("example.com", 80, "http", "realm", std::string(NSURLAuthenticationMethodHTTPBasic));
  CHECK(basicHttp.host() == "example.com");
  CHECK(basicHttp.port() == 80);
  CHECK(basicHttp.protocol() == "http");
  CHECK(basicHttp.realm() == "realm");
  CHECK(basicHttp.authenticationMethod() == NSURLAuthenticationMethodHTTPBasic);
  CHECK_FALSE(basicHttp.receivesCredentialSecurely());
  CHECK(URLProtectionSpace("h", 443, "https", std::nullopt, std::string(NSURLAuthenticationMethodHTTPBasic))
            .receivesCredentialSecurely());
  CHECK(URLProtectionSpace("h", 80, "http", std::nullopt, std::string(NSURLAuthenticationMethodHTTPDigest))
            .receivesCredentialSecurely());

  const auto failure = makeResponse({{"WWW-Authenticate", "Basic realm=\"realm\""}});
  const URLAuthenticationChallenge challenge(basicHttp, credential, 2, failure);
  CHECK(challenge.protectionSpace().realm() == "realm");
  CHECK(challenge.proposedCredential()->user() == "user");
  CHECK(challenge.previousFailureCount() == 2);
  CHECK(challenge.failureResponse() == failure);
}

// ---- URLSessionConfiguration -----------------------------------------------------------------

TEST_CASE("URLSessionConfiguration: defaults") {
  const auto configuration = URLSessionConfiguration::defaultConfiguration();
  CHECK(configuration.timeoutIntervalForRequest == 60);
  CHECK(configuration.timeoutIntervalForResource == 604800);
  CHECK(configuration.httpMaximumConnectionsPerHost == 6);
  CHECK(configuration.httpAdditionalHeaders.empty());
  CHECK_FALSE(configuration.isDiscretionary);
  CHECK(configuration.sessionSendsLaunchEvents);
  CHECK_FALSE(configuration.waitsForConnectivity);
  CHECK(configuration.allowsCellularAccess);
  CHECK(configuration.allowsExpensiveNetworkAccess);
  CHECK(configuration.allowsConstrainedNetworkAccess);
  CHECK(configuration.httpShouldSetCookies);
  CHECK(configuration.requestCachePolicy == URLRequest::CachePolicy::useProtocolCachePolicy);
  CHECK(configuration.protocolClasses.empty());
  CHECK(configuration.connectionProxyDictionary.empty());
  CHECK(configuration.identifier() == std::nullopt);
  CHECK_FALSE(configuration.isEphemeral());
}

TEST_CASE("URLSessionConfiguration: ephemeral and background") {
  const auto ephemeral = URLSessionConfiguration::ephemeral();
  CHECK(ephemeral.isEphemeral());
  CHECK(ephemeral.identifier() == std::nullopt);

  const auto background = URLSessionConfiguration::background("com.example.transfers");
  CHECK(background.identifier() == "com.example.transfers");
  CHECK_FALSE(background.isEphemeral());
  CHECK(background.timeoutIntervalForResource == 604800);

  CHECK_THROWS_AS(URLSessionConfiguration::background(""), std::invalid_argument);
}

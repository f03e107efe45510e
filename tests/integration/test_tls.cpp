// TLS failures reach the delegate as Apple's URLError codes (-1200…-1206), with the failing URL
// and no response; a trusted certificate loads. The trusted cases need the test authority in
// SSL_CERT_FILE, which the library reads once per process: they run only where meson gives this
// file a process of its own (FNTEST_OWN_PROCESS); the untrusted ones hold either way.
#include <doctest/doctest.h>

#include <cstdlib>

#include "Recorder.hpp"
#include "TlsServer.hpp"

using namespace fntest;

namespace {

using Certificate = TlsServer::Certificate;
using Behaviour = TlsServer::Behaviour;

// Sets SSL_CERT_FILE to the test authority, before this process's first https transfer.
bool trustTestAuthority() {
  if (!std::getenv("FNTEST_OWN_PROCESS")) return false;
  static const bool set = ::setenv("SSL_CERT_FILE", TlsServer::authorityFile().c_str(), 1) == 0;
  return set;
}

// Loads `url` with a delegate and checks what a failed TLS connection delivers: no response,
// no data, one didCompleteWithError with `code` and the URL.
void checkFails(const std::string& url, int code, double timeout = 10) {
  CAPTURE(url);
  auto recorder = std::make_shared<Recorder>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), recorder);
  URLRequest request{URL(url)};
  request.timeoutInterval = timeout;
  auto task = session->dataTask(request);
  task->resume();
  REQUIRE(recorder->waitForCompletions(1));
  auto id = task->taskIdentifier();
  auto error = recorder->completion(id).error;
  REQUIRE(error);
  CHECK(error->code == code);
  CHECK(error->domain == NSURLErrorDomain);
  REQUIRE(error->failingURL);
  CHECK(error->failingURL->absoluteString() == url);
  CHECK_FALSE(error->localizedDescription.empty());
  CHECK(task->response() == nullptr);
  auto events = recorder->events(id);
  CHECK(std::count(events.begin(), events.end(), "didReceiveResponse") == 0);
  CHECK(std::count(events.begin(), events.end(), "didReceiveData") == 0);
  CHECK(std::count(events.begin(), events.end(), "didCompleteWithError") == 1);
  session->finishTasksAndInvalidate();
}

}  // namespace

TEST_CASE("certificates no authority vouches for fail with serverCertificateHasUnknownRoot") {
  trustTestAuthority();  // the test authority, if trusted, vouches for neither
  for (auto kind : {Certificate::selfSigned, Certificate::unknownIssuer}) {
    TlsServer server(kind);
    checkFails(server.url("/"), URLError::serverCertificateHasUnknownRoot);
    CHECK(server.completedHandshakes() == 0);
  }
}

TEST_CASE("https to a server that answers in plain HTTP fails with secureConnectionFailed") {
  TlsServer plain(Certificate::trusted, Behaviour::plainHttp);
  checkFails(plain.url("/"), URLError::secureConnectionFailed);
}

TEST_CASE("a server that never answers the TLS handshake times out") {
  TlsServer silent(Certificate::trusted, Behaviour::neverHandshake);
  const auto start = std::chrono::steady_clock::now();
  checkFails(silent.url("/"), URLError::timedOut, 0.5);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("with the authority trusted: a valid certificate loads, and each flaw has Apple's code") {
  if (!trustTestAuthority()) {
    MESSAGE("skipped: needs a process of its own (meson test integration/tls)");
    return;
  }
  SUBCASE("valid") {
    TlsServer server;
    auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
    auto result = load(session, URLRequest(URL(server.url("/"))));
    REQUIRE_FALSE(result.error);
    CHECK(statusOf(result.response) == 200);
    REQUIRE(result.data);
    CHECK(result.data->view() == "secure hello");
    CHECK(server.completedHandshakes() == 1);
  }
  SUBCASE("expired") {
    TlsServer server(Certificate::expired);
    checkFails(server.url("/"), URLError::serverCertificateHasBadDate);
  }
  SUBCASE("not yet valid") {
    TlsServer server(Certificate::notYetValid);
    checkFails(server.url("/"), URLError::serverCertificateNotYetValid);
  }
  SUBCASE("issued for another host") {
    TlsServer server(Certificate::otherHost);
    checkFails(server.url("/"), URLError::serverCertificateUntrusted);
  }
  SUBCASE("the server requires a client certificate") {
    TlsServer server(Certificate::trusted, Behaviour::requireClientCertificate);
    checkFails(server.url("/"), URLError::clientCertificateRequired);
    CHECK(server.completedHandshakes() == 0);
  }
}

// A loopback TLS server for the tests of certificate checks and TLS failures.
//
// Each connection gets a TLS handshake with a certificate made for the server, then one
// HTTP/1.1 request is read and answered with 200 "secure hello" and the connection closes.
// Certificates are made in memory when the server starts (EC P-256, SHA-256), for 127.0.0.1
// and localhost unless the kind says otherwise. The trusted ones are issued by one test
// authority per process, whose PEM file a client trusts through SSL_CERT_FILE.
//
// Like TestServer, it runs on 127.0.0.1 with a thread per connection, and destruction never
// waits for clients: it shuts every socket down and joins all threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace fntest {

class TlsServer {
 public:
  enum class Certificate {
    trusted,        // issued by the test authority, valid now, for 127.0.0.1
    selfSigned,     // its own issuer
    unknownIssuer,  // issued by an authority no one trusts
    expired,        // by the test authority, not after yesterday
    notYetValid,    // by the test authority, not before tomorrow
    otherHost,      // by the test authority, for other.invalid only
  };
  enum class Behaviour {
    answer,                    // handshake, then 200 "secure hello"
    requireClientCertificate,  // refuses a client without a certificate
    neverHandshake,            // accepts the connection and never says a word
    plainHttp,                 // answers the ClientHello with a plain-text HTTP 400, as an http port does
  };

  explicit TlsServer(Certificate certificate = Certificate::trusted, Behaviour behaviour = Behaviour::answer);
  ~TlsServer();
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  // "https://127.0.0.1:PORT" + pathAndQuery.
  std::string url(std::string_view pathAndQuery) const;
  // Handshakes that completed (the client accepted the certificate and spoke TLS to the end).
  int completedHandshakes() const;

  // The test authority's certificate as a PEM file (written once per process, in the temporary
  // directory): what SSL_CERT_FILE should name for the trusted certificates to verify.
  static const std::string& authorityFile();

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace fntest

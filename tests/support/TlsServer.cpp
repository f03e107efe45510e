#include "TlsServer.hpp"

#include "FileDescriptor.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <list>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace fntest {

namespace {

constexpr long day = 24 * 60 * 60;

struct KeyFree { void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); } };
struct CertificateFree { void operator()(X509* certificate) const { X509_free(certificate); } };
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Certificate = std::unique_ptr<X509, CertificateFree>;

[[noreturn]] void fail(const char* what) {
    char reason[256] = "";
    ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
    throw std::runtime_error(std::string("fntest::TlsServer: ") + what + ": " + reason);
}

Key makeKey() {
    Key key(EVP_EC_gen("P-256"));
    if (!key) fail("EVP_EC_gen");
    return key;
}

void addExtension(X509* certificate, X509* issuer, int nid, const char* value) {
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
    if (!extension || !X509_add_ext(certificate, extension, -1)) fail("X509_add_ext");
    X509_EXTENSION_free(extension);
}

// A certificate for `key`, valid from now + notBefore to now + notAfter (seconds), signed by
// `issuerKey` as `issuer` (null: self-signed). An authority gets CA:TRUE, a server its names.
Certificate makeCertificate(EVP_PKEY* key, const char* commonName, long notBefore, long notAfter, X509* issuer,
                            EVP_PKEY* issuerKey, bool authority, const char* names) {
    static std::atomic<long> serial{1};
    Certificate certificate(X509_new());
    if (!certificate) fail("X509_new");
    X509* c = certificate.get();
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), serial++);
    X509_gmtime_adj(X509_getm_notBefore(c), notBefore);
    X509_gmtime_adj(X509_getm_notAfter(c), notAfter);
    X509_set_pubkey(c, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(commonName), -1, -1, 0);
    X509_set_issuer_name(c, X509_get_subject_name(issuer ? issuer : c));
    X509* signer = issuer ? issuer : c;
    addExtension(c, signer, NID_subject_key_identifier, "hash");
    if (authority) {
        addExtension(c, signer, NID_basic_constraints, "critical,CA:TRUE");
        addExtension(c, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        addExtension(c, signer, NID_basic_constraints, "CA:FALSE");
        addExtension(c, signer, NID_ext_key_usage, "serverAuth");
        addExtension(c, signer, NID_subject_alt_name, names);
        if (issuer) addExtension(c, signer, NID_authority_key_identifier, "keyid");
    }
    if (!X509_sign(c, issuerKey ? issuerKey : key, EVP_sha256())) fail("X509_sign");
    return certificate;
}

struct Authority {
    Key key = makeKey();
    Certificate certificate;
    explicit Authority(const char* name)
        : certificate(makeCertificate(key.get(), name, -day, 30 * day, nullptr, nullptr, true, nullptr)) {}
};

// The authority that SSL_CERT_FILE trusts in the tests; one per process.
Authority& testAuthority() {
    static Authority authority("fntest authority");
    return authority;
}

}  // namespace

struct TlsServer::State {
    Behaviour behaviour;
    SSL_CTX* context = nullptr;
    FileDescriptor listener;
    FileDescriptor wakeRead, wakeWrite;  // a byte on wakeWrite ends the accept loop
    int port = 0;
    std::thread acceptThread;
    std::mutex mutex;  // guards connections and stopping
    bool stopping = false;
    struct Connection {
        int fd;
        std::thread thread;
    };
    std::list<Connection> connections;
    std::atomic<int> handshakes{0};

    void acceptLoop();
    void serve(int fd);
};

void TlsServer::State::serve(int fd) {
    if (behaviour == Behaviour::neverHandshake) {
        char byte;
        while (::recv(fd, &byte, 1, 0) > 0) {
        }  // reads the ClientHello, says nothing, until the client or the server hangs up
        return;
    }
    if (behaviour == Behaviour::plainHttp) {
        char buffer[4096];
        if (::recv(fd, buffer, sizeof buffer, 0) <= 0) return;
        static const std::string refusal =
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\nConnection: close\r\n\r\nbad request";
        ::send(fd, refusal.data(), refusal.size(), MSG_NOSIGNAL);
        return;
    }
    SSL* ssl = SSL_new(context);
    if (!ssl) return;
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
        std::string head;
        char buffer[4096];
        // TLS 1.3 checks a required client certificate after the server's first flight: a
        // client without one is refused at this read (alert certificate_required).
        while (head.find("\r\n\r\n") == std::string::npos) {
            int n = SSL_read(ssl, buffer, sizeof buffer);
            if (n <= 0) break;
            head.append(buffer, static_cast<std::size_t>(n));
        }
        if (head.find("\r\n\r\n") != std::string::npos) {
            ++handshakes;
            static const std::string response =
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\n"
                "secure hello";
            SSL_write(ssl, response.data(), static_cast<int>(response.size()));
            SSL_shutdown(ssl);
        }
    }
    SSL_free(ssl);
}

void TlsServer::State::acceptLoop() {
    for (;;) {
        pollfd fds[2] = {{listener.fd, POLLIN, 0}, {wakeRead.fd, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) continue;
        if (fds[1].revents) return;
        int fd = ::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        std::lock_guard lock(mutex);
        if (stopping) {
            ::close(fd);
            return;
        }
        auto& connection = connections.emplace_back(Connection{fd, {}});
        connection.thread = std::thread([this, fd] { serve(fd); });
    }
}

TlsServer::TlsServer(Certificate certificate, Behaviour behaviour) : state_(std::make_unique<State>()) {
    state_->behaviour = behaviour;
    Authority& authority = testAuthority();
    static Authority stranger("fntest unknown authority");
    Key key = makeKey();
    const char* names = "IP:127.0.0.1,DNS:localhost";
    long notBefore = -day, notAfter = 30 * day;
    X509* issuer = authority.certificate.get();
    EVP_PKEY* issuerKey = authority.key.get();
    switch (certificate) {
        case Certificate::trusted: break;
        case Certificate::selfSigned: issuer = nullptr, issuerKey = nullptr; break;
        case Certificate::unknownIssuer: issuer = stranger.certificate.get(), issuerKey = stranger.key.get(); break;
        case Certificate::expired: notBefore = -30 * day, notAfter = -day; break;
        case Certificate::notYetValid: notBefore = day, notAfter = 30 * day; break;
        case Certificate::otherHost: names = "DNS:other.invalid"; break;
    }
    auto leaf = makeCertificate(key.get(), "127.0.0.1", notBefore, notAfter, issuer, issuerKey, false, names);

    state_->context = SSL_CTX_new(TLS_server_method());
    if (!state_->context || !SSL_CTX_use_certificate(state_->context, leaf.get()) ||
        !SSL_CTX_use_PrivateKey(state_->context, key.get()))
        fail("SSL_CTX");
    if (behaviour == Behaviour::requireClientCertificate) {
        SSL_CTX_set_verify(state_->context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
        SSL_CTX_add_client_CA(state_->context, authority.certificate.get());
    }

    state_->listener.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int wake[2];
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (state_->listener.fd < 0 || ::bind(state_->listener.fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(state_->listener.fd, 64) != 0 ||
        ::getsockname(state_->listener.fd, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
        ::pipe2(wake, O_CLOEXEC) != 0)
        throw std::system_error(errno, std::generic_category(), "fntest::TlsServer: listen");
    state_->wakeRead.fd = wake[0];
    state_->wakeWrite.fd = wake[1];
    state_->port = ntohs(address.sin_port);
    state_->acceptThread = std::thread([state = state_.get()] { state->acceptLoop(); });
}

TlsServer::~TlsServer() {
    {
        std::lock_guard lock(state_->mutex);
        state_->stopping = true;
        for (auto& connection : state_->connections) ::shutdown(connection.fd, SHUT_RDWR);
    }
    char byte = 1;
    if (::write(state_->wakeWrite.fd, &byte, 1) != 1) std::perror("fntest::TlsServer: wake");
    state_->acceptThread.join();
    for (auto& connection : state_->connections) {
        connection.thread.join();
        ::close(connection.fd);
    }
    SSL_CTX_free(state_->context);
}

std::string TlsServer::url(std::string_view pathAndQuery) const {
    return "https://127.0.0.1:" + std::to_string(state_->port) + std::string(pathAndQuery);
}

int TlsServer::completedHandshakes() const { return state_->handshakes.load(); }

const std::string& TlsServer::authorityFile() {
    // Removed when the process exits.
    struct File {
        std::string path;
        File() {
            path = (std::filesystem::temp_directory_path() / ("fntest-authority-" + std::to_string(::getpid()) + ".pem"))
                       .string();
            FILE* out = std::fopen(path.c_str(), "w");
            const bool written = out && PEM_write_X509(out, testAuthority().certificate.get());
            if (out) std::fclose(out);
            if (!written) fail("PEM_write_X509");
        }
        ~File() { std::remove(path.c_str()); }
    };
    static const File file;
    return file.path;
}

}  // namespace fntest

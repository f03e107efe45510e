#include "protocols/CurlErrors.hpp"

namespace foundation::detail {
namespace {

// OpenSSL's X509_V_ERR_* values, as CURLINFO_SSL_VERIFYRESULT reports them.
int certificateErrorCode(long verifyResult) {
  switch (verifyResult) {
    case 9:   // certificate is not yet valid
      return URLError::serverCertificateNotYetValid;
    case 10:  // certificate has expired
      return URLError::serverCertificateHasBadDate;
    case 18:  // self-signed certificate
    case 19:  // self-signed certificate in chain
    case 20:  // unable to get local issuer certificate
    case 21:  // unable to verify the first certificate
      return URLError::serverCertificateHasUnknownRoot;
    default:
      return URLError::serverCertificateUntrusted;
  }
}

// TLS 1.3 servers refuse a client without a certificate with alert 116 (certificate_required),
// which curl reports only in its message, on the first read after the handshake.
bool refusedForWantOfCertificate(const std::string& detail) {
  return detail.find("alert certificate required") != std::string::npos;
}

int codeFor(CURLcode result, CURL* easy, const std::string& detail) {
  if ((result == CURLE_RECV_ERROR || result == CURLE_SSL_CONNECT_ERROR) && refusedForWantOfCertificate(detail))
    return URLError::clientCertificateRequired;
  switch (result) {
    // Only http(s) URLs reach curl, so this means the reply was not HTTP (a garbage or
    // HTTP/0.9 status line).
    case CURLE_UNSUPPORTED_PROTOCOL: return URLError::badServerResponse;
    case CURLE_URL_MALFORMAT: return URLError::badURL;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return URLError::cannotFindHost;
    case CURLE_COULDNT_CONNECT: return URLError::cannotConnectToHost;
    case CURLE_OPERATION_TIMEDOUT: return URLError::timedOut;
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3: return URLError::networkConnectionLost;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_RANGE_ERROR: return URLError::badServerResponse;
    case CURLE_OUT_OF_MEMORY: return URLError::cannotParseResponse;  // e.g. an oversized header
    case CURLE_BAD_CONTENT_ENCODING: return URLError::cannotDecodeContentData;
    case CURLE_FILESIZE_EXCEEDED: return URLError::dataLengthExceedsMaximum;
    case CURLE_WRITE_ERROR: return URLError::cannotWriteToFile;
    case CURLE_READ_ERROR: return URLError::cannotOpenFile;
    case CURLE_ABORTED_BY_CALLBACK: return URLError::cancelled;
    case CURLE_TOO_MANY_REDIRECTS: return URLError::httpTooManyRedirects;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_USE_SSL_FAILED: return URLError::secureConnectionFailed;
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CLIENTCERT: return URLError::clientCertificateRejected;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH: {
      long verifyResult = 0;
      if (easy) curl_easy_getinfo(easy, CURLINFO_SSL_VERIFYRESULT, &verifyResult);
      return certificateErrorCode(verifyResult);
    }
    default: return URLError::unknown;
  }
}

}  // namespace

Error errorForCurlResult(CURLcode result, CURL* easy, const URL& url, const std::string& detail) {
  return Error::url(codeFor(result, easy, detail), url, detail.empty() ? curl_easy_strerror(result) : detail);
}

}  // namespace foundation::detail

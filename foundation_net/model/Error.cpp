#include <foundation_net/Error.hpp>

#include <fmt/format.h>

namespace foundation {

Error Error::url(int code, std::optional<URL> failingURL, std::string detail) {
  Error error;
  error.domain = NSURLErrorDomain;
  error.code = code;
  error.localizedDescription = descriptionForCode(code);
  if (!detail.empty()) error.localizedFailureReason = std::move(detail);
  error.failingURL = std::move(failingURL);
  return error;
}

// CFNetwork's English strings. Where Apple's text names the file or host ("The file “x”
// couldn’t be opened…", "…pretending to be “host”…") the generic sentence is used.
std::string Error::descriptionForCode(int code) {
  switch (code) {
    case URLError::unknown: return "unknown error";
    case URLError::cancelled: return "cancelled";
    case URLError::backgroundSessionRequiresSharedContainer:
      return "The shared container identifier of the URL session configuration is needed but has not been set.";
    case URLError::backgroundSessionInUseByAnotherProcess:
      return "The background session is already in use by another process.";
    case URLError::backgroundSessionWasDisconnected: return "Lost connection to background transfer service";
    case URLError::badURL: return "bad URL";
    case URLError::timedOut: return "The request timed out.";
    case URLError::unsupportedURL: return "unsupported URL";
    case URLError::cannotFindHost: return "A server with the specified hostname could not be found.";
    case URLError::cannotConnectToHost: return "Could not connect to the server.";
    case URLError::networkConnectionLost: return "The network connection was lost.";
    case URLError::dnsLookupFailed: return "DNS lookup error";
    case URLError::httpTooManyRedirects: return "too many HTTP redirects";
    case URLError::resourceUnavailable: return "resource unavailable";
    case URLError::notConnectedToInternet: return "The Internet connection appears to be offline.";
    case URLError::redirectToNonExistentLocation: return "redirect to non-existent location";
    case URLError::badServerResponse: return "bad server response";
    case URLError::userCancelledAuthentication: return "user cancelled authentication";
    case URLError::userAuthenticationRequired: return "user authentication required";
    case URLError::zeroByteResource: return "zero byte resource";
    case URLError::cannotDecodeRawData: return "cannot decode raw data";
    case URLError::cannotDecodeContentData: return "cannot decode content data";
    case URLError::cannotParseResponse: return "cannot parse response";
    case URLError::fileDoesNotExist: return "The requested URL was not found on this server.";
    case URLError::fileIsDirectory: return "file is directory";
    case URLError::noPermissionsToReadFile: return "You do not have permission to access the requested resource.";
    case URLError::dataLengthExceedsMaximum: return "resource exceeds maximum size";
    case URLError::secureConnectionFailed:
      return "An SSL error has occurred and a secure connection to the server cannot be made.";
    case URLError::serverCertificateHasBadDate: return "The certificate for this server has expired.";
    case URLError::serverCertificateUntrusted: return "The certificate for this server is invalid.";
    case URLError::serverCertificateHasUnknownRoot:
      return "The certificate for this server was signed by an unknown certifying authority.";
    case URLError::serverCertificateNotYetValid: return "The certificate for this server is not yet valid.";
    case URLError::clientCertificateRejected: return "The server did not accept the certificate.";
    case URLError::clientCertificateRequired: return "The server requires a client certificate.";
    case URLError::cannotLoadFromNetwork: return "can’t load from network";
    case URLError::cannotCreateFile: return "cannot create file";
    case URLError::cannotOpenFile: return "cannot open file";
    case URLError::cannotCloseFile: return "failure closing file";
    case URLError::cannotWriteToFile: return "cannot write file";
    case URLError::cannotRemoveFile: return "cannot remove file";
    case URLError::cannotMoveFile: return "cannot move file";
    default: return fmt::format("The operation couldn’t be completed. (NSURLErrorDomain error {}.)", code);
  }
}

}  // namespace foundation

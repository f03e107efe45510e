// Error (NSError) and the NSURLErrorDomain codes (URLError).
#pragma once
#include <optional>
#include <string>

#include <foundation_net/Data.hpp>
#include <foundation_net/URL.hpp>

namespace foundation {

inline constexpr const char* NSURLErrorDomain = "NSURLErrorDomain";

// Apple's NSURLError values, usable as ints: err->code == URLError::timedOut
struct URLError {
  enum Code : int {
    unknown = -1,
    cancelled = -999,
    backgroundSessionRequiresSharedContainer = -995,
    backgroundSessionInUseByAnotherProcess = -996,
    backgroundSessionWasDisconnected = -997,
    badURL = -1000,
    timedOut = -1001,
    unsupportedURL = -1002,
    cannotFindHost = -1003,
    cannotConnectToHost = -1004,
    networkConnectionLost = -1005,
    dnsLookupFailed = -1006,
    httpTooManyRedirects = -1007,
    resourceUnavailable = -1008,
    notConnectedToInternet = -1009,
    redirectToNonExistentLocation = -1010,
    badServerResponse = -1011,
    userCancelledAuthentication = -1012,
    userAuthenticationRequired = -1013,
    zeroByteResource = -1014,
    cannotDecodeRawData = -1015,
    cannotDecodeContentData = -1016,
    cannotParseResponse = -1017,
    fileDoesNotExist = -1100,
    fileIsDirectory = -1101,
    noPermissionsToReadFile = -1102,
    dataLengthExceedsMaximum = -1103,
    secureConnectionFailed = -1200,
    serverCertificateHasBadDate = -1201,
    serverCertificateUntrusted = -1202,
    serverCertificateHasUnknownRoot = -1203,
    serverCertificateNotYetValid = -1204,
    clientCertificateRejected = -1205,
    clientCertificateRequired = -1206,
    cannotLoadFromNetwork = -2000,
    cannotCreateFile = -3000,
    cannotOpenFile = -3001,
    cannotCloseFile = -3002,
    cannotWriteToFile = -3003,
    cannotRemoveFile = -3004,
    cannotMoveFile = -3005,
  };
  // Apple's NSURLErrorBackgroundTaskCancelledReason* values.
  enum BackgroundTaskCancelledReason : int {
    userForceQuitApplication = 0,
    backgroundUpdatesDisabled = 1,
    insufficientSystemResources = 2,
  };
};

struct Error {  // NSError
  std::string domain;  // NSURLErrorDomain for URL loading errors
  int code = 0;
  std::string localizedDescription;  // Apple's text for the code
  std::optional<URL> failingURL;                     // NSURLErrorFailingURLErrorKey
  std::optional<Data> resumeData;                    // NSURLSessionDownloadTaskResumeData (and upload)
  std::optional<int> backgroundTaskCancelledReason;  // NSURLErrorBackgroundTaskCancelledReasonKey
  std::optional<std::string> localizedFailureReason;  // NSLocalizedFailureReasonErrorKey: what went wrong here

  // An NSURLErrorDomain error with Apple's description for the code; `detail` (libcurl's
  // message, a file name) becomes the failure reason.
  static Error url(int code, std::optional<URL> failingURL = std::nullopt,
                   std::string detail = {});
  // Apple's localized description for an NSURLErrorDomain code ("The request timed out.").
  static std::string descriptionForCode(int code);
};

}  // namespace foundation

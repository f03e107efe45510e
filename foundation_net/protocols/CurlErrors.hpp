// Translates libcurl's results into NSURLErrorDomain errors, as Apple's loader would report them.
#pragma once
#include <string>

#include <curl/curl.h>

#include <foundation_net/Error.hpp>

namespace foundation::detail {

// The URLError for a failed transfer; `easy` is consulted for TLS verification details.
Error errorForCurlResult(CURLcode result, CURL* easy, const URL& url, const std::string& detail);

}  // namespace foundation::detail

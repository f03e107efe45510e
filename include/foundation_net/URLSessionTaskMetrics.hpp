// URLSessionTaskMetrics: timings of each request/response transaction of a task.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <foundation_net/Date.hpp>
#include <foundation_net/URLRequest.hpp>
#include <foundation_net/URLResponse.hpp>

namespace foundation {

struct URLSessionTaskTransactionMetrics {  // Apple's fields; dates absent when a step did not happen
  enum class ResourceFetchType { unknown = 0, networkLoad = 1, serverPush = 2, localCache = 3 };
  std::optional<URLRequest> request;
  std::shared_ptr<const URLResponse> response;
  std::optional<Date> fetchStartDate, domainLookupStartDate, domainLookupEndDate, connectStartDate,
      secureConnectionStartDate, secureConnectionEndDate, connectEndDate, requestStartDate,
      requestEndDate, responseStartDate, responseEndDate;
  std::optional<std::string> networkProtocolName;  // "http/1.1", "h2"
  bool isReusedConnection = false;
  bool isProxyConnection = false;
  ResourceFetchType resourceFetchType = ResourceFetchType::unknown;
  std::optional<std::string> remoteAddress;
  std::optional<int> remotePort;
  std::int64_t countOfRequestHeaderBytesSent = 0, countOfRequestBodyBytesSent = 0,
               countOfResponseHeaderBytesReceived = 0, countOfResponseBodyBytesReceived = 0;
};

struct URLSessionTaskMetrics {
  std::vector<URLSessionTaskTransactionMetrics> transactionMetrics;
  Date taskIntervalStart;
  TimeInterval taskIntervalDuration = 0;
  int redirectCount = 0;
};

}  // namespace foundation

#include <foundation_net/NetworkResponse.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fmt/format.h>

#include "model/Text.hpp"

namespace foundation {

namespace {

// The month number (1...12) of an English three-letter abbreviation, or 0.
unsigned monthNumber(const char* name) {
  static constexpr std::array<const char*, 12> months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (unsigned i = 0; i < months.size(); ++i)
    if (text::equalsIgnoringCase(name, months[i])) return i + 1;
  return 0;
}

// An HTTP-date in any of the three forms RFC 9110 requires a recipient to accept, or nullopt.
std::optional<Date> parseHTTPDate(const std::string& value) {
  char weekday[16] = {}, month[4] = {};
  int day = 0, year = 0, hour = 0, minute = 0, second = 0, consumed = 0;
  const char* s = value.c_str();
  const auto whole = [&] { return consumed > 0 && static_cast<std::size_t>(consumed) == value.size(); };
  bool parsed =
      // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
      (std::sscanf(s, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", weekday, &day, month, &year, &hour,
                   &minute, &second, &consumed) == 7 && whole());
  if (!parsed) {
    // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT (a two-digit year is taken as 19xx from 70 on)
    consumed = 0;
    parsed = std::sscanf(s, "%15[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", weekday, &day, month, &year, &hour,
                         &minute, &second, &consumed) == 7 && whole();
    if (parsed) year += year < 70 ? 2000 : 1900;
  }
  if (!parsed) {
    // asctime: Sun Nov  6 08:49:37 1994
    consumed = 0;
    parsed = std::sscanf(s, "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", weekday, month, &day, &hour, &minute,
                         &second, &year, &consumed) == 7 && whole();
  }
  if (!parsed) return std::nullopt;
  const unsigned monthValue = monthNumber(month);
  const std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(monthValue),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (monthValue == 0 || !date.ok() || hour > 23 || minute > 59 || second > 60 || hour < 0 || minute < 0 || second < 0)
    return std::nullopt;
  return std::chrono::sys_days(date) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
         std::chrono::seconds(second);
}

}  // namespace

std::optional<TimeInterval> NetworkResponse::retryAfterInterval(const HTTPURLResponse& response, Date now) {
  auto header = response.value("Retry-After");
  if (!header) return std::nullopt;
  const std::string value(text::trimmed(*header));
  if (value.empty()) return std::nullopt;
  if (value.find_first_not_of("0123456789") == std::string::npos) {
    double seconds = 0;
    for (char c : value) seconds = seconds * 10 + (c - '0');  // no overflow to worry about in a double
    return seconds;
  }
  auto date = parseHTTPDate(value);
  if (!date) return std::nullopt;
  return std::max(0.0, std::chrono::duration<double>(*date - now).count());
}

NetworkResponse::Kind NetworkResponse::kindForStatus(int status) {
  if (status < 200) return Kind::failed;
  switch (status) {
    case 200: case 201: case 202: case 204: return Kind::success;
    case 408: case 429: case 500: case 502: case 503: case 504: return Kind::retry;
    default: return Kind::rejected;
  }
}

NetworkResponse NetworkResponse::failure(Error error) {
  NetworkResponse result;
  result.kind_ = Kind::failed;
  result.error_ = std::move(error);
  return result;
}

NetworkResponse NetworkResponse::from(std::shared_ptr<const URLResponse> response, std::optional<Error> error,
                                      std::optional<URL> file, std::optional<Data> body, bool expectsFile, Date now) {
  auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(response);
  std::optional<URL> url = response ? response->url() : std::nullopt;
  NetworkResponse result;
  result.response_ = http;
  result.body_ = std::move(body);
  if (error) {
    result.error_ = std::move(error);
    return result;
  }
  if (!http) {
    result.error_ = Error::url(response ? URLError::badServerResponse : URLError::unknown, url,
                               response ? "the response is not an HTTP response" : "the task ended without a response");
    return result;
  }
  const int status = http->statusCode();
  switch (kindForStatus(status)) {
    case Kind::failed:
      result.error_ = Error::url(URLError::badServerResponse, url, fmt::format("the final status is {}", status));
      break;
    case Kind::success:
      if (expectsFile && !file) {
        result.error_ = Error::url(URLError::cannotOpenFile, url, "the download finished without a file");
      } else {
        result.kind_ = Kind::success;
        result.file_ = std::move(file);
      }
      break;
    case Kind::retry:
      result.kind_ = Kind::retry;
      result.retryAfter_ = retryAfterInterval(*http, now);
      break;
    case Kind::rejected:
      result.kind_ = Kind::rejected;
      break;
  }
  return result;
}

std::string NetworkResponse::description() const {
  switch (kind_) {
    case Kind::success: return fmt::format("success ({})", statusCode());
    case Kind::rejected: return fmt::format("rejected ({})", statusCode());
    case Kind::retry:
      return retryAfter_ ? fmt::format("retry ({}, after {} s)", statusCode(), *retryAfter_)
                         : fmt::format("retry ({})", statusCode());
    case Kind::failed: break;
  }
  return error_ ? fmt::format("failed ({} {})", error_->code, error_->localizedDescription) : "failed";
}

}  // namespace foundation

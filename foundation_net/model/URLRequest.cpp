#include <foundation_net/URLRequest.hpp>

#include <algorithm>

#include "model/Text.hpp"

namespace foundation {

namespace {

constexpr TimeInterval defaultTimeoutInterval = 60;

}  // namespace

URLRequest::URLRequest(URL url, CachePolicy cachePolicy, TimeInterval timeoutInterval)
    : url(std::move(url)), timeoutInterval(timeoutInterval), cachePolicy(cachePolicy) {}

void URLRequest::setValue(std::optional<std::string> value, std::string_view field) {
  const auto existing = text::findIgnoringCase(headers_, field);
  if (!value) {
    if (existing != headers_.end()) headers_.erase(existing);
  } else if (existing != headers_.end()) {
    existing->second = std::move(*value);
  } else {
    headers_.emplace_back(std::string(field), std::move(*value));
  }
}

void URLRequest::addValue(std::string_view value, std::string_view field) {
  const auto existing = text::findIgnoringCase(headers_, field);
  if (existing == headers_.end()) {
    headers_.emplace_back(std::string(field), std::string(value));
  } else {
    existing->second += ',';
    existing->second += value;
  }
}

std::optional<std::string> URLRequest::value(std::string_view field) const {
  const auto existing = text::findIgnoringCase(headers_, field);
  if (existing == headers_.end()) return std::nullopt;
  return existing->second;
}

std::map<std::string, std::string> URLRequest::allHTTPHeaderFields() const {
  return {headers_.begin(), headers_.end()};
}

void URLRequest::setAllHTTPHeaderFields(const std::map<std::string, std::string>& fields) {
  headers_.clear();
  for (const auto& [name, value] : fields) setValue(value, name);
}

// A timeoutInterval assigned directly (Swift's `request.timeoutInterval = 5`) counts as explicit too.
bool URLRequest::hasExplicitTimeout() const {
  return explicitTimeout_ || timeoutInterval != defaultTimeoutInterval;
}

void URLRequest::setTimeoutInterval(TimeInterval seconds) {
  timeoutInterval = seconds;
  explicitTimeout_ = true;
}

bool operator==(const URLRequest& a, const URLRequest& b) {
  // Names are unique per request, so equal sizes and a match for each field of a mean equal sets.
  const bool sameHeaders =
      a.headers_.size() == b.headers_.size() &&
      std::all_of(a.headers_.begin(), a.headers_.end(),
                  [&b](const auto& field) { return b.value(field.first) == field.second; });
  return sameHeaders && a.url == b.url && a.httpMethod == b.httpMethod && a.httpBody == b.httpBody &&
         a.timeoutInterval == b.timeoutInterval && a.cachePolicy == b.cachePolicy;
}

}  // namespace foundation

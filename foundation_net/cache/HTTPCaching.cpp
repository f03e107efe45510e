#include "cache/HTTPCaching.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>
#include <limits>

#include <curl/curl.h>

#include "model/Text.hpp"

namespace foundation::detail::cache {

namespace {

using Seconds = std::chrono::duration<double>;

std::optional<std::string> field(const URLResponse& response, std::string_view name) {
  const auto* http = dynamic_cast<const HTTPURLResponse*>(&response);
  return http ? http->value(name) : std::nullopt;
}

// An HTTP date (any of the three RFC 9110 forms), read by libcurl.
std::optional<Date> parseDate(const std::optional<std::string>& value) {
  if (!value) return std::nullopt;
  const std::time_t when = curl_getdate(value->c_str(), nullptr);
  if (when == -1) return std::nullopt;
  return std::chrono::system_clock::from_time_t(when);
}

std::optional<Date> dateField(const URLResponse& response, std::string_view name) {
  return parseDate(field(response, name));
}

// Pragma: no-cache, the HTTP/1.0 way of saying Cache-Control: no-cache.
bool saysNoCache(const std::optional<std::string>& pragma) {
  return pragma && text::lowercased(text::trimmed(*pragma)) == "no-cache";
}

std::optional<std::int64_t> parseSeconds(std::string_view text) {
  text = text::trimmed(text);
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') text = text.substr(1, text.size() - 2);
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) return std::numeric_limits<std::int32_t>::max();  // "a very long time"
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

// Calls `each(name, argument)` for every comma-separated entry of a field value.
template <class Each>
void forEachDirective(std::string_view value, Each each) {
  while (!value.empty()) {
    auto comma = value.find(',');
    std::string_view part = text::trimmed(value.substr(0, comma));
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    if (part.empty()) continue;
    auto equals = part.find('=');
    each(text::trimmed(part.substr(0, equals)),
         equals == std::string_view::npos ? std::string_view() : text::trimmed(part.substr(equals + 1)));
  }
}

CacheControl cacheControlOf(const FieldLookup& request) {
  auto control = parseCacheControl(request("Cache-Control").value_or(""));
  if (saysNoCache(request("Pragma"))) control.noCache = true;
  return control;
}

// `control`: the response's Cache-Control, parsed.
std::optional<Seconds> freshnessLifetime(const URLResponse& response, const CacheControl& control, Date storedAt) {
  if (control.maxAge) return Seconds(static_cast<double>(*control.maxAge));
  const auto expires = field(response, "Expires"), modified = field(response, "Last-Modified");
  if (!expires && !modified) return std::nullopt;  // (dates are read only when there is one to go by)
  const Date date = dateField(response, "Date").value_or(storedAt);
  if (expires) {
    // An Expires that is not a date (often "0" or "-1") means already expired.
    auto when = parseDate(expires);
    return when ? std::max(Seconds(0), Seconds(*when - date)) : Seconds(0);
  }
  if (auto when = parseDate(modified); when && *when < date)
    return std::min(Seconds(date - *when) * 0.1, Seconds(7 * 86400.0));
  return std::nullopt;
}

// RFC 9111 4.2.3, with the response time taken as the moment it was stored.
Seconds currentAge(const URLResponse& response, Date storedAt, Date now) {
  const Date date = dateField(response, "Date").value_or(storedAt);
  Seconds apparent = std::max(Seconds(0), Seconds(storedAt - date));
  auto age = parseSeconds(field(response, "Age").value_or("0")).value_or(0);
  Seconds initial = std::max(apparent, Seconds(static_cast<double>(age)));
  return initial + std::max(Seconds(0), Seconds(now - storedAt));
}

}  // namespace

CacheControl parseCacheControl(std::string_view value) {
  CacheControl control;
  forEachDirective(value, [&](std::string_view name, std::string_view argument) {
    const std::string directive = text::lowercased(name);
    if (directive == "no-store") {
      control.noStore = true;
    } else if (directive == "no-cache") {
      control.noCache = true;
    } else if (directive == "must-revalidate") {
      control.mustRevalidate = true;
    } else if (directive == "max-age") {
      // A max-age that cannot be read means "stale" (RFC 9111 4.2.1).
      control.maxAge = parseSeconds(argument).value_or(0);
    }
  });
  return control;
}

std::string keyFor(const URL& url) {
  std::string key = url.absoluteString();
  if (auto hash = key.find('#'); hash != std::string::npos) key.resize(hash);
  return key;
}

bool isStorable(const URLRequest& request, const HTTPURLResponse& response) {
  if (request.httpMethod != "GET") return false;
  const int status = response.statusCode();
  if (status < 200 || status >= 300 || status == 206) return false;
  if (parseCacheControl(request.value("Cache-Control").value_or("")).noStore) return false;
  if (parseCacheControl(response.value("Cache-Control").value_or("")).noStore) return false;
  bool varyAll = false;
  forEachDirective(response.value("Vary").value_or(""), [&](std::string_view name, std::string_view) {
    varyAll = varyAll || name == "*";
  });
  return !varyAll;
}

Fields varyFields(const URLResponse& response, const FieldLookup& request) {
  Fields fields;
  forEachDirective(field(response, "Vary").value_or(""), [&](std::string_view name, std::string_view) {
    fields.emplace_back(std::string(name), request(name).value_or(""));
  });
  return fields;
}

bool varyMatches(const URLCache::Entry& entry, const FieldLookup& request) {
  return std::all_of(entry.varyFields.begin(), entry.varyFields.end(),
                     [&](const auto& f) { return request(f.first).value_or("") == f.second; });
}

bool isFresh(const URLCache::Entry& entry, const FieldLookup& request, Date now) {
  // The response's side first: most stored responses have no lifetime, which settles it.
  const URLResponse& response = *entry.response.response();
  const auto control = parseCacheControl(field(response, "Cache-Control").value_or(""));
  if (control.noCache) return false;
  auto lifetime = freshnessLifetime(response, control, entry.storedAt);
  if (!lifetime) return false;
  if (saysNoCache(field(response, "Pragma"))) return false;
  const auto requested = cacheControlOf(request);
  if (requested.noCache || (requested.maxAge && *requested.maxAge == 0)) return false;
  auto age = currentAge(response, entry.storedAt, now);
  if (requested.maxAge && age > Seconds(static_cast<double>(*requested.maxAge))) return false;
  return age < *lifetime;
}

Fields conditionalFields(const URLResponse& stored) {
  Fields fields;
  if (auto etag = field(stored, "ETag"); etag && !etag->empty()) fields.emplace_back("If-None-Match", *etag);
  if (auto modified = field(stored, "Last-Modified"); modified && !modified->empty())
    fields.emplace_back("If-Modified-Since", *modified);
  return fields;
}

std::shared_ptr<const HTTPURLResponse> updatedBy(const HTTPURLResponse& stored, const HTTPURLResponse& notModified) {
  // The fields that describe the stored body stay as they were.
  static constexpr std::string_view kept[] = {"Content-Length", "Content-Encoding", "Content-Type", "Content-Range",
                                              "Transfer-Encoding", "Content-Disposition"};
  auto isKept = [](std::string_view name) {
    return std::any_of(std::begin(kept), std::end(kept), [&](std::string_view k) { return text::equalsIgnoringCase(k, name); });
  };
  auto fields = stored.headerFields();
  for (const auto& [name, value] : notModified.headerFields()) {
    if (isKept(name)) continue;
    if (auto it = text::findIgnoringCase(fields, name); it != fields.end()) {
      it->second = value;
    } else {
      fields.emplace_back(name, value);
    }
  }
  return std::make_shared<HTTPURLResponse>(*stored.url(), stored.statusCode(), stored.httpVersion(), std::move(fields));
}

bool invalidates(const URLRequest& request, const URLResponse& response) {
  const auto& method = request.httpMethod;
  if (method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE") return false;
  const auto* http = dynamic_cast<const HTTPURLResponse*>(&response);
  return http && http->statusCode() >= 200 && http->statusCode() < 400;
}

}  // namespace foundation::detail::cache

// URLs of the form scheme://authority/… are parsed and normalised by libcurl's URL API.
// URLs without an authority ("mailto:x@y", "data:,x", "urn:isbn:…") are RFC 3986 URIs that curl
// does not take; they are kept verbatim (scheme lower-cased) and split here.
#include <foundation_net/URL.hpp>

#include <curl/curl.h>

#include <filesystem>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>

#include "model/Text.hpp"

namespace foundation {

namespace {

struct CurlUrlDeleter {
  void operator()(CURLU* handle) const { curl_url_cleanup(handle); }
};
using CurlUrl = std::unique_ptr<CURLU, CurlUrlDeleter>;

bool isAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isAsciiDigit(char c) { return c >= '0' && c <= '9'; }

// Length of the RFC 3986 scheme the text starts with (ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
// followed by ':'), or 0 when it does not start with one.
std::size_t schemeLength(std::string_view text) {
  if (text.empty() || !isAsciiAlpha(text[0])) return 0;
  for (std::size_t i = 1; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ':') return i;
    if (!isAsciiAlpha(c) && !isAsciiDigit(c) && c != '+' && c != '-' && c != '.') return 0;
  }
  return 0;
}

bool containsSpaceOrControl(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) return true;
  }
  return false;
}

// True for a valid URL text of the form scheme:rest where rest does not start with "//".
bool lacksAuthority(std::string_view text) {
  return text.substr(schemeLength(text) + 1).substr(0, 2) != "//";
}

// Parses text with libcurl; null when curl does not accept it as an absolute URL.
CurlUrl parseWithCurl(const std::string& text) {
  CurlUrl handle(curl_url());
  if (!handle) throw std::bad_alloc();
  if (curl_url_set(handle.get(), CURLUPART_URL, text.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    return nullptr;
  }
  return handle;
}

// One part of a parsed URL as it appears in the text; nullopt when curl reports it absent.
std::optional<std::string> curlPart(CURLU* handle, CURLUPart part) {
  char* value = nullptr;
  if (curl_url_get(handle, part, &value, 0) != CURLUE_OK) return std::nullopt;
  std::string result(value);
  curl_free(value);
  return result;
}

// One part of a URL of the scheme://authority form, re-parsed from its normalised text.
std::optional<std::string> curlPart(const std::string& text, CURLUPart part) {
  const CurlUrl handle = parseWithCurl(text);
  return handle ? curlPart(handle.get(), part) : std::nullopt;
}

// An absolute URL's normalised text, with the host and port read off the same parse (they are
// asked for on every request, and a parse costs more than the request's own bookkeeping).
struct Normalised {
  std::string text;
  std::string host;  // without IPv6 brackets; empty without an authority
  std::optional<int> port;
};

// The normalised form of an absolute URL, or nullopt when the text is not one.
std::optional<Normalised> normalised(std::string_view text) {
  const std::size_t length = schemeLength(text);
  if (length == 0 || containsSpaceOrControl(text)) return std::nullopt;
  const std::string_view rest = text.substr(length + 1);
  if (rest.empty()) return std::nullopt;
  if (rest.substr(0, 2) != "//") return Normalised{text::lowercased(text.substr(0, length)) + ":" + std::string(rest), {}, {}};
  const CurlUrl handle = parseWithCurl(std::string(text));
  if (!handle) return std::nullopt;
  auto form = curlPart(handle.get(), CURLUPART_URL);
  if (!form) return std::nullopt;
  Normalised result{std::move(*form), curlPart(handle.get(), CURLUPART_HOST).value_or(""), std::nullopt};
  // An IPv6 literal is reported without its brackets, as Foundation does.
  if (result.host.size() >= 2 && result.host.front() == '[' && result.host.back() == ']')
    result.host = result.host.substr(1, result.host.size() - 2);
  if (auto port = curlPart(handle.get(), CURLUPART_PORT)) result.port = std::stoi(*port);
  return result;
}

// The path, query and fragment of a URL without an authority, still percent-encoded.
struct AuthoritylessParts {
  std::string_view path;
  std::optional<std::string_view> query;
  std::optional<std::string_view> fragment;
};

AuthoritylessParts splitAuthorityless(std::string_view text) {
  AuthoritylessParts parts;
  std::string_view rest = text.substr(schemeLength(text) + 1);
  if (const auto hash = rest.find('#'); hash != std::string_view::npos) {
    parts.fragment = rest.substr(hash + 1);
    rest = rest.substr(0, hash);
  }
  if (const auto question = rest.find('?'); question != std::string_view::npos) {
    parts.query = rest.substr(question + 1);
    rest = rest.substr(0, question);
  }
  parts.path = rest;
  return parts;
}

std::optional<std::string> toString(std::optional<std::string_view> part) {
  return part ? std::optional<std::string>(std::string(*part)) : std::nullopt;
}

// Percent-encodes everything a path may not hold literally (RFC 3986 pchar and "/" stay), so
// text taken as a file name or path component — spaces, '%', '?', '#' — survives parsing.
std::string percentEncodedPath(std::string_view path) {
  constexpr std::string_view allowed = "-._~!$&'()*+,;=:@/";
  std::string out;
  out.reserve(path.size());
  for (const char c : path) {
    if (isAsciiAlpha(c) || isAsciiDigit(c) || allowed.find(c) != std::string_view::npos) {
      out.push_back(c);
    } else {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return out;
}

}  // namespace

URL::URL(std::string_view text) {
  auto form = normalised(text);
  if (!form) throw std::invalid_argument(fmt::format("not an absolute URL: \"{}\"", text));
  text_ = std::move(form->text);
  host_ = std::move(form->host);
  port_ = form->port;
}

std::optional<URL> URL::fromString(std::string_view text) {
  auto form = normalised(text);
  if (!form) return std::nullopt;
  URL url;
  url.text_ = std::move(form->text);
  url.host_ = std::move(form->host);
  url.port_ = form->port;
  return url;
}

URL URL::fileURLWithPath(std::string_view path) {
  std::filesystem::path absolute(path);
  if (absolute.is_relative()) absolute = std::filesystem::current_path() / absolute;
  return URL("file://" + percentEncodedPath(absolute.string()));
}

std::optional<URL> URL::resolving(std::string_view reference) const {
  if (schemeLength(reference) > 0) return fromString(reference);  // already absolute
  if (lacksAuthority(text_)) return std::nullopt;  // nothing relative resolves against "mailto:…"
  // curl 7.88 drops the last path segment and the query for "" and "#f"; RFC 3986 keeps them.
  if (reference.empty() || reference.front() == '#') {
    return fromString(text_.substr(0, text_.find('#')) + std::string(reference));
  }
  const CurlUrl handle = parseWithCurl(text_);
  if (!handle || curl_url_set(handle.get(), CURLUPART_URL, std::string(reference).c_str(),
                              CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    return std::nullopt;
  }
  const auto resolved = curlPart(handle.get(), CURLUPART_URL);
  return resolved ? fromString(*resolved) : std::nullopt;
}

std::string URL::absoluteString() const { return text_; }

std::string URL::scheme() const { return text_.substr(0, schemeLength(text_)); }

std::string URL::host() const { return host_; }

std::optional<int> URL::port() const { return port_; }

std::string URL::path() const {
  if (lacksAuthority(text_)) return text::percentDecoded(splitAuthorityless(text_).path);
  return text::percentDecoded(curlPart(text_, CURLUPART_PATH).value_or("/"));
}

std::optional<std::string> URL::query() const {
  if (lacksAuthority(text_)) return toString(splitAuthorityless(text_).query);
  return curlPart(text_, CURLUPART_QUERY);
}

std::optional<std::string> URL::fragment() const {
  if (lacksAuthority(text_)) return toString(splitAuthorityless(text_).fragment);
  return curlPart(text_, CURLUPART_FRAGMENT);
}

std::optional<std::string> URL::user() const {
  if (lacksAuthority(text_)) return std::nullopt;
  const auto user = curlPart(text_, CURLUPART_USER);
  return user ? std::optional<std::string>(text::percentDecoded(*user)) : std::nullopt;
}

std::optional<std::string> URL::password() const {
  if (lacksAuthority(text_)) return std::nullopt;
  const auto password = curlPart(text_, CURLUPART_PASSWORD);
  return password ? std::optional<std::string>(text::percentDecoded(*password)) : std::nullopt;
}

std::string URL::lastPathComponent() const {
  const std::string fullPath = path();
  const auto last = fullPath.find_last_not_of('/');
  if (last == std::string::npos) return fullPath.empty() ? "" : "/";
  const auto slash = fullPath.find_last_of('/', last);
  const auto first = slash == std::string::npos ? 0 : slash + 1;
  return fullPath.substr(first, last + 1 - first);
}

bool URL::isFileURL() const { return scheme() == "file"; }

URL URL::appendingPathComponent(std::string_view component) const {
  const auto firstNonSlash = component.find_first_not_of('/');
  component = component.substr(firstNonSlash == std::string_view::npos ? component.size() : firstNonSlash);
  // The path ends where the query or fragment begins (neither character is literal before it).
  const auto pathEnd = std::min(text_.find_first_of("?#"), text_.size());
  const bool endsWithSlash = pathEnd > 0 && text_[pathEnd - 1] == '/';
  std::string text = text_.substr(0, pathEnd);
  if (!endsWithSlash) text += '/';
  text += percentEncodedPath(component);
  text += text_.substr(pathEnd);
  return URL(text);
}

bool operator==(const URL& a, const URL& b) { return a.absoluteString() == b.absoluteString(); }

}  // namespace foundation

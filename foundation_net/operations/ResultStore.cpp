#include "operations/ResultStore.hpp"

#include <fmt/format.h>

#include <charconv>
#include <fstream>
#include <vector>

#include "model/Text.hpp"

namespace foundation::operations {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view recordMagic = "foundation_net operation result 1";

// %XX for every byte `keep` refuses (and for '%' itself), so any bytes survive a text line.
template <class Keep>
std::string escaped(std::string_view bytes, Keep keep) {
  std::string out;
  out.reserve(bytes.size());
  for (char c : bytes) {
    if (c != '%' && keep(static_cast<unsigned char>(c))) {
      out.push_back(c);
    } else {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return out;
}

std::string lineValue(std::string_view bytes) {
  return escaped(bytes, [](unsigned char c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace

std::string fileName(const std::string& identifier) {
  if (identifier.empty()) return "%";  // no identifier escapes to a lone '%'
  std::string name = escaped(identifier, [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
  if (name.size() > 180) {
    std::uint64_t hash = 14695981039346656037ull;  // FNV-1a, 64 bits: stable across builds
    for (unsigned char c : identifier) hash = (hash ^ c) * 1099511628211ull;
    name = fmt::format("{}~{:016x}", name.substr(0, 160), hash);
  }
  return name;
}

namespace {

std::optional<std::int64_t> integer(std::string_view s) {
  std::int64_t value = 0;
  auto [end, problem] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (problem != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

std::string encode(const std::string& identifier, const Outcome& outcome) {
  std::string out = fmt::format("{}\nidentifier {}\ntask {}\n", recordMagic, lineValue(identifier), outcome.taskIdentifier);
  if (const auto& r = outcome.response) {
    out += fmt::format("response-url {}\nstatus {}\nversion {}\n", lineValue(r->url() ? r->url()->absoluteString() : ""),
                       r->statusCode(), lineValue(r->httpVersion()));
    for (const auto& [name, value] : r->headerFields()) out += fmt::format("header {} {}\n", lineValue(name), lineValue(value));
  }
  if (const auto& e = outcome.error) {
    out += fmt::format("error-domain {}\nerror-code {}\nerror-description {}\n", lineValue(e->domain), e->code,
                       lineValue(e->localizedDescription));
    if (e->localizedFailureReason) out += fmt::format("error-reason {}\n", lineValue(*e->localizedFailureReason));
    if (e->failingURL) out += fmt::format("error-url {}\n", lineValue(e->failingURL->absoluteString()));
    if (e->resumeData) out += fmt::format("error-resume {}\n", lineValue(e->resumeData->view()));
    if (e->backgroundTaskCancelledReason) out += fmt::format("error-cancelled-reason {}\n", *e->backgroundTaskCancelledReason);
  }
  if (outcome.file) out += fmt::format("file {}\n", lineValue(outcome.file->path()));
  if (outcome.body) out += fmt::format("body {}\n", lineValue(outcome.body->view()));
  return out;
}

// The record's identifier and outcome, or nullopt when it is not a record of this version.
std::optional<std::pair<std::string, Outcome>> decode(std::istream& in) {
  std::string line;
  if (!std::getline(in, line) || line != recordMagic) return std::nullopt;
  std::optional<std::string> identifier, responseURL, version;
  std::optional<int> status;
  std::vector<std::pair<std::string, std::string>> headers;
  Outcome outcome;
  Error error;
  bool hasError = false;
  while (std::getline(in, line)) {
    const auto space = line.find(' ');
    const std::string key = line.substr(0, space);
    const std::string value = space == std::string::npos ? "" : text::percentDecoded(line.substr(space + 1));
    if (key == "identifier") {
      identifier = value;
    } else if (key == "task") {
      outcome.taskIdentifier = static_cast<std::uint64_t>(integer(value).value_or(0));
    } else if (key == "response-url") {
      responseURL = value;
    } else if (key == "status") {
      if (auto n = integer(value)) status = static_cast<int>(*n);
    } else if (key == "version") {
      version = value;
    } else if (key == "header") {
      const std::string raw = line.substr(space + 1);
      const auto split = raw.find(' ');
      if (split == std::string::npos) return std::nullopt;
      headers.emplace_back(text::percentDecoded(raw.substr(0, split)), text::percentDecoded(raw.substr(split + 1)));
    } else if (key == "error-domain") {
      hasError = true;
      error.domain = value;
    } else if (key == "error-code") {
      error.code = static_cast<int>(integer(value).value_or(URLError::unknown));
    } else if (key == "error-description") {
      error.localizedDescription = value;
    } else if (key == "error-reason") {
      error.localizedFailureReason = value;
    } else if (key == "error-url") {
      error.failingURL = URL::fromString(value);
    } else if (key == "error-resume") {
      error.resumeData = Data(value);
    } else if (key == "error-cancelled-reason") {
      if (auto n = integer(value)) error.backgroundTaskCancelledReason = static_cast<int>(*n);
    } else if (key == "file") {
      outcome.file = URL::fileURLWithPath(value);
    } else if (key == "body") {
      outcome.body = Data(value);
    }
  }
  if (!identifier) return std::nullopt;
  if (status) {
    auto url = responseURL ? URL::fromString(*responseURL) : std::nullopt;
    if (!url) return std::nullopt;
    outcome.response = std::make_shared<HTTPURLResponse>(*url, *status, version.value_or("HTTP/1.1"), std::move(headers));
  }
  if (hasError) outcome.error = std::move(error);
  return std::make_pair(std::move(*identifier), std::move(outcome));
}

}  // namespace

ResultStore::ResultStore(fs::path folder) : folder_(std::move(folder)) {
  std::error_code ignored;
  fs::create_directories(folder_ / "results", ignored);
  fs::create_directories(folder_ / "files", ignored);
}

fs::path ResultStore::recordPath(const std::string& identifier) const { return folder_ / "results" / fileName(identifier); }

fs::path ResultStore::keptFile(const std::string& identifier) const { return folder_ / "files" / fileName(identifier); }

std::map<std::string, Outcome> ResultStore::load() const {
  std::map<std::string, Outcome> held;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(folder_ / "results", error)) {
    if (entry.path().extension() == ".new") continue;  // a save that did not finish
    std::ifstream in(entry.path(), std::ios::binary);
    if (auto record = decode(in)) held.insert_or_assign(std::move(record->first), std::move(record->second));
  }
  return held;
}

bool ResultStore::save(const std::string& identifier, const Outcome& outcome) const {
  const fs::path path = recordPath(identifier);
  fs::path temporary = path;
  temporary += ".new";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << encode(identifier, outcome);
    out.flush();
    if (!out) return false;
  }
  std::error_code error;
  fs::rename(temporary, path, error);
  return !error;
}

void ResultStore::remove(const std::string& identifier) const {
  std::error_code ignored;
  fs::remove(recordPath(identifier), ignored);
}

std::error_code moveFile(const fs::path& from, const fs::path& to) {
  std::error_code error;
  if (to.has_parent_path()) fs::create_directories(to.parent_path(), error);
  fs::rename(from, to, error);
  if (error == std::errc::cross_device_link) {
    error.clear();
    fs::copy_file(from, to, fs::copy_options::overwrite_existing, error);
    if (!error) fs::remove(from, error);
  }
  return error;
}

}  // namespace foundation::operations

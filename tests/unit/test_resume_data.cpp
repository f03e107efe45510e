// The resume data codec (docs/resume-data.md): round trips, compatibility rules, rejection of
// damaged data, and when a response can be resumed at all.
#include <doctest/doctest.h>

#include <string>

#include "model/ResumeData.hpp"

using namespace foundation;
using foundation::detail::ResumeData;

namespace {

ResumeData sample() {
  ResumeData d;
  d.url = "https://example.com/files/big.bin?x=1";
  d.originalURL = "https://example.com/redirect";
  d.headers = {{"Accept", "*/*"}, {"X-Token", std::string("a\0b", 3)}};
  d.timeoutMilliseconds = 2500;
  d.folder = ResumeData::Folder::temporary;
  d.fileName = "CFNetworkDownload_Ab12Cd";
  d.bytesReceived = 123456;
  d.validator = "\"v1\"";
  d.expectedLength = 1000000;
  return d;
}

void field(std::string& out, std::uint16_t tag, std::string_view value) {
  out.push_back(static_cast<char>(tag & 0xff));
  out.push_back(static_cast<char>(tag >> 8));
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value.size() >> (8 * i)) & 0xff));
  out.append(value);
}

std::string integer(std::int64_t value) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((static_cast<std::uint64_t>(value) >> (8 * i)) & 0xff));
  return out;
}

// Closes a record with its end field (the CRC-32 of what came before).
std::string closed(std::string record) {
  const auto crc = ResumeData::checksum(record);
  std::string value;
  for (int i = 0; i < 4; ++i) value.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  field(record, 0xFFFF, value);
  return record;
}

// A hand-built version 1.0 record without its end field, as the format documentation describes it.
std::string handBuilt(std::uint16_t major = 1, std::uint16_t minor = 0) {
  std::string out = "FNRD";
  out.push_back(static_cast<char>(major));
  out.push_back(static_cast<char>(major >> 8));
  out.push_back(static_cast<char>(minor));
  out.push_back(static_cast<char>(minor >> 8));
  field(out, 1, "http://127.0.0.1:8080/bytes");
  field(out, 6, "CFNetworkDownload_xyz");
  field(out, 7, integer(42));
  field(out, 8, "Wed, 21 Oct 2015 07:28:00 GMT");
  return out;
}

HTTPURLResponse response(int status, std::vector<std::pair<std::string, std::string>> headers) {
  return HTTPURLResponse(URL("https://example.com/f"), status, "HTTP/1.1", std::move(headers));
}

}  // namespace

TEST_CASE("resume data round-trips every field") {
  auto d = sample();
  auto back = ResumeData::decode(d.encode());
  REQUIRE(back);
  CHECK(back->url == d.url);
  CHECK(back->originalURL == d.originalURL);
  CHECK(back->headers == d.headers);
  CHECK(back->timeoutMilliseconds == d.timeoutMilliseconds);
  CHECK(back->folder == d.folder);
  CHECK(back->fileName == d.fileName);
  CHECK(back->bytesReceived == d.bytesReceived);
  CHECK(back->validator == d.validator);
  CHECK(back->expectedLength == d.expectedLength);
  CHECK(back->encode() == d.encode());
  auto request = back->request();
  CHECK(request.url->absoluteString() == d.url);
  CHECK(request.value("Accept") == "*/*");
  CHECK(request.hasExplicitTimeout());
  CHECK(request.timeoutInterval == doctest::Approx(2.5));
  CHECK(back->originalRequest().url->absoluteString() == d.originalURL);
}

TEST_CASE("the encoding starts with the magic and the version and ends with the checksum") {
  std::string bytes(sample().encode().view());
  CHECK(bytes.substr(0, 8) == std::string("FNRD\x01\x00\x01\x00", 8));  // 1.1
  CHECK(bytes.substr(bytes.size() - 10, 6) == std::string("\xff\xff\x04\x00\x00\x00", 6));
  CHECK(ResumeData::checksum("123456789") == 0xCBF43926u);  // the CRC-32 check value
}

TEST_CASE("a version 1.0 record built by hand decodes (the documented layout is the format)") {
  auto d = ResumeData::decode(Data(closed(handBuilt())));
  REQUIRE(d);
  CHECK(d->url == "http://127.0.0.1:8080/bytes");
  CHECK(d->fileName == "CFNetworkDownload_xyz");
  CHECK(d->bytesReceived == 42);
  CHECK(d->validator == "Wed, 21 Oct 2015 07:28:00 GMT");
  CHECK(d->folder == ResumeData::Folder::temporary);
  CHECK(d->expectedLength == -1);
  CHECK(d->headers.empty());
}

TEST_CASE("compatibility: a newer minor version and unknown fields are read; another major version is not") {
  std::string newer = handBuilt(1, 7);
  field(newer, 999, "a field from the future");
  field(newer, 99, integer(5));  // tags 10-15 are 1.1's upload fields
  auto d = ResumeData::decode(Data(closed(newer)));
  REQUIRE(d);
  CHECK(d->bytesReceived == 42);
  CHECK_FALSE(ResumeData::decode(Data(closed(handBuilt(2, 0)))));
  CHECK_FALSE(ResumeData::decode(Data(closed(handBuilt(0, 0)))));
}

TEST_CASE("damaged resume data is rejected, never half-read") {
  const std::string good(sample().encode().view());
  for (std::size_t cut = 0; cut < good.size(); ++cut) {
    CAPTURE(cut);
    CHECK_FALSE(ResumeData::decode(Data(good.substr(0, cut))));
  }
  CHECK_FALSE(ResumeData::decode(Data("XXXX" + good.substr(4))));           // magic
  CHECK_FALSE(ResumeData::decode(Data(good + std::string("\x01", 1))));     // a partial field header
  std::string flipped = good;
  flipped[20] ^= 1;  // one bit of the URL
  CHECK_FALSE(ResumeData::decode(Data(flipped)));
  CHECK_FALSE(ResumeData::decode(Data(handBuilt())));  // no end field
  std::string noSeparator = handBuilt();
  field(noSeparator, 3, "no separator");  // a header without "name\0value"
  CHECK_FALSE(ResumeData::decode(Data(closed(noSeparator))));
  std::string shortInteger = handBuilt();
  field(shortInteger, 7, "1234");  // an integer of 4 bytes
  CHECK_FALSE(ResumeData::decode(Data(closed(shortInteger))));
  std::string negative = handBuilt();
  field(negative, 7, integer(-1));
  CHECK_FALSE(ResumeData::decode(Data(closed(negative))));
  std::string badFolder = handBuilt();
  field(badFolder, 5, integer(9));
  CHECK_FALSE(ResumeData::decode(Data(closed(badFolder))));
  CHECK_FALSE(ResumeData::decode(Data(std::string(ResumeData::maximumSize + 1, 'x'))));
}

TEST_CASE("required fields, URLs, headers and file names are checked") {
  auto without = [](auto change) {
    auto d = sample();
    change(d);
    return ResumeData::decode(d.encode()).has_value();
  };
  CHECK_FALSE(without([](ResumeData& d) { d.validator.clear(); }));
  CHECK_FALSE(without([](ResumeData& d) { d.url = "ftp://example.com/f"; }));
  CHECK_FALSE(without([](ResumeData& d) { d.url = "not a url"; }));
  CHECK_FALSE(without([](ResumeData& d) { d.originalURL = "file:///etc/passwd"; }));
  CHECK_FALSE(without([](ResumeData& d) { d.headers.emplace_back("Range", "bytes=0-"); }));
  CHECK_FALSE(without([](ResumeData& d) { d.headers.emplace_back("accept", "twice"); }));
  for (const std::string& name : std::vector<std::string>{"", "../CFNetworkDownload_x", "/tmp/CFNetworkDownload_x", "CFNetworkDownload_",
                           "passwd", ".CFNetworkDownload_x", "x.resumable", std::string("CFNetworkDownload_\0x", 20)}) {
    CAPTURE(name);
    CHECK_FALSE(without([&](ResumeData& d) { d.fileName = name; }));
  }
  CHECK(without([](ResumeData& d) { d.fileName = "CFNetworkDownload_Q"; }));
  CHECK(without([](ResumeData& d) {
    d.folder = ResumeData::Folder::staging;
    d.fileName = "0123-4567-3.resumable";
  }));
  CHECK_FALSE(without([](ResumeData& d) {
    d.folder = ResumeData::Folder::staging;
    d.fileName = "CFNetworkDownload_Q";
  }));
}

TEST_CASE("a download is resumable only as Apple's are") {
  URLRequest get(URL("https://example.com/f"));
  CHECK(detail::resumable(get, response(200, {{"ETag", "\"a\""}, {"Accept-Ranges", "bytes"}})));
  CHECK(detail::resumable(get, response(200, {{"Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT"}, {"Accept-Ranges", "bytes"}})));
  CHECK(detail::resumable(get, response(206, {{"ETag", "\"a\""}, {"Content-Range", "bytes 5-9/10"}})));
  CHECK_FALSE(detail::resumable(get, response(200, {{"ETag", "\"a\""}})));                        // no ranges
  CHECK_FALSE(detail::resumable(get, response(200, {{"ETag", "W/\"a\""}, {"Accept-Ranges", "bytes"}})));  // weak
  CHECK_FALSE(detail::resumable(get, response(200, {{"Accept-Ranges", "bytes"}})));               // no validator
  CHECK_FALSE(detail::resumable(get, response(200, {{"ETag", "\"a\""}, {"Accept-Ranges", "none"}})));
  CHECK_FALSE(detail::resumable(get, response(404, {{"ETag", "\"a\""}, {"Accept-Ranges", "bytes"}})));
  CHECK_FALSE(detail::resumable(get, response(200, {{"ETag", "\"a\""}, {"Accept-Ranges", "bytes"}, {"Content-Encoding", "gzip"}})));
  URLRequest post = get;
  post.httpMethod = "POST";
  CHECK_FALSE(detail::resumable(post, response(200, {{"ETag", "\"a\""}, {"Accept-Ranges", "bytes"}})));
  CHECK(detail::strongValidator(response(200, {{"ETag", "W/\"a\""}, {"Last-Modified", "L"}})) == "L");

  auto made = ResumeData::make(get, get, response(206, {{"ETag", "\"a\""}, {"Content-Range", "bytes 5-9/10"}}),
                               ResumeData::Folder::temporary, "CFNetworkDownload_1", 5);
  REQUIRE(made);
  CHECK(made->expectedLength == 10);
  CHECK(made->validator == "\"a\"");
  CHECK_FALSE(ResumeData::make(get, get, response(200, {{"ETag", "\"a\""}, {"Accept-Ranges", "bytes"}}),
                               ResumeData::Folder::temporary, "../escape", 5));
}

TEST_CASE("Content-Range parsing") {
  using detail::parseContentRange;
  CHECK(parseContentRange("bytes 100-199/1000") == std::pair<std::int64_t, std::int64_t>{100, 1000});
  CHECK(parseContentRange("bytes 0-0/*") == std::pair<std::int64_t, std::int64_t>{0, -1});
  CHECK_FALSE(parseContentRange("bytes */1000"));
  CHECK_FALSE(parseContentRange("items 1-2/3"));
  CHECK_FALSE(parseContentRange("bytes 1-2/x"));
  CHECK_FALSE(parseContentRange("bytes -5-9/10"));
  using detail::parseUnsatisfiedContentRange;
  CHECK(parseUnsatisfiedContentRange(" bytes */1000 ") == 1000);
  CHECK_FALSE(parseUnsatisfiedContentRange("bytes 0-9/1000"));
  CHECK_FALSE(parseUnsatisfiedContentRange("bytes */"));
  CHECK_FALSE(parseUnsatisfiedContentRange("bytes */-1"));
  CHECK_FALSE(parseUnsatisfiedContentRange("bytes */10x"));
}

namespace {

ResumeData uploadSample() {
  URLRequest post(URL("https://example.com/uploads?album=1"));
  post.httpMethod = "PUT";
  post.setValue("image/heic", "Content-Type");
  post.setTimeoutInterval(30);
  auto d = ResumeData::forUpload(post, "https://example.com/uploads/7f3a", 5, 1048576);
  d.bodyPath = "/home/user/photo.heic";
  d.uploadOffset = 300000;
  return d;
}

}  // namespace

TEST_CASE("upload resume data round-trips: the resource, the original request, the version and the body") {
  const auto d = uploadSample();
  auto back = ResumeData::decode(d.encode());
  REQUIRE(back);
  CHECK(back->kind == ResumeData::Kind::upload);
  CHECK(back->url == "https://example.com/uploads/7f3a");
  CHECK(back->interopVersion == 5);
  CHECK(back->bodyPath == "/home/user/photo.heic");
  CHECK(back->bodyLength == 1048576);
  CHECK(back->uploadOffset == 300000);
  CHECK(back->encode() == d.encode());
  auto original = back->originalRequest();
  CHECK(original.url->absoluteString() == "https://example.com/uploads?album=1");
  CHECK(original.httpMethod == "PUT");
  CHECK(original.value("Content-Type") == "image/heic");
  CHECK(original.timeoutInterval == doctest::Approx(30));

  auto copy = uploadSample();
  copy.bodyPath.clear();
  copy.fileName = "CFNetworkUpload_Zz9";
  auto copyBack = ResumeData::decode(copy.encode());
  REQUIRE(copyBack);
  CHECK(copyBack->fileName == "CFNetworkUpload_Zz9");
  CHECK(copyBack->bodyPath.empty());
}

TEST_CASE("upload resume data that breaks a rule is rejected") {
  auto rejects = [](auto change) {
    auto d = uploadSample();
    change(d);
    return !ResumeData::decode(d.encode());
  };
  CHECK(rejects([](ResumeData& d) { d.interopVersion = 4; }));
  CHECK(rejects([](ResumeData& d) { d.method = ""; }));
  CHECK(rejects([](ResumeData& d) { d.method = "PO ST"; }));
  CHECK(rejects([](ResumeData& d) { d.originalURL = ""; }));
  CHECK(rejects([](ResumeData& d) { d.url = "file:///etc/passwd"; }));
  CHECK(rejects([](ResumeData& d) { d.uploadOffset = d.bodyLength + 1; }));
  CHECK(rejects([](ResumeData& d) { d.bodyPath = "relative/photo.heic"; }));
  CHECK(rejects([](ResumeData& d) { d.bodyPath.clear(); }));                                  // no body at all
  CHECK(rejects([](ResumeData& d) { d.bodyPath.clear(); d.fileName = "../photo.heic"; }));
  CHECK(rejects([](ResumeData& d) { d.bodyPath.clear(); d.fileName = "CFNetworkDownload_x"; }));
  CHECK(rejects([](ResumeData& d) { d.bodyPath.clear(); d.fileName = "CFNetworkUpload_x"; d.folder = ResumeData::Folder::staging; }));
  // A download's record is not an upload's, nor the reverse: the factories check the kind.
  CHECK(ResumeData::decode(sample().encode())->kind == ResumeData::Kind::download);
}

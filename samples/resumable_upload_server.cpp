// A tiny server for resumable uploads (the IETF "Resumable Uploads for HTTP" draft, interop
// versions 3, 5 and 6, as iOS 17/18 speak it), to try resumable_upload against. One request per
// connection, one connection at a time; uploads are kept in memory and saved to FOLDER/ID when
// complete. POSIX sockets only: it is a sample, not a production server.
//
//   resumable_upload_server FOLDER [--drop-after BYTES]
//
// It prints "http://127.0.0.1:PORT" first. POST /uploads answers 104 Upload Resumption Supported
// with Location /uploads/ID, then takes the body; with --drop-after, the first upload's
// connection is cut after BYTES bytes, as a lost network would. HEAD /uploads/ID gives
// Upload-Offset; PATCH /uploads/ID with Upload-Offset appends (409 on a mismatch); DELETE drops it.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace {

struct Upload {
  int version = 0;
  std::string bytes;
  bool complete = false;
};

struct Request {
  std::string method, path;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string pending;                         // body bytes read with the head
  std::optional<std::string> header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::nullopt : std::optional(it->second);
  }
};

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

bool writeAll(int fd, const std::string& bytes) {
  for (std::size_t sent = 0; sent < bytes.size();) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

std::optional<Request> readHead(int fd) {
  std::string data;
  char buffer[16384];
  std::size_t end;
  while ((end = data.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0 || data.size() > (1 << 20)) return std::nullopt;
    data.append(buffer, static_cast<std::size_t>(n));
  }
  Request request;
  std::size_t lineEnd = data.find("\r\n");
  std::string line = data.substr(0, lineEnd);
  std::size_t space = line.find(' ');
  request.method = line.substr(0, space);
  request.path = line.substr(space + 1, line.find(' ', space + 1) - space - 1);
  for (std::size_t at = lineEnd + 2; at < end;) {
    std::size_t next = data.find("\r\n", at);
    std::string field = data.substr(at, next - at);
    std::size_t colon = field.find(':');
    if (colon != std::string::npos) {
      std::size_t value = field.find_first_not_of(' ', colon + 1);
      request.headers[lower(field.substr(0, colon))] = value == std::string::npos ? "" : field.substr(value);
    }
    at = next + 2;
  }
  request.pending = data.substr(end + 4);
  return request;
}

// Reads the body into `into`, `length` bytes in all, stopping early (false) after `limit` bytes.
bool readBody(int fd, Request& request, std::size_t length, std::size_t limit, std::string& into) {
  std::string& pending = request.pending;
  char buffer[65536];
  std::size_t taken = 0;
  while (taken < length) {
    if (taken >= limit) return false;
    if (pending.empty()) {
      ssize_t n = ::recv(fd, buffer, std::min(sizeof buffer, length - taken), 0);
      if (n <= 0) return false;
      pending.assign(buffer, static_cast<std::size_t>(n));
    }
    std::size_t take = std::min({pending.size(), length - taken, limit - taken});
    into.append(pending, 0, take);
    pending.erase(0, take);
    taken += take;
  }
  return true;
}

// Cuts the connection as a lost network would, but lets the client read what came before.
void hangUp(int fd) {
  ::shutdown(fd, SHUT_WR);
  char buffer[65536];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  pollfd readable{fd, POLLIN, 0};
  while (std::chrono::steady_clock::now() < deadline)
    if (::poll(&readable, 1, 50) > 0 && ::recv(fd, buffer, sizeof buffer, 0) <= 0) return;
}

std::string completion(int version, bool complete) {
  return version == 3 ? std::string("Upload-Incomplete: ") + (complete ? "?0" : "?1")
                      : std::string("Upload-Complete: ") + (complete ? "?1" : "?0");
}

std::string answer(int status, const std::string& reason, const std::string& fields, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n" + fields + "Content-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

class Server {
 public:
  Server(std::string folder, std::optional<std::size_t> dropAfter) : folder_(std::move(folder)), dropAfter_(dropAfter) {}

  void serve(int fd) {
    auto request = readHead(fd);
    if (!request) return;
    const std::size_t length = std::strtoull(request->header("content-length").value_or("0").c_str(), nullptr, 10);
    const int version = std::atoi(request->header("upload-draft-interop-version").value_or("0").c_str());
    const bool known = version == 3 || version == 5 || version == 6;
    const bool complete = version == 3 ? request->header("upload-incomplete").value_or("?0") == "?0"
                                       : request->header("upload-complete").value_or("") == "?1";
    if (request->method == "POST" && request->path == "/uploads" && known) {
      const std::string id = std::to_string(nextId_++);
      Upload& upload = uploads_[id];
      upload.version = version;
      std::printf("POST /uploads: upload %s, version %d\n", id.c_str(), version);
      if (!writeAll(fd, "HTTP/1.1 104 Upload Resumption Supported\r\nUpload-Draft-Interop-Version: " +
                            std::to_string(version) + "\r\nLocation: /uploads/" + id + "\r\n\r\n"))
        return;
      const std::size_t limit = dropAfter_ ? *std::exchange(dropAfter_, std::nullopt) : length;
      return append(fd, *request, id, length, limit, complete);
    }
    auto found = request->path.rfind("/uploads/", 0) == 0 ? uploads_.find(request->path.substr(9)) : uploads_.end();
    if (found == uploads_.end()) return void(writeAll(fd, answer(404, "Not Found", "", "no such upload\n")));
    Upload& upload = found->second;
    const std::string fields = "Upload-Draft-Interop-Version: " + std::to_string(upload.version) + "\r\n" +
                               completion(upload.version, upload.complete) + "\r\nUpload-Offset: " +
                               std::to_string(upload.bytes.size()) + "\r\n";
    if (request->method == "HEAD") {
      std::printf("HEAD %s: offset %zu\n", request->path.c_str(), upload.bytes.size());
      return void(writeAll(fd, "HTTP/1.1 204 No Content\r\n" + fields + "Cache-Control: no-store\r\nConnection: close\r\n\r\n"));
    }
    if (request->method == "DELETE") {
      uploads_.erase(found);
      return void(writeAll(fd, answer(204, "No Content", "", "")));
    }
    const std::string offset = request->header("upload-offset").value_or("");
    if (request->method != "PATCH" || upload.complete || offset != std::to_string(upload.bytes.size())) {
      std::printf("%s %s: refused (offset %s, server has %zu)\n", request->method.c_str(), request->path.c_str(),
                  offset.c_str(), upload.bytes.size());
      std::string drained;
      readBody(fd, *request, length, length, drained);
      return void(writeAll(fd, answer(409, "Conflict", fields, "offset mismatch\n")));
    }
    std::printf("PATCH %s: %zu bytes from offset %s\n", request->path.c_str(), length, offset.c_str());
    append(fd, *request, found->first, length, length, complete);
  }

 private:
  void append(int fd, Request& request, const std::string& id, std::size_t length, std::size_t limit, bool complete) {
    Upload& upload = uploads_[id];
    if (!readBody(fd, request, length, limit, upload.bytes)) {
      std::printf("upload %s: connection lost at offset %zu\n", id.c_str(), upload.bytes.size());
      return hangUp(fd);
    }
    upload.complete = complete;
    if (complete) {
      std::ofstream(folder_ + "/" + id, std::ios::binary) << upload.bytes;
      std::printf("upload %s: complete, %zu bytes saved\n", id.c_str(), upload.bytes.size());
    }
    writeAll(fd, answer(200, "OK", completion(upload.version, complete) + "\r\n",
                        "stored " + std::to_string(upload.bytes.size()) + " bytes\n"));
  }

  std::string folder_;
  std::optional<std::size_t> dropAfter_;
  std::map<std::string, Upload> uploads_;
  int nextId_ = 1;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && !(argc == 4 && std::string(argv[2]) == "--drop-after")) {
    std::fputs("usage: resumable_upload_server FOLDER [--drop-after BYTES]\n", stderr);
    return 2;
  }
  std::optional<std::size_t> dropAfter;
  if (argc == 4) dropAfter = std::strtoull(argv[3], nullptr, 10);
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0 || ::listen(listener, 16) < 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &size) < 0) {
    std::perror("resumable_upload_server");
    return 1;
  }
  std::printf("http://127.0.0.1:%d\n", ntohs(address.sin_port));
  std::fflush(stdout);
  Server server(argv[1], dropAfter);
  for (;;) {
    int fd = ::accept(listener, nullptr, nullptr);
    if (fd < 0) continue;
    server.serve(fd);
    std::fflush(stdout);
    ::close(fd);
  }
}

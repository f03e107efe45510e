// A test server for cookies: /set answers with the Set-Cookie lines of its `c` and `d` query
// values (and a 302 to `to` when given), and /show* answers with the request's Cookie header.
#pragma once
#include <cctype>
#include <string>
#include <string_view>

#include "TestServer.hpp"

namespace fntest {

inline std::string percentEncoded(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
      out += static_cast<char>(c);
    } else {
      out += {'%', hex[c >> 4], hex[c & 15]};
    }
  }
  return out;
}

struct CookieServer {
  TestServer server;
  CookieServer() {
    server.route("/set", [](const RecordedRequest& request, Responder& responder) {
      HeaderList headers;
      for (const char* key : {"c", "d"})
        if (auto it = request.query.find(key); it != request.query.end()) headers.emplace_back("Set-Cookie", it->second);
      auto to = request.query.find("to");
      if (to != request.query.end()) headers.emplace_back("Location", to->second);
      responder.send(to != request.query.end() ? 302 : 200, headers, "set");
    });
    server.route("/show*", [](const RecordedRequest& request, Responder& responder) {
      responder.send(200, {}, request.header("Cookie").value_or("(none)"));
    });
  }
  std::string set(std::string_view cookie, std::string_view second = {}, std::string_view to = {}) const {
    std::string query = "/set?c=" + percentEncoded(cookie);
    if (!second.empty()) query += "&d=" + percentEncoded(second);
    if (!to.empty()) query += "&to=" + percentEncoded(to);
    return server.url(query);
  }
};

}  // namespace fntest

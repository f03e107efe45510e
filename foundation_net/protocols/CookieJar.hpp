// Cookies for one http transfer, through libcurl's cookie engine: curl parses Set-Cookie
// (public suffixes, prefixes, expiry) and picks what a request sends; the storage stays ours.
// Before the transfer the storage's cookies for the host are loaded into the easy handle;
// after each response head that set cookies, what curl's list gained, changed or lost since
// then goes back to the storage, as the accept policy allows. Loop thread only.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <curl/curl.h>

#include <foundation_net/HTTPCookieStorage.hpp>

namespace foundation::detail {

class CookieJar {
 public:
  CookieJar(std::shared_ptr<HTTPCookieStorage> storage, HTTPCookie::AcceptPolicy policy,
            std::optional<URL> mainDocumentURL)
      : storage_(std::move(storage)), policy_(policy), mainDocumentURL_(std::move(mainDocumentURL)) {}

  // Turns curl's engine on for `easy` and loads the cookies a request for `url` may send
  // (none when `sendStored` is false: the request brought its own Cookie header).
  void load(CURL* easy, const URL& url, bool sendStored);
  // After a response head with Set-Cookie: stores what it changed.
  void collect(CURL* easy);
  // Empties the handle's cookies, so that its next transfer starts with none.
  static void clear(CURL* easy);

  // curl's cookie-file line for `cookie` ("#HttpOnly_" domain, tailmatch, path, secure, expiry, name, value).
  static std::string netscapeLine(const HTTPCookie& cookie);
  // The cookie of one line of CURLINFO_COOKIELIST; nullopt for a line that is not one.
  static std::optional<HTTPCookie> fromNetscapeLine(std::string_view line);

 private:
  std::shared_ptr<HTTPCookieStorage> storage_;
  HTTPCookie::AcceptPolicy policy_;
  std::optional<URL> mainDocumentURL_;
  std::vector<HTTPCookie> known_;  // the handle's cookies as last loaded or collected
};

}  // namespace foundation::detail

// Persistent cookie storages: what HTTPCookieStorage(file) keeps across instances, what it
// leaves out, and how it treats a file it did not write, a damaged one and one it cannot write.
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <foundation_net/HTTPCookieStorage.hpp>

#include "TempFolder.hpp"

using namespace foundation;
using namespace std::chrono_literals;

namespace {

HTTPCookie made(HTTPCookie::Properties properties) {
  auto cookie = HTTPCookie::make(properties);
  REQUIRE(cookie);
  return *cookie;
}

// A cookie of example.com that expires in an hour, or a session cookie when `lasting` is false.
HTTPCookie cookie(const std::string& name, const std::string& value, bool lasting = true, const std::string& path = "/") {
  HTTPCookie::Properties properties{{HTTPCookiePropertyKey::name, name},
                                    {HTTPCookiePropertyKey::value, value},
                                    {HTTPCookiePropertyKey::domain, ".example.com"},
                                    {HTTPCookiePropertyKey::path, path}};
  if (lasting) properties[HTTPCookiePropertyKey::maximumAge] = "3600";
  return made(properties);
}

std::vector<std::string> namesIn(const HTTPCookieStorage& storage) {
  std::vector<std::string> names;
  for (const auto& c : storage.cookies()) names.push_back(c.name() + "=" + c.value());
  return names;
}

// Runs `sql` on the file with a connection of the test's own.
void execute(const std::filesystem::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  char* message = nullptr;
  const int result = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
  const std::string text = message ? message : "";
  sqlite3_free(message);
  sqlite3_close(db);
  REQUIRE_MESSAGE(result == SQLITE_OK, text);
}

}  // namespace

TEST_CASE("a storage with a file keeps its cookies with an expiry; session cookies stay in memory") {
  fntest::TempFolder folder;
  const auto file = (folder.path() / "app" / "Cookies.db").string();
  const auto expiry = cookie("a", "1").expiresDate();
  {
    HTTPCookieStorage storage(file);
    CHECK(storage.cookies().empty());
    CHECK_FALSE(std::filesystem::exists(file));  // nothing to keep yet: no file
    storage.setCookie(cookie("a", "1"));
    storage.setCookie(cookie("session", "s", false));
    auto secure = made({{HTTPCookiePropertyKey::name, "b"},
                        {HTTPCookiePropertyKey::value, "2"},
                        {HTTPCookiePropertyKey::domain, "api.example.com"},
                        {HTTPCookiePropertyKey::path, "/v1"},
                        {HTTPCookiePropertyKey::maximumAge, "7200"},
                        {HTTPCookiePropertyKey::secure, "TRUE"},
                        {HTTPCookiePropertyKey::httpOnly, "TRUE"},
                        {HTTPCookiePropertyKey::sameSitePolicy, "Strict"}});
    storage.setCookie(secure);
    CHECK(namesIn(storage) == std::vector<std::string>{"a=1", "session=s", "b=2"});
  }  // destroyed: the changes are written
  REQUIRE(std::filesystem::exists(file));
  HTTPCookieStorage again(file);
  const auto cookies = again.cookies();
  REQUIRE(cookies.size() == 2);
  CHECK(cookies[0].name() == "a");
  CHECK(cookies[0].domain() == ".example.com");
  REQUIRE(cookies[0].expiresDate());
  CHECK(std::chrono::abs(*cookies[0].expiresDate() - *expiry) < 2s);
  CHECK(cookies[1].name() == "b");
  CHECK(cookies[1].domain() == "api.example.com");  // host-only stays host-only
  CHECK(cookies[1].path() == "/v1");
  CHECK(cookies[1].isSecure());
  CHECK(cookies[1].isHTTPOnly());
  CHECK(cookies[1].sameSitePolicy() == std::optional<std::string>("Strict"));
  CHECK(again.cookies(URL("https://api.example.com/v1/x")).size() == 2);
}

TEST_CASE("replacing, deleting, expiring and removeCookies(since:) reach the file") {
  fntest::TempFolder folder;
  const auto file = (folder.path() / "Cookies.db").string();
  Date between;
  {
    HTTPCookieStorage storage(file);
    storage.setCookie(cookie("old", "1"));
    storage.setCookie(cookie("gone", "1"));
    storage.setCookie(cookie("expires", "1"));
    storage.setCookie(cookie("becomes-session", "1"));
    std::this_thread::sleep_for(20ms);
    between = std::chrono::system_clock::now();
    std::this_thread::sleep_for(20ms);
    storage.setCookie(cookie("new", "1"));
    storage.setCookie(cookie("old", "2"));  // replaced: keeps its creation, before `between`
    storage.deleteCookie(cookie("gone", "1"));
    storage.setCookie(made({{HTTPCookiePropertyKey::name, "expires"},
                            {HTTPCookiePropertyKey::value, "x"},
                            {HTTPCookiePropertyKey::domain, ".example.com"},
                            {HTTPCookiePropertyKey::expires, "Thu, 01 Jan 1970 00:00:01 GMT"}}));
    storage.setCookie(cookie("becomes-session", "2", false));
    storage.flush();
    HTTPCookieStorage reader(file);
    CHECK(namesIn(reader) == std::vector<std::string>{"old=2", "new=1"});
    // The user's alone, as an app's container is (cookies are logins), its WAL too.
    for (const auto& name : {file, file + "-wal"}) {
      REQUIRE(std::filesystem::exists(name));
      const auto permissions = std::filesystem::status(name).permissions() & std::filesystem::perms::all;
      CHECK_MESSAGE(permissions == (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write), name);
    }

    storage.removeCookies(between);
    storage.flush();
  }
  HTTPCookieStorage after(file);
  CHECK(namesIn(after) == std::vector<std::string>{"old=2"});
  after.removeCookies(Date{});  // what URLSession::reset does
  after.flush();
  CHECK(HTTPCookieStorage(file).cookies().empty());
}

TEST_CASE("changes reach the file within the write delay, without a flush") {
  fntest::TempFolder folder;
  const auto file = (folder.path() / "Cookies.db").string();
  HTTPCookieStorage storage(file);
  storage.setCookie(cookie("a", "1"));
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  std::vector<std::string> seen;
  while (seen.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    seen = namesIn(HTTPCookieStorage(file));
  }
  CHECK(seen == std::vector<std::string>{"a=1"});
}

TEST_CASE("expired rows are not loaded and leave the file with the next write; rows that make no cookie are skipped") {
  fntest::TempFolder folder;
  const auto file = folder.path() / "Cookies.db";
  {
    HTTPCookieStorage storage(file.string());
    storage.setCookie(cookie("kept", "1"));
    storage.setCookie(cookie("expired", "1"));
  }
  execute(file, "UPDATE cookies SET expires = 1000 WHERE name = 'expired';"
                "INSERT INTO cookies VALUES ('bad;name', '.example.com', '/', 'v', 99999999999999, 0, 0, NULL, 0);"
                "INSERT INTO cookies VALUES ('crlf', '.example.com', '/', 'v' || char(13, 10) || 'X-Injected: 1', "
                "99999999999999, 0, 0, NULL, 0);"
                "INSERT INTO cookies VALUES ('nodomain', '', '/', 'v', 99999999999999, 0, 0, NULL, 0);");
  HTTPCookieStorage storage(file.string());
  CHECK(namesIn(storage) == std::vector<std::string>{"kept=1"});
  storage.setCookie(cookie("another", "1"));
  storage.flush();
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM cookies WHERE name = 'expired'", -1, &statement, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(statement) == SQLITE_ROW);
  CHECK(sqlite3_column_int(statement, 0) == 0);
  sqlite3_finalize(statement);
  sqlite3_close(db);
}

TEST_CASE("a file that is not a cookie database is left alone and the storage works in memory") {
  fntest::TempFolder folder;
  const auto file = folder.path() / "Cookies.db";
  const std::string garbage(5000, 'x');
  std::ofstream(file, std::ios::binary) << garbage;
  {
    HTTPCookieStorage storage(file.string());
    storage.setCookie(cookie("a", "1"));
    CHECK(namesIn(storage) == std::vector<std::string>{"a=1"});
    storage.flush();
  }
  std::ifstream in(file, std::ios::binary);
  const std::string after((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(after == garbage);
}

TEST_CASE("a file that cannot be made: the storage works in memory") {
  fntest::TempFolder folder;
  std::ofstream(folder.path() / "plain-file") << "x";
  HTTPCookieStorage storage((folder.path() / "plain-file" / "Cookies.db").string());
  storage.setCookie(cookie("a", "1"));
  storage.flush();
  CHECK(namesIn(storage) == std::vector<std::string>{"a=1"});
}

TEST_CASE("changes a locked file refused are written, in order, by the next write") {
  fntest::TempFolder folder;
  const auto file = folder.path() / "Cookies.db";
  HTTPCookieStorage storage(file.string());
  storage.setCookie(cookie("first", "1"));
  storage.flush();
  // Another process of the program holds the file longer than the busy timeout (2 s).
  sqlite3* other = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &other) == SQLITE_OK);
  REQUIRE(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
  storage.deleteCookie(cookie("first", "1"));
  storage.setCookie(cookie("second", "2"));
  storage.flush();  // refused after the timeout
  // (Reading goes on beside the writer's lock.)
  CHECK(namesIn(HTTPCookieStorage(file.string())) == std::vector<std::string>{"first=1"});
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  storage.setCookie(cookie("third", "3"));
  storage.flush();
  CHECK(namesIn(HTTPCookieStorage(file.string())) == std::vector<std::string>{"second=2", "third=3"});
}

TEST_CASE("a storage sees what another process stores in its file, and keeps its session cookies and unwritten changes") {
  fntest::TempFolder folder;
  const auto file = (folder.path() / "Cookies.db").string();
  HTTPCookieStorage other(file);  // another process, as far as the file goes: a connection of its own
  other.setCookie(cookie("x", "1"));
  other.flush();

  HTTPCookieStorage storage(file);
  CHECK(namesIn(storage) == std::vector<std::string>{"x=1"});
  // (Apart by a few milliseconds: the file keeps creation times to the millisecond.)
  storage.setCookie(cookie("session", "1", false));
  std::this_thread::sleep_for(5ms);
  storage.setCookie(cookie("mine", "1"));  // not written yet: the writer waits half a second
  std::this_thread::sleep_for(5ms);
  other.setCookie(cookie("theirs", "1"));
  other.deleteCookie(cookie("x", "1"));
  other.flush();
  detail::refreshCookies(storage);  // what urlsessiond does before a transfer
  CHECK(namesIn(storage) == std::vector<std::string>{"session=1", "mine=1", "theirs=1"});

  other.setCookie(cookie("later", "1"));
  other.flush();
  std::this_thread::sleep_for(1100ms);
  CHECK(namesIn(storage) == std::vector<std::string>{"session=1", "mine=1", "theirs=1", "later=1"});
  storage.flush();
  CHECK(namesIn(HTTPCookieStorage(file)) == std::vector<std::string>{"mine=1", "theirs=1", "later=1"});
}

TEST_CASE("a storage with a file is thread-safe: stores, reads, flushes and another process's commits at once") {
  fntest::TempFolder folder;
  const auto file = (folder.path() / "Cookies.db").string();
  HTTPCookieStorage storage(file);
  HTTPCookieStorage other(file);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 150; ++i) {
        const auto name = "t" + std::to_string(t) + "-" + std::to_string(i % 20);
        storage.setCookie(cookie(name, std::to_string(i), i % 3 != 0));
        if (i % 7 == 0) storage.deleteCookie(cookie(name, "x"));
        (void)storage.cookies(URL("https://www.example.com/"));
        if (i % 25 == 0) storage.flush();
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; !stop; ++i) {
      other.setCookie(cookie("other-" + std::to_string(i % 10), std::to_string(i)));
      other.flush();
      detail::refreshCookies(storage);
      std::this_thread::sleep_for(2ms);
    }
  });
  for (int t = 0; t < 3; ++t) threads[static_cast<std::size_t>(t)].join();
  stop = true;
  threads.back().join();
  storage.flush();
  other.flush();
  // Each thread's last word on each of its names stands: in memory all of them, in the file those
  // with an expiry; and the other process's cookies are in both.
  std::vector<std::string> inMemory, inFile;
  for (int t = 0; t < 3; ++t) {
    for (int n = 0; n < 20; ++n) {
      const int last = n < 10 ? 140 + n : 120 + n;  // the last i with i % 20 == n
      if (last % 7 == 0) continue;                  // deleted right after
      const auto entry = "t" + std::to_string(t) + "-" + std::to_string(n) + "=" + std::to_string(last);
      inMemory.push_back(entry);
      if (last % 3 != 0) inFile.push_back(entry);
    }
  }
  for (const auto& entry : namesIn(other))
    if (entry.starts_with("other-")) {
      inMemory.push_back(entry);
      inFile.push_back(entry);
    }
  detail::refreshCookies(storage);
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  CHECK(sorted(namesIn(storage)) == sorted(inMemory));
  CHECK(sorted(namesIn(HTTPCookieStorage(file))) == sorted(inFile));
}

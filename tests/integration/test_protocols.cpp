// file: and data: URLs, and user URLProtocols that stub a server.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "Recorder.hpp"
#include "TestServer.hpp"

using namespace fntest;
namespace fs = std::filesystem;

TEST_CASE("file: URLs load files; missing files and folders fail") {
  auto dir = fs::temp_directory_path() / ("fntest-file-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "hello world.txt") << "file contents";
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  auto result = load(session, URLRequest(URL::fileURLWithPath((dir / "hello world.txt").string())));
  REQUIRE_FALSE(result.error);
  CHECK(result.data->view() == "file contents");
  CHECK(result.response->mimeType() == "text/plain");
  CHECK(result.response->expectedContentLength() == 13);
  CHECK_FALSE(std::dynamic_pointer_cast<const HTTPURLResponse>(result.response));

  auto missing = load(session, URLRequest(URL::fileURLWithPath((dir / "missing").string())));
  REQUIRE(missing.error);
  CHECK(missing.error->code == URLError::fileDoesNotExist);
  auto folder = load(session, URLRequest(URL::fileURLWithPath(dir.string())));
  REQUIRE(folder.error);
  CHECK(folder.error->code == URLError::fileIsDirectory);
  fs::remove_all(dir);
}

TEST_CASE("data: URLs decode plain and base64 payloads") {
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  auto plain = load(session, URLRequest(URL("data:,Hello%2C%20World%21")));
  REQUIRE_FALSE(plain.error);
  CHECK(plain.data->view() == "Hello, World!");
  CHECK(plain.response->mimeType() == "text/plain");
  CHECK(plain.response->textEncodingName() == "us-ascii");

  auto encoded = load(session, URLRequest(URL("data:application/json;charset=utf-8;base64,eyJhIjoxfQ==")));
  REQUIRE_FALSE(encoded.error);
  CHECK(encoded.data->view() == "{\"a\":1}");
  CHECK(encoded.response->mimeType() == "application/json");
  CHECK(encoded.response->textEncodingName() == "utf-8");

  auto broken = load(session, URLRequest(URL("data:text/plain;base64,@@@")));
  REQUIRE(broken.error);
  CHECK(broken.error->code == URLError::badURL);
}

namespace {

// Answers every request for stub.example with a canned JSON body, as unit tests do.
class StubProtocol : public URLProtocol {
 public:
  static inline std::atomic<int> started{0}, stopped{0};
  static bool canInit(const URLRequest& request) { return request.url && request.url->host() == "stub.example"; }
  using URLProtocol::URLProtocol;
  void startLoading() override {
    ++started;
    auto url = *request().url;
    if (url.path() == "/fail") {
      client()->didFailWithError(*this, Error::url(URLError::notConnectedToInternet, url));
      return;
    }
    if (url.path() == "/redirect") {
      URLRequest next(URL("https://stub.example/final"));
      client()->wasRedirectedTo(*this, next, std::make_shared<HTTPURLResponse>(
          url, 302, "HTTP/1.1", std::vector<std::pair<std::string, std::string>>{{"Location", "/final"}}));
      return;
    }
    client()->didReceive(*this, std::make_shared<HTTPURLResponse>(url, 200, "HTTP/1.1",
        std::vector<std::pair<std::string, std::string>>{{"Content-Type", "application/json"}}));
    client()->didLoad(*this, Data("{\"stub\":"));
    client()->didLoad(*this, Data(std::string("\"") + std::string(url.path()) + "\"}"));
    client()->didFinishLoading(*this);
  }
  void stopLoading() override { ++stopped; }
};

}  // namespace

TEST_CASE("a session's protocolClasses answer requests without a network") {
  auto configuration = URLSessionConfiguration::ephemeral();
  configuration.protocolClasses = {URLProtocolClass::of<StubProtocol>("stub")};
  auto recorder = std::make_shared<Recorder>();
  auto session = URLSession::make(configuration, recorder);
  auto task = session->dataTask(URL("https://stub.example/users/1"));
  task->resume();
  REQUIRE(recorder->waitForCompletions(1));
  CHECK(recorder->body(task->taskIdentifier()) == "{\"stub\":\"/users/1\"}");
  CHECK(statusOf(task->response()) == 200);
  CHECK(recorder->events(task->taskIdentifier()) ==
        std::vector<std::string>{"didCreateTask", "didReceiveResponse", "didReceiveData",
                                 "didFinishCollectingMetrics", "didCompleteWithError"});

  auto failing = session->dataTask(URL("https://stub.example/fail"));
  failing->resume();
  REQUIRE(recorder->waitForCompletions(2));
  CHECK(recorder->completion(failing->taskIdentifier()).error->code == URLError::notConnectedToInternet);

  auto redirected = session->dataTask(URL("https://stub.example/redirect"));
  redirected->resume();
  REQUIRE(recorder->waitForCompletions(3));
  CHECK(recorder->body(redirected->taskIdentifier()) == "{\"stub\":\"/final\"}");
  CHECK(StubProtocol::stopped >= 1);
}

TEST_CASE("globally registered protocols apply to every session and can be unregistered") {
  URLProtocol::registerClass(URLProtocolClass::of<StubProtocol>("global-stub"));
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration());
  auto stubbed = load(session, URLRequest(URL("http://stub.example/global")));
  REQUIRE_FALSE(stubbed.error);
  CHECK(stubbed.data->view() == "{\"stub\":\"/global\"}");
  URLProtocol::unregisterClass("global-stub");
  // Back to the real http protocol: the host does not exist.
  auto real = load(session, URLRequest(URL("http://stub.example.invalid/global")));
  CHECK(real.error);
}

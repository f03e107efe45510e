// HTTP authentication challenges: Basic and Digest, every disposition, failure counts.
#include <doctest/doctest.h>

#include <openssl/evp.h>

#include "Recorder.hpp"
#include "TestServer.hpp"

using namespace fntest;

namespace {

// Answers challenges from a list of credentials, one per challenge, and records what it saw.
class ChallengeDelegate : public Recorder {
 public:
  std::vector<std::optional<URLCredential>> answers;
  URLSession::AuthChallengeDisposition disposition = URLSession::AuthChallengeDisposition::useCredential;
  std::vector<int> failureCounts;
  std::vector<std::string> methods;
  std::vector<std::optional<std::string>> realms;
  std::vector<std::string> proposedUsers;  // "" when nothing was proposed

  void didReceiveChallenge(URLSession&, URLSessionTask& task, const URLAuthenticationChallenge& challenge,
      std::function<void(URLSession::AuthChallengeDisposition, std::optional<URLCredential>)> answer) override {
    std::optional<URLCredential> credential;
    {
      std::lock_guard lock(mutex);
      failureCounts.push_back(challenge.previousFailureCount());
      methods.push_back(challenge.protectionSpace().authenticationMethod());
      realms.push_back(challenge.protectionSpace().realm());
      proposedUsers.push_back(challenge.proposedCredential() ? challenge.proposedCredential()->user().value_or("") : "");
      if (!answers.empty()) {
        credential = answers.front();
        answers.erase(answers.begin());
      }
    }
    CHECK(statusOf(challenge.failureResponse()) == 401);
    CHECK(challenge.protectionSpace().host() == "127.0.0.1");
    (void)task;
    answer(disposition, credential);
  }
  std::mutex mutex;
};

URLCredential credential(std::string user, std::string password) {
  return URLCredential(std::move(user), std::move(password), URLCredential::Persistence::forSession);
}

std::string md5Hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_md5(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

// The value of `name="..."` or `name=...` in a Digest Authorization header.
std::string digestField(const std::string& header, const std::string& name) {
  auto at = header.find(name + "=");
  if (at == std::string::npos) return {};
  at += name.size() + 1;
  if (header[at] == '"') {
    auto end = header.find('"', at + 1);
    return header.substr(at + 1, end - at - 1);
  }
  auto end = header.find_first_of(", ", at);
  return header.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// RFC 7616 Digest (MD5, qop=auth) for user "alice", password "secret".
void digestRoute(const RecordedRequest& request, Responder& out) {
  const std::string realm = "digest-realm", nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093";
  auto authorization = request.header("Authorization").value_or("");
  if (authorization.rfind("Digest ", 0) == 0) {
    auto ha1 = md5Hex("alice:" + realm + ":secret");
    auto ha2 = md5Hex(request.method + ":" + digestField(authorization, "uri"));
    auto expected = md5Hex(ha1 + ":" + nonce + ":" + digestField(authorization, "nc") + ":" +
                           digestField(authorization, "cnonce") + ":auth:" + ha2);
    if (digestField(authorization, "username") == "alice" && digestField(authorization, "response") == expected) {
      out.send(200, {{"Content-Type", "text/plain"}}, "digest ok");
      return;
    }
  }
  out.send(401, {{"WWW-Authenticate", "Digest realm=\"" + realm + "\", qop=\"auth\", nonce=\"" + nonce + "\""}},
           "digest required");
}

}  // namespace

TEST_CASE("a Basic challenge answered with a credential retries with it") {
  TestServer server;
  auto delegate = std::make_shared<ChallengeDelegate>();
  delegate->answers = {credential("bob", "wrong"), credential("bob", "hunter2")};
  auto session = URLSession::make(URLSessionConfiguration::ephemeral(), delegate);
  auto task = session->dataTask(URL(server.url("/auth/basic?user=bob&pass=hunter2")));
  task->resume();
  REQUIRE(delegate->waitForCompletions(1));
  CHECK_FALSE(delegate->completion(task->taskIdentifier()).error);
  CHECK(statusOf(task->response()) == 200);
  CHECK(delegate->body(task->taskIdentifier()) == "authorized");
  CHECK(delegate->failureCounts == std::vector<int>{0, 1});
  CHECK(delegate->methods[0] == NSURLAuthenticationMethodHTTPBasic);
  CHECK(delegate->realms[0] == "fntest");
  // The body of the 401s never reached the delegate.
  auto events = delegate->events(task->taskIdentifier());
  CHECK(std::count(events.begin(), events.end(), "didReceiveResponse") == 1);
}

TEST_CASE("default handling delivers the 401 itself") {
  TestServer server;
  auto delegate = std::make_shared<ChallengeDelegate>();
  delegate->disposition = URLSession::AuthChallengeDisposition::performDefaultHandling;
  auto session = URLSession::make(URLSessionConfiguration::ephemeral(), delegate);
  auto task = session->dataTask(URL(server.url("/auth/basic?user=bob&pass=hunter2")));
  task->resume();
  REQUIRE(delegate->waitForCompletions(1));
  CHECK_FALSE(delegate->completion(task->taskIdentifier()).error);
  CHECK(statusOf(task->response()) == 401);
  CHECK(delegate->body(task->taskIdentifier()) == "unauthorized");
}

TEST_CASE("cancelling the challenge cancels the task") {
  TestServer server;
  auto delegate = std::make_shared<ChallengeDelegate>();
  delegate->disposition = URLSession::AuthChallengeDisposition::cancelAuthenticationChallenge;
  auto session = URLSession::make(URLSessionConfiguration::ephemeral(), delegate);
  auto task = session->dataTask(URL(server.url("/auth/basic?user=bob&pass=hunter2")));
  task->resume();
  REQUIRE(delegate->waitForCompletions(1));
  REQUIRE(delegate->completion(task->taskIdentifier()).error);
  CHECK(delegate->completion(task->taskIdentifier()).error->code == URLError::cancelled);
}

TEST_CASE("without a delegate the 401 is the response") {
  TestServer server;
  auto session = URLSession::make(URLSessionConfiguration::ephemeral());
  auto result = load(session, URLRequest(URL(server.url("/auth/basic?user=bob&pass=hunter2"))));
  CHECK_FALSE(result.error);
  CHECK(statusOf(result.response) == 401);
}

TEST_CASE("completion-handler tasks still ask the delegate for credentials") {
  TestServer server;
  auto delegate = std::make_shared<ChallengeDelegate>();
  delegate->answers = {credential("bob", "hunter2")};
  auto session = URLSession::make(URLSessionConfiguration::ephemeral(), delegate);
  auto result = load(session, URLRequest(URL(server.url("/auth/basic?user=bob&pass=hunter2"))));
  CHECK_FALSE(result.error);
  CHECK(result.data->view() == "authorized");
  CHECK(delegate->failureCounts.size() == 1);
}

TEST_CASE("a Digest challenge is answered with a Digest credential") {
  TestServer server;
  server.route("/digest", digestRoute);
  auto delegate = std::make_shared<ChallengeDelegate>();
  delegate->answers = {credential("alice", "secret")};
  auto session = URLSession::make(URLSessionConfiguration::ephemeral(), delegate);
  auto task = session->dataTask(URL(server.url("/digest")));
  task->resume();
  REQUIRE(delegate->waitForCompletions(1));
  CHECK_FALSE(delegate->completion(task->taskIdentifier()).error);
  CHECK(delegate->methods == std::vector<std::string>{std::string(NSURLAuthenticationMethodHTTPDigest)});
  CHECK(delegate->realms[0] == "digest-realm");
  CHECK(statusOf(task->response()) == 200);
  CHECK(delegate->body(task->taskIdentifier()) == "digest ok");
}

TEST_CASE("a delegate that implements only the session-level didReceiveChallenge is handed task-level challenges") {
  TestServer server;
  auto delegate = std::make_shared<SessionLevelChallengeRecorder>(credential("bob", "hunter2"));
  auto session = URLSession::make(URLSessionConfiguration::ephemeral(), delegate);
  auto task = session->dataTask(URL(server.url("/auth/basic?user=bob&pass=hunter2")));
  task->resume();
  REQUIRE(delegate->waitForCompletions(1));
  CHECK(delegate->asked == 1);
  CHECK(statusOf(task->response()) == 200);
  CHECK(delegate->body(task->taskIdentifier()) == "authorized");
}

namespace {

URLProtectionSpace basicSpace(const TestServer& server) {
  return URLProtectionSpace("127.0.0.1", server.port(), "http", "fntest", std::string(NSURLAuthenticationMethodHTTPBasic));
}

}  // namespace

TEST_CASE("a credential the delegate gave for the session is kept once it worked: proposed next time, used by default handling") {
  TestServer server;
  auto configuration = URLSessionConfiguration::ephemeral();
  auto storage = configuration.urlCredentialStorage;
  REQUIRE(storage);
  auto delegate = std::make_shared<ChallengeDelegate>();
  delegate->answers = {credential("bob", "wrong"), credential("bob", "hunter2")};
  auto session = URLSession::make(configuration, delegate);
  const std::string url = server.url("/auth/basic?user=bob&pass=hunter2");
  auto first = session->dataTask(URL(url));
  first->resume();
  REQUIRE(delegate->waitForCompletions(1));
  REQUIRE(statusOf(first->response()) == 200);
  auto kept = storage->defaultCredential(basicSpace(server));
  REQUIRE(kept);
  CHECK(kept->password() == "hunter2");  // the one that worked, not the wrong one before it
  CHECK(delegate->proposedUsers == std::vector<std::string>{"", "bob"});  // then the one that failed

  delegate->disposition = URLSession::AuthChallengeDisposition::performDefaultHandling;
  auto second = session->dataTask(URL(url));
  second->resume();
  REQUIRE(delegate->waitForCompletions(2));
  CHECK(statusOf(second->response()) == 200);
  CHECK(delegate->body(second->taskIdentifier()) == "authorized");
  CHECK(delegate->proposedUsers.back() == "bob");  // the storage's default
  CHECK(delegate->failureCounts.back() == 0);

  // Another ephemeral session has a storage of its own.
  auto other = URLSession::make(URLSessionConfiguration::ephemeral());
  CHECK(statusOf(load(other, URLRequest(URL(url))).response) == 401);
}

TEST_CASE("credentials given with persistence none, or that fail, are not kept") {
  TestServer server;
  auto configuration = URLSessionConfiguration::ephemeral();
  auto storage = configuration.urlCredentialStorage;
  auto delegate = std::make_shared<ChallengeDelegate>();
  delegate->answers = {URLCredential("bob", "hunter2", URLCredential::Persistence::none)};
  auto session = URLSession::make(configuration, delegate);
  const std::string url = server.url("/auth/basic?user=bob&pass=hunter2");
  auto task = session->dataTask(URL(url));
  task->resume();
  REQUIRE(delegate->waitForCompletions(1));
  CHECK(statusOf(task->response()) == 200);
  CHECK_FALSE(storage->defaultCredential(basicSpace(server)));

  delegate->answers = {credential("bob", "wrong")};  // then no credential: the 401 is the result
  auto failing = session->dataTask(URL(url));
  failing->resume();
  REQUIRE(delegate->waitForCompletions(2));
  CHECK(statusOf(failing->response()) == 401);
  CHECK(storage->allCredentials().empty());
}

TEST_CASE("a default credential the app stored answers challenges of a session without a delegate, once") {
  TestServer server;
  auto configuration = URLSessionConfiguration::ephemeral();
  auto session = URLSession::make(configuration);
  const std::string url = server.url("/auth/basic?user=bob&pass=hunter2");
  configuration.urlCredentialStorage->setDefaultCredential(credential("bob", "hunter2"), basicSpace(server));
  auto result = load(session, URLRequest(URL(url)));
  CHECK(statusOf(result.response) == 200);
  CHECK(result.data->view() == "authorized");

  // A wrong one is tried once; then the 401 is the result (no loop).
  configuration.urlCredentialStorage->setDefaultCredential(credential("bob", "stale"), basicSpace(server));
  auto before = server.requestCount();
  auto stale = load(session, URLRequest(URL(url)));
  CHECK(statusOf(stale.response) == 401);
  CHECK(server.requestCount() - before == 2);

  auto done = std::make_shared<Awaited<bool>>();
  session->reset([done] { done->set(true); });
  REQUIRE(done->wait());
  CHECK(configuration.urlCredentialStorage->allCredentials().empty());
}

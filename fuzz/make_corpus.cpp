// Writes the seed corpora: fuzz_wire's (a few valid frame streams, each file being the split
// selector byte fuzz_wire expects first, then the frames) and, when a second folder is given,
// fuzz_resume_data's (resume data records behind the mode byte).
// Usage: make_corpus WIRE_DIRECTORY [RESUME_DATA_DIRECTORY]
#include <fstream>
#include <iostream>
#include <string>

#include "background/Wire.hpp"
#include "model/ResumeData.hpp"

using namespace foundation;
using namespace foundation::wire;

namespace {

void write(const std::string& directory, const std::string& name, char split, const std::string& stream) {
  std::ofstream out(directory + "/" + name, std::ios::binary);
  out.put(split);
  out << stream;
}

// Resume data seeds: each record as produced (mode 0), and without its 10-byte end field for
// mode 1, where the fuzz target adds a correct one.
void writeResumeData(const std::string& directory) {
  detail::ResumeData full;
  full.url = "https://example.com/files/big.bin?x=1";
  full.originalURL = "https://example.com/redirect";
  full.headers = {{"Accept", "*/*"}, {"Authorization", "Bearer token"}};
  full.timeoutMilliseconds = 30000;
  full.fileName = "CFNetworkDownload_Ab12Cd";
  full.bytesReceived = 123456;
  full.validator = "\"v1\"";
  full.expectedLength = 1000000;
  detail::ResumeData staging;
  staging.url = "http://127.0.0.1:8080/bytes";
  staging.folder = detail::ResumeData::Folder::staging;
  staging.fileName = "00ff00ff00ff00ff-0123456789abcdef-7.resumable";
  staging.validator = "Wed, 21 Oct 2015 07:28:00 GMT";
  URLRequest post(URL("https://example.com/uploads"));
  post.httpMethod = "POST";
  post.setValue("application/octet-stream", "Content-Type");
  auto upload = detail::ResumeData::forUpload(post, "https://example.com/uploads/7f3a", 6, 1048576);
  upload.bodyPath = "/home/user/photo.heic";
  upload.uploadOffset = 300000;
  auto copy = detail::ResumeData::forUpload(post, "http://127.0.0.1:8080/resumable-upload/1", 3, 5);
  copy.fileName = "CFNetworkUpload_Ab12Cd";
  for (const auto& [name, record] : {std::pair{"full", full}, std::pair{"staging", staging},
                                     std::pair{"upload", upload}, std::pair{"upload-copy", copy}}) {
    const std::string bytes(record.encode().view());
    write(directory, std::string(name), 0, bytes);
    write(directory, std::string(name) + "-open", 1, bytes.substr(0, bytes.size() - 10));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    std::cerr << "usage: make_corpus WIRE_DIRECTORY [RESUME_DATA_DIRECTORY]\n";
    return 2;
  }
  const std::string directory = argv[1];

  URLRequest request(URL("https://example.com/upload?x=1"), URLRequest::CachePolicy::reloadIgnoringLocalCacheData, 30);
  request.httpMethod = "POST";
  request.httpBody = Data("hello");
  request.mainDocumentURL = URL("https://example.com/");
  request.setValue("text/plain", "Content-Type");
  request.setValue("a", "X-Trace");

  auto configuration = URLSessionConfiguration::background("com.example.app.bg");
  configuration.httpAdditionalHeaders = {{"User-Agent", "seed/1"}};
  configuration.connectionProxyDictionary = {{"HTTPEnable", "1"}, {"HTTPProxy", "proxy"}};

  Error error = Error::url(URLError::cancelled, URL("https://example.com/file"));
  error.resumeData = Data("resume");
  error.backgroundTaskCancelledReason = URLError::backgroundUpdatesDisabled;

  const HTTPURLResponse response(URL("https://example.com/file"), 200, "HTTP/1.1",
                                 {{"Content-Type", "text/html; charset=utf-8"}, {"Content-Length", "5"}});

  Message attach(Type::attach);
  attach.add(1, std::string_view("app")).add(2, std::string_view("com.example.app.bg"));
  attach.add(3, encodeConfiguration(configuration));

  Message createTask(Type::createTask);
  createTask.add(1, std::int64_t{1}).add(2, std::int64_t{0}).add(3, encodeRequest(request)).add(4, 0.5);

  Message event(Type::event);
  event.add(1, std::int64_t{7}).add(2, std::int64_t{1}).add(3, std::int64_t{2});
  event.add(4, encodeResponse(response)).add(5, encodeError(error));

  Message reply(Type::reply);
  reply.add(1, encodeError(Error::url(URLError::timedOut)));

  // A challenge event (message-level fields, tags 70–79) with a failure response and a proposed
  // credential, and the challengeAnswer with a credential.
  const HTTPURLResponse unauthorized(URL("http://example.com/private"), 401, "HTTP/1.1",
                                     {{"WWW-Authenticate", "Basic realm=\"r\""}});
  URLAuthenticationChallenge challenge(
      URLProtectionSpace("example.com", 80, "http", "r", std::string(NSURLAuthenticationMethodHTTPBasic)),
      URLCredential("bob", "wrong", URLCredential::Persistence::forSession), 1,
      std::make_shared<HTTPURLResponse>(unauthorized));
  Message challengeEvent(Type::event);
  challengeEvent.add(15, std::int64_t{9}).add(4, std::int64_t{1}).append(encodeChallenge(challenge));
  Message challengeAnswer(Type::challengeAnswer);
  challengeAnswer.add(4, std::int64_t{1}).add(25, std::int64_t{0});
  addCredential(challengeAnswer, URLCredential("bob", "hunter2", URLCredential::Persistence::none));

  // A completed event with the daemon's task metrics (tag 80): one transaction with every field.
  URLSessionTaskMetrics metrics;
  metrics.taskIntervalStart = std::chrono::system_clock::time_point(std::chrono::seconds(1764633600));
  metrics.taskIntervalDuration = 0.5;
  metrics.redirectCount = 1;
  URLSessionTaskTransactionMetrics transaction;
  transaction.request = request;
  transaction.response = std::make_shared<HTTPURLResponse>(response);
  transaction.fetchStartDate = transaction.responseEndDate = metrics.taskIntervalStart;
  transaction.networkProtocolName = "http/1.1";
  transaction.resourceFetchType = URLSessionTaskTransactionMetrics::ResourceFetchType::networkLoad;
  transaction.remoteAddress = "127.0.0.1";
  transaction.remotePort = 443;
  transaction.countOfResponseBodyBytesReceived = 5;
  metrics.transactionMetrics.push_back(transaction);
  Message completed(Type::event);
  completed.add(15, std::int64_t{5}).add(4, std::int64_t{1}).add(80, encodeMetrics(metrics));

  write(directory, "attach", 5, frame(attach));
  write(directory, "create-task", 40, frame(createTask));
  write(directory, "event", 0, frame(event));
  write(directory, "reply", 100, frame(reply));
  write(directory, "challenge", 9, frame(challengeEvent));
  write(directory, "challenge-answer", 2, frame(challengeAnswer));
  write(directory, "completed-with-metrics", 11, frame(completed));
  write(directory, "two-frames", 17, frame(Message(Type::status)) + frame(reply));
  write(directory, "empty-message", 3, frame(Message(Type::listTasks)));
  if (argc == 3) writeResumeData(argv[2]);
  return 0;
}

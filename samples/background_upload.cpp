// A background upload, as Apple requires it: from a file (the system — here urlsessiond — copies
// it first, so the app may delete it), with the progress and the server's answer delivered to
// the delegate.
//
//   background_upload URL FILE
//
// Swift:
//   let config = URLSessionConfiguration.background(withIdentifier: "com.example.upload")
//   let session = URLSession(configuration: config, delegate: self, delegateQueue: nil)
//   var request = URLRequest(url: url)
//   request.httpMethod = "POST"
//   let task = session.uploadTask(with: request, fromFile: fileURL)
//   task.resume()
#include <cstdio>
#include <future>
#include <string>

#include <foundation_net/foundation_net.hpp>

using namespace foundation;

class UploadDelegate : public URLSessionDataDelegate {
 public:
  std::promise<void> finished;

  void didSendBodyData(URLSession&, URLSessionTask&, std::int64_t, std::int64_t totalBytesSent,
                       std::int64_t totalBytesExpectedToSend) override {
    std::printf("  didSendBodyData: %lld of %lld bytes\n", static_cast<long long>(totalBytesSent),
                static_cast<long long>(totalBytesExpectedToSend));
  }
  void didReceiveData(URLSession&, URLSessionDataTask&, const Data& data) override {
    std::printf("  didReceiveData: %zu bytes of the server's answer\n", data.size());
  }
  void didCompleteWithError(URLSession&, URLSessionTask& task, const std::optional<Error>& error) override {
    auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(task.response());
    std::printf("  didCompleteWithError: status %d, %s\n", http ? http->statusCode() : 0,
                error ? error->localizedDescription.c_str() : "no error");
    finished.set_value();
  }
};

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fputs("usage: background_upload URL FILE\n", stderr);
    return 2;
  }
  auto delegate = std::make_shared<UploadDelegate>();
  auto config = URLSessionConfiguration::background("com.example.upload");
  auto session = URLSession::make(config, delegate, nullptr);
  URLRequest request(URL{argv[1]});
  request.httpMethod = "POST";
  auto task = session->uploadTask(request, URL::fileURLWithPath(argv[2]));
  task->resume();
  auto done = delegate->finished.get_future();
  if (done.wait_for(std::chrono::seconds(60)) != std::future_status::ready) std::puts("  (no answer yet)");
  return 0;
}

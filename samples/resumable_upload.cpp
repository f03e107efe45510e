// A resumable upload (iOS 17+): the server answers 104 Upload Resumption Supported, the
// connection is lost partway, and the error's resume data continues the upload where the server
// stopped, sending only the missing bytes. Try it with resumable_upload_server --drop-after.
//
//   resumable_upload URL FILE
//
// Swift:
//   let task = session.uploadTask(with: request, fromFile: fileURL)
//   …
//   func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
//     if let error = error as? URLError, let resumeData = error.uploadTaskResumeData {
//       session.uploadTask(withResumeData: resumeData).resume()
//     }
//   }
#include <cstdio>
#include <future>
#include <string>

#include <foundation_net/foundation_net.hpp>

using namespace foundation;

class UploadDelegate : public URLSessionDataDelegate {
 public:
  std::promise<std::optional<Error>> finished;

  void didReceiveInformationalResponse(URLSession&, URLSessionTask&, const HTTPURLResponse& response) override {
    std::printf("  didReceiveInformationalResponse: %d, Location %s\n", response.statusCode(),
                response.value("Location").value_or("-").c_str());
  }
  void didReceiveData(URLSession&, URLSessionDataTask&, const Data& data) override {
    std::printf("  didReceiveData: %.*s", static_cast<int>(data.size()), reinterpret_cast<const char*>(data.bytes()));
  }
  void didCompleteWithError(URLSession&, URLSessionTask& task, const std::optional<Error>& error) override {
    auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(task.response());
    std::printf("  didCompleteWithError: task %llu, status %d, %s%s; %lld bytes sent in all\n",
                static_cast<unsigned long long>(task.taskIdentifier()), http ? http->statusCode() : 0,
                error ? error->localizedDescription.c_str() : "no error",
                error && error->resumeData ? ", with resume data" : "", static_cast<long long>(task.countOfBytesSent()));
    finished.set_value(error);
  }
};

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fputs("usage: resumable_upload URL FILE\n", stderr);
    return 2;
  }
  auto delegate = std::make_shared<UploadDelegate>();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), delegate, nullptr);
  URLRequest request(URL{argv[1]});
  request.httpMethod = "POST";
  std::optional<Error> error;
  for (auto task = std::static_pointer_cast<URLSessionTask>(session->uploadTask(request, URL::fileURLWithPath(argv[2])));;) {
    delegate->finished = {};
    auto done = delegate->finished.get_future();
    task->resume();
    if (done.wait_for(std::chrono::seconds(60)) != std::future_status::ready) return 1;
    error = done.get();
    if (!error || !error->resumeData) break;
    std::puts("resuming from the resume data");
    task = session->uploadTaskWithResumeData(*error->resumeData);
  }
  session->finishTasksAndInvalidate();
  return error ? 1 : 0;
}

// Downloads a URL with a delegate that shows progress, then moves the file into place —
// Apple's "Downloading files from websites" article, line for line.
//
//   download_progress URL [DESTINATION]
#include <cstdio>
#include <filesystem>
#include <future>
#include <iostream>

#include <foundation_net/foundation_net.hpp>

using namespace foundation;

class DownloadDelegate : public URLSessionDownloadDelegate {
 public:
  explicit DownloadDelegate(std::string destination) : destination_(std::move(destination)) {}
  std::future<bool> finished() { return done_.get_future(); }

  void didWriteData(URLSession&, URLSessionDownloadTask&, std::int64_t, std::int64_t totalBytesWritten,
                    std::int64_t totalBytesExpectedToWrite) override {
    if (totalBytesExpectedToWrite > 0) {
      int percent = static_cast<int>(100 * totalBytesWritten / totalBytesExpectedToWrite);
      if (percent == lastPercent_) return;
      lastPercent_ = percent;
      std::fprintf(stderr, "\r[%-50s] %3d%%", std::string(static_cast<std::size_t>(percent / 2), '#').c_str(), percent);
    } else {
      std::fprintf(stderr, "\r%lld bytes", static_cast<long long>(totalBytesWritten));
    }
  }

  void didFinishDownloadingTo(URLSession&, URLSessionDownloadTask& task, const URL& location) override {
    auto http = std::dynamic_pointer_cast<const HTTPURLResponse>(task.response());
    if (http && (http->statusCode() < 200 || http->statusCode() > 299)) {
      std::cerr << "\nserver answered " << http->statusCode() << "\n";
      return;
    }
    // The file is deleted when this method returns: move it now.
    std::filesystem::rename(location.path(), destination_);
    moved_ = true;
  }

  void didCompleteWithError(URLSession&, URLSessionTask&, const std::optional<Error>& error) override {
    if (error) std::cerr << "\nfailed: " << error->localizedDescription << " (" << error->code << ")\n";
    else std::cerr << "\nsaved to " << destination_ << "\n";
    done_.set_value(!error && moved_);
  }

 private:
  std::string destination_;
  bool moved_ = false;
  int lastPercent_ = -1;
  std::promise<bool> done_;
};

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: download_progress URL [DESTINATION]\n";
    return 2;
  }
  auto url = URL::fromString(argv[1]);
  if (!url) {
    std::cerr << "not a URL: " << argv[1] << "\n";
    return 2;
  }
  auto delegate = std::make_shared<DownloadDelegate>(argc > 2 ? argv[2] : url->lastPathComponent());
  auto finished = delegate->finished();
  auto session = URLSession::make(URLSessionConfiguration::defaultConfiguration(), delegate);
  session->downloadTask(*url)->resume();
  bool ok = finished.get();
  session->finishTasksAndInvalidate();
  return ok ? 0 : 1;
}

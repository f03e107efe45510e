// Uploader: restartable background uploads from a file, after ChimeHQ's Background library.
//
// Same model as Downloader: an operation is named by a stable identifier of the caller's
// choosing (the task's taskDescription); issue every pending operation again on each launch,
// and the Uploader hands over a held result, re-attaches to the task in flight, or starts one.
// The session copies the file when the task is created: the caller may delete it afterwards.
//
//   Uploader uploader(URLSessionConfiguration::background("com.example.uploads"));
//   uploader.beginUpload(file, request, "photo-17", [](const std::string& id, NetworkResponse r) { ... });
//   NetworkResponse r = co_await uploader.upload(request, file, "photo-17");   // in a coroutine
//
// A success carries the server's answer body, when it sent one (NetworkResponse::body).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <foundation_net/NetworkResponse.hpp>
#include <foundation_net/PendingResponse.hpp>
#include <foundation_net/URL.hpp>
#include <foundation_net/URLRequest.hpp>
#include <foundation_net/URLSessionConfiguration.hpp>

namespace foundation {

class OperationQueue;
class URLSession;
namespace operations {
class OperationCenter;
}

class Uploader {
 public:
  using Identifier = std::string;
  using Handler = std::function<void(const Identifier&, NetworkResponse)>;

  // As Downloader's: a background configuration, the delegate queue, the folder of held results.
  explicit Uploader(const URLSessionConfiguration& configuration,
                    std::shared_ptr<OperationQueue> delegateQueue = nullptr, std::string folder = {});
  ~Uploader();
  Uploader(const Uploader&) = delete;
  Uploader& operator=(const Uploader&) = delete;

  // Swift's beginUpload(of:with:identifier:handler:).
  void beginUpload(const URL& file, const URLRequest& request, const Identifier& identifier, Handler handler);
  // Swift's networkResponse(from:uploading:with:): the same, to co_await.
  PendingResponse upload(const URLRequest& request, URL file, Identifier identifier);

  // As Downloader::handleBackgroundEvents.
  bool handleBackgroundEvents(const std::string& sessionIdentifier, std::function<void()> completionHandler);
  std::vector<Identifier> heldIdentifiers() const;
  bool discardHeldResult(const Identifier& identifier);
  std::string folder() const;
  std::shared_ptr<URLSession> session() const;

 private:
  std::shared_ptr<operations::OperationCenter> center_;
};

}  // namespace foundation

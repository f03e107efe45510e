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
#include <memory>
#include <string>

#include <foundation_net/PendingResponse.hpp>
#include <foundation_net/RestartableOperations.hpp>
#include <foundation_net/URL.hpp>
#include <foundation_net/URLRequest.hpp>
#include <foundation_net/URLSessionConfiguration.hpp>

namespace foundation {

class OperationQueue;

class Uploader : public RestartableOperations {
 public:
  // As Downloader's: a background configuration, the delegate queue, the folder of held results.
  explicit Uploader(const URLSessionConfiguration& configuration,
                    std::shared_ptr<OperationQueue> delegateQueue = nullptr, std::string folder = {});

  // Swift's beginUpload(of:with:identifier:handler:).
  void beginUpload(const URL& file, const URLRequest& request, const Identifier& identifier, Handler handler);
  // Swift's networkResponse(from:uploading:with:): the same, to co_await.
  PendingResponse upload(const URLRequest& request, URL file, Identifier identifier);
};

}  // namespace foundation

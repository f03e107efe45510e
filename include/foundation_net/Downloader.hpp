// Downloader: restartable background downloads, after ChimeHQ's Background library.
//
// An operation is named by a stable identifier of the caller's choosing, kept in the task's
// taskDescription. Issue every pending operation again on each launch: the Downloader hands
// over a result that arrived while nobody asked, re-attaches to the task still in flight, or
// starts a new task — never a second task for an identifier that has one.
//
//   Downloader downloader(URLSessionConfiguration::background("com.example.downloads"));
//   downloader.beginDownload(request, "report-2024", [](const std::string& id, NetworkResponse r) { ... });
//   NetworkResponse r = co_await downloader.download(request, "report-2024");   // in a coroutine
//
// Results and coroutine resumptions come on the session's delegate queue, one at a time, and
// possibly only in a later process. Results that finish before their identifier is issued are
// held, on disk, until it is (see docs/operations.md for the rules).
#pragma once
#include <memory>
#include <optional>
#include <string>

#include <foundation_net/PendingResponse.hpp>
#include <foundation_net/RestartableOperations.hpp>
#include <foundation_net/URL.hpp>
#include <foundation_net/URLRequest.hpp>
#include <foundation_net/URLSessionConfiguration.hpp>

namespace foundation {

class OperationQueue;

class Downloader : public RestartableOperations {
 public:
  // `configuration` must be a background one (else std::invalid_argument). Delegate calls,
  // results and resumptions run on `delegateQueue` (null: a serial queue of its own). Held
  // results and finished files without a destination live in `folder`; empty means
  // <state>/operations/<app id>/<session id>, <state> being the daemon's state folder
  // (FOUNDATION_NET_STATE_DIR, else $XDG_STATE_HOME/foundation_net, else ~/.local/state/foundation_net).
  explicit Downloader(const URLSessionConfiguration& configuration,
                      std::shared_ptr<OperationQueue> delegateQueue = nullptr, std::string folder = {});

  // Swift's beginDownload(of:identifier:handler:). The file of a success is moved to
  // `destination` (replacing what is there), else to the kept-files folder; it is the caller's.
  void beginDownload(const URLRequest& request, const Identifier& identifier, Handler handler,
                     std::optional<URL> destination = std::nullopt);
  // Swift's networkResponse(from:with:): the same, to co_await.
  PendingResponse download(const URLRequest& request, Identifier identifier,
                           std::optional<URL> destination = std::nullopt);
};

}  // namespace foundation

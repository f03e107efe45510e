// RestartableOperations: what Downloader and Uploader share — a background session whose tasks
// are named by caller-chosen identifiers, the results held for identifiers not yet re-issued,
// and the handle-background-events hook. See docs/operations.md for the rules.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <foundation_net/NetworkResponse.hpp>

namespace foundation {

class URLSession;
namespace operations {
class OperationCenter;
}

class RestartableOperations {
 public:
  using Identifier = std::string;
  using Handler = std::function<void(const Identifier&, NetworkResponse)>;

  // Lets the session finish the tasks in flight in this process (their results are held).
  ~RestartableOperations();
  RestartableOperations(const RestartableOperations&) = delete;
  RestartableOperations& operator=(const RestartableOperations&) = delete;

  // Swift's handleBackgroundSessionEvents(_:), given the identifier the system names:
  // `completionHandler` is called (on the delegate queue) after didFinishEventsForBackgroundURLSession,
  // or at once when that already came since this object attached. False when
  // `sessionIdentifier` is not this object's session.
  bool handleBackgroundEvents(const std::string& sessionIdentifier, std::function<void()> completionHandler);

  // Results that finished and wait for their identifier to be issued.
  std::vector<Identifier> heldIdentifiers() const;
  // Drops a held result and its file; false when none was held.
  bool discardHeldResult(const Identifier& identifier);
  // Where held results (results/) and downloads without a destination (files/) are kept.
  std::string folder() const;
  std::shared_ptr<URLSession> session() const;

 protected:
  explicit RestartableOperations(std::shared_ptr<operations::OperationCenter> center);
  std::shared_ptr<operations::OperationCenter> center_;
};

}  // namespace foundation

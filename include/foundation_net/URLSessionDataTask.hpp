// URLSessionDataTask: loads a resource into memory, delivered through didReceiveData or a
// completion handler.
#pragma once
#include <foundation_net/URLSessionTask.hpp>

namespace foundation {

class URLSessionDataTask : public URLSessionTask {
 public:
  explicit URLSessionDataTask(std::unique_ptr<Impl> impl);
};

}  // namespace foundation

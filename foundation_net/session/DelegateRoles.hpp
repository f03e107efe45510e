// A delegate together with its casts to the task-level delegate classes, done once when the
// delegate is set: a dynamic_cast through the virtual bases costs hundreds of instructions, and
// a task asks which roles its delegate plays several times per request.
#pragma once
#include <memory>
#include <type_traits>

#include <foundation_net/URLSessionDataDelegate.hpp>
#include <foundation_net/URLSessionDelegate.hpp>
#include <foundation_net/URLSessionDownloadDelegate.hpp>
#include <foundation_net/URLSessionTaskDelegate.hpp>

namespace foundation::detail {

struct DelegateRoles {
  DelegateRoles() = default;
  explicit DelegateRoles(std::shared_ptr<URLSessionDelegate> delegate)
      : session(std::move(delegate)),
        task(std::dynamic_pointer_cast<URLSessionTaskDelegate>(session)),
        data(std::dynamic_pointer_cast<URLSessionDataDelegate>(session)),
        download(std::dynamic_pointer_cast<URLSessionDownloadDelegate>(session)) {}

  // The delegate as a D (one of the three task-level classes), or null.
  template <class D>
  const std::shared_ptr<D>& as() const {
    if constexpr (std::is_same_v<D, URLSessionTaskDelegate>) return task;
    else if constexpr (std::is_same_v<D, URLSessionDataDelegate>) return data;
    else {
      static_assert(std::is_same_v<D, URLSessionDownloadDelegate>, "not a task-level delegate class");
      return download;
    }
  }

  std::shared_ptr<URLSessionDelegate> session;
  std::shared_ptr<URLSessionTaskDelegate> task;
  std::shared_ptr<URLSessionDataDelegate> data;
  std::shared_ptr<URLSessionDownloadDelegate> download;
};

}  // namespace foundation::detail

// URLProtocol: the interface every URL scheme is loaded through — the built-in http/https,
// file and data protocols, and the ones applications register (to stub a server in tests,
// or to add a scheme). A protocol is created per request, started once, stopped once, and
// reports what happens to its URLProtocolClient (implemented by the session's task).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include <foundation_net/URLRequest.hpp>

namespace foundation {

class URLProtocolClient;
class URLSessionTask;
class URLProtocol;

// Swift's `AnyClass` of a URLProtocol subclass: what the class can load and how to make one.
struct URLProtocolClass {
  std::string name;  // identifies the class for unregisterClass
  std::function<bool(const URLRequest&)> canInit;
  std::function<std::shared_ptr<URLProtocol>(const URLRequest&, std::shared_ptr<URLSessionTask>,
                                             std::shared_ptr<URLProtocolClient>)> make;

  // Describes a subclass P with `static bool canInit(const URLRequest&)` and a constructor
  // `P(const URLRequest&, std::shared_ptr<URLSessionTask>, std::shared_ptr<URLProtocolClient>)`.
  template <class P>
  static URLProtocolClass of(std::string name) {
    return URLProtocolClass{
        std::move(name), [](const URLRequest& r) { return P::canInit(r); },
        [](const URLRequest& r, std::shared_ptr<URLSessionTask> t, std::shared_ptr<URLProtocolClient> c) {
          return std::shared_ptr<URLProtocol>(std::make_shared<P>(r, std::move(t), std::move(c)));
        }};
  }
};

class URLProtocol : public std::enable_shared_from_this<URLProtocol> {
 public:
  URLProtocol(URLRequest request, std::shared_ptr<URLSessionTask> task,
              std::shared_ptr<URLProtocolClient> client);
  virtual ~URLProtocol();

  const URLRequest& request() const;
  std::shared_ptr<URLSessionTask> task() const;
  std::shared_ptr<URLProtocolClient> client() const;

  // Begin loading; report progress to client(). Called once, from a library thread.
  virtual void startLoading() = 0;
  // Stop loading: after it returns the client ignores anything more this protocol reports.
  virtual void stopLoading() = 0;

  // Global registration (Swift URLProtocol.registerClass): consulted after a session's
  // configuration.protocolClasses, most recently registered first, before the built-ins.
  static bool registerClass(URLProtocolClass protocolClass);
  static void unregisterClass(const std::string& name);

 private:
  URLRequest request_;
  std::weak_ptr<URLSessionTask> task_;
  std::shared_ptr<URLProtocolClient> client_;
};

}  // namespace foundation

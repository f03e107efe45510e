// URLProtocolClient: how a URLProtocol reports to the task that runs it. Every method may be
// called from any thread; calls from one protocol must not overlap. After didFinishLoading or
// didFailWithError the protocol reports nothing more.
#pragma once
#include <memory>

#include <foundation_net/Data.hpp>
#include <foundation_net/Error.hpp>
#include <foundation_net/URLRequest.hpp>
#include <foundation_net/URLResponse.hpp>

namespace foundation {

class URLProtocol;

class URLProtocolClient {
 public:
  virtual ~URLProtocolClient();
  // urlProtocol(_:wasRedirectedTo:redirectResponse:) — the task asks its delegate and, when
  // the redirect is taken, stops this protocol and starts one for the new request. When the
  // redirect is refused, the body this protocol goes on to load is the task's body.
  virtual void wasRedirectedTo(URLProtocol&, const URLRequest& newRequest,
                               std::shared_ptr<const URLResponse> redirectResponse) = 0;
  // urlProtocol(_:didReceive:cacheStoragePolicy:)
  virtual void didReceive(URLProtocol&, std::shared_ptr<const URLResponse> response) = 0;
  // urlProtocol(_:didLoad:)
  virtual void didLoad(URLProtocol&, const Data& data) = 0;
  // urlProtocolDidFinishLoading(_:)
  virtual void didFinishLoading(URLProtocol&) = 0;
  // urlProtocol(_:didFailWithError:)
  virtual void didFailWithError(URLProtocol&, const Error& error) = 0;
};

}  // namespace foundation

#include <foundation_net/URLProtocol.hpp>
#include <foundation_net/URLProtocolClient.hpp>

namespace foundation {

URLProtocol::URLProtocol(URLRequest request, std::shared_ptr<URLSessionTask> task,
                         std::shared_ptr<URLProtocolClient> client)
    : request_(std::move(request)), task_(task), client_(std::move(client)) {}

URLProtocol::~URLProtocol() = default;
const URLRequest& URLProtocol::request() const { return request_; }
std::shared_ptr<URLSessionTask> URLProtocol::task() const { return task_.lock(); }
std::shared_ptr<URLProtocolClient> URLProtocol::client() const { return client_; }

URLProtocolClient::~URLProtocolClient() = default;

}  // namespace foundation

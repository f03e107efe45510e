#include "session/CacheTransaction.hpp"

#include <chrono>
#include <utility>

#include <foundation_net/HTTPURLResponse.hpp>

#include "model/Text.hpp"

namespace foundation::detail {

using Policy = URLRequest::CachePolicy;

std::unique_ptr<CacheTransaction> CacheTransaction::make(std::shared_ptr<URLCache> cache, const URLRequest& request,
                                                         Policy sessionPolicy,
                                                         const std::map<std::string, std::string>& sessionFields) {
  if (!cache || !request.url) return nullptr;
  // An app that sends its own validators or asks for a range handles the answer itself.
  for (const char* own : {"If-None-Match", "If-Modified-Since", "If-Range", "Range"})
    if (request.value(own)) return nullptr;
  if (request.httpMethod == "HEAD") return nullptr;
  const Policy policy = request.cachePolicy != Policy::useProtocolCachePolicy ? request.cachePolicy : sessionPolicy;
  return std::unique_ptr<CacheTransaction>(new CacheTransaction(std::move(cache), request, policy, sessionFields));
}

CacheTransaction::CacheTransaction(std::shared_ptr<URLCache> cache, const URLRequest& request, Policy policy,
                                   const std::map<std::string, std::string>& sessionFields)
    : cache_(std::move(cache)), request_(request), policy_(policy), sessionFields_(sessionFields),
      key_(cache::keyFor(*request_.url)) {}

std::optional<std::string> CacheTransaction::requestField(std::string_view name) const {
  if (auto own = request_.value(name)) return own;
  auto it = text::findIgnoringCase(sessionFields_, name);
  if (it != sessionFields_.end()) return it->second;
  return std::nullopt;
}

cache::FieldLookup CacheTransaction::fieldLookup() const {
  return [this](std::string_view name) { return requestField(name); };
}

bool CacheTransaction::decideFromMemory() {
  // Only GETs are answered from the cache; other methods only make stored responses out of date.
  if (request_.httpMethod != "GET" || policy_ == Policy::reloadIgnoringLocalCacheData ||
      policy_ == Policy::reloadIgnoringLocalAndRemoteCacheData) {
    decide(nullptr);
    return true;
  }
  bool unknown = false;
  auto entry = cache_->entryInMemory(key_, unknown);
  if (unknown) return false;
  decide(std::move(entry));
  return true;
}

OperationQueue& cacheReadQueue() {
  static auto* queue = [] {  // leaked: a read may still be running at exit
    auto* q = new OperationQueue();
    q->setMaxConcurrentOperationCount(1);
    return q;
  }();
  return *queue;
}

void CacheTransaction::readFromDisk(std::function<void(std::shared_ptr<const URLCache::Entry>)> done) const {
  cacheReadQueue().addOperation([cache = cache_, key = key_, done = std::move(done)] { done(cache->entry(key)); });
}

void CacheTransaction::prepare(const std::shared_ptr<URLCache>& cache) {
  if (cache) cacheReadQueue().addOperation([cache] { cache->openDisk(); });
}

void CacheTransaction::decide(std::shared_ptr<const URLCache::Entry> entry) {
  if (request_.httpMethod != "GET") {
    step_ = Step::load;
    return;
  }
  const auto fields = fieldLookup();
  if (entry && !cache::varyMatches(*entry, fields)) entry.reset();
  auto validators = entry ? cache::conditionalFields(*entry->response.response()) : cache::Fields{};
  switch (policy_) {
    case Policy::reloadIgnoringLocalAndRemoteCacheData:
      requestFields_ = {{"Cache-Control", "no-cache"}, {"Pragma", "no-cache"}};
      step_ = Step::load;
      break;
    case Policy::reloadIgnoringLocalCacheData:
      step_ = Step::load;
      break;
    case Policy::returnCacheDataElseLoad:
      step_ = entry ? Step::serve : Step::load;
      break;
    case Policy::returnCacheDataDontLoad:
      step_ = entry ? Step::serve : Step::fail;
      break;
    case Policy::reloadRevalidatingCacheData:
      step_ = !validators.empty() ? Step::revalidate : Step::load;
      break;
    case Policy::useProtocolCachePolicy:
      if (entry && cache::isFresh(*entry, fields, std::chrono::system_clock::now())) {
        step_ = Step::serve;
      } else {
        step_ = !validators.empty() ? Step::revalidate : Step::load;
      }
      break;
  }
  if (step_ == Step::revalidate) requestFields_ = std::move(validators);
  if (step_ == Step::serve) served_ = std::shared_ptr<const CachedURLResponse>(entry, &entry->response);
  if (step_ == Step::revalidate) stored_ = std::move(entry);
}

bool CacheTransaction::networkResponse(const URLRequest& sent, std::shared_ptr<const URLResponse> response) {
  if (step_ == Step::serve) return false;  // the stored response played back
  if (cache::invalidates(sent, *response)) {
    cache_->removeCachedResponse(sent);
    return false;
  }
  const auto* http = dynamic_cast<const HTTPURLResponse*>(response.get());
  if (!http) return false;
  if (step_ == Step::revalidate && stored_ && http->statusCode() == 304) {
    const auto* storedHttp = dynamic_cast<const HTTPURLResponse*>(stored_->response.response().get());
    std::shared_ptr<const URLResponse> updated =
        storedHttp ? cache::updatedBy(*storedHttp, *http) : stored_->response.response();
    auto refreshed = std::make_shared<const URLCache::Entry>(URLCache::Entry{
        CachedURLResponse(updated, stored_->response.data(), stored_->response.userInfo(), stored_->response.storagePolicy()),
        std::chrono::system_clock::now(), stored_->varyFields, key_});
    served_ = std::shared_ptr<const CachedURLResponse>(refreshed, &refreshed->response);
    cache_->store(std::move(refreshed));
    step_ = Step::serve;
    return true;
  }
  stored_.reset();
  if (!cache::isStorable(sent, *http)) return false;
  const auto capacity = std::max(cache_->memoryCapacity(), cache_->diskCapacity());
  const auto limit = static_cast<std::size_t>(capacity / 20);
  const auto expected = response->expectedContentLength();
  if (expected >= 0 && static_cast<std::size_t>(expected) > limit) return false;
  recording_ = true;
  auto vary = cache::varyFields(*response, fieldLookup());
  recordingState_.reset(new Recording{limit, std::move(response), Data(), std::move(vary), std::chrono::system_clock::now()});
  return false;
}

void CacheTransaction::recordSlow(const char* bytes, std::size_t count) {
  auto& body = recordingState_->body;
  if (body.size() + count > recordingState_->limit) {
    recording_ = false;  // too large to keep after all
    recordingState_.reset();
    return;
  }
  body.append(bytes, count);
}

std::optional<CachedURLResponse> CacheTransaction::proposal(const Data* body) {
  if (!recording_) return std::nullopt;
  recording_ = false;
  auto& recorded = *recordingState_;
  if (bodyElsewhere_) {
    if (!body || body->size() > recorded.limit) return std::nullopt;
    return CachedURLResponse(recorded.response, *body);  // shares the bytes
  }
  return CachedURLResponse(recorded.response, std::move(recorded.body));
}

void CacheTransaction::store(CachedURLResponse response) {
  auto& recorded = *recordingState_;
  cache_->store(std::make_shared<const URLCache::Entry>(
      URLCache::Entry{std::move(response), recorded.receivedAt, std::move(recorded.varyFields), std::move(key_)}));
}

std::function<void(std::optional<CachedURLResponse>)> CacheTransaction::storer() const {
  // Called once (a second call stores nothing): what it stores is moved, not copied.
  return [cache = cache_, key = key_, vary = recordingState_->varyFields, at = recordingState_->receivedAt,
          called = false](std::optional<CachedURLResponse> response) mutable {
    if (std::exchange(called, true) || !response) return;
    cache->store(std::make_shared<const URLCache::Entry>(
        URLCache::Entry{std::move(*response), at, std::move(vary), std::move(key)}));
  };
}

}  // namespace foundation::detail

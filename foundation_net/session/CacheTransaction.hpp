// What a task's URLCache does for one request (docs/caching.md). Before the request goes out,
// it decides by the cache policy whether a stored response answers it, is to be revalidated
// with a conditional request, or plays no part; when a response comes, it turns a 304 into the
// stored response brought up to date, gathers a storable response's body, and drops what an
// unsafe method made out of date. Loop thread only, except the store function it hands out.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <foundation_net/OperationQueue.hpp>
#include <foundation_net/URLCache.hpp>
#include <foundation_net/URLRequest.hpp>
#include <foundation_net/URLResponse.hpp>

#include "cache/HTTPCaching.hpp"

namespace foundation::detail {

// Where URLCache disks are read for tasks: one read at a time, off the loop thread (many tasks
// started at once must not make a thread each).
OperationQueue& cacheReadQueue();

class CacheTransaction {
 public:
  enum class Step {
    reading,     // the stored entry is being read from disk
    serve,       // served() answers the request; no load
    revalidate,  // load with requestFields() (conditional); a 304 means served()
    load,        // load; the cache may keep the response
    fail,        // returnCacheDataDontLoad and nothing stored: NSURLErrorCannotLoadFromNetwork
  };

  // Null when the cache has no part in `request`: no cache, or a method and fields it does not
  // concern (HEAD, a request with its own validators or Range). `sessionFields` are the
  // configuration's httpAdditionalHeaders, which the request sends unless it sets its own.
  // Both are referred to, not copied: they must outlive the transaction (the task's current
  // request and its session's configuration do).
  static std::unique_ptr<CacheTransaction> make(std::shared_ptr<URLCache> cache, const URLRequest& request,
                                                URLRequest::CachePolicy sessionPolicy,
                                                const std::map<std::string, std::string>& sessionFields);

  Step step() const { return step_; }
  // Decides from memory; false when the disk must be read first (readEntry, off the loop thread).
  bool decideFromMemory();
  // Reads the stored entry from disk on cacheReadQueue(), then calls `done` with it there.
  void readFromDisk(std::function<void(std::shared_ptr<const URLCache::Entry>)> done) const;
  // A session was made with `cache`: its disk is opened ahead of the first lookup.
  static void prepare(const std::shared_ptr<URLCache>& cache);
  void decide(std::shared_ptr<const URLCache::Entry> entry);

  // Fields the request carries for the cache: a revalidation's validators, or reloadIgnoring-
  // LocalAndRemoteCacheData's no-cache.
  const cache::Fields& requestFields() const { return requestFields_; }
  // The response to play back (serve, or revalidate after a 304).
  const CachedURLResponse& served() const { return *served_; }

  // A response from the network. True for the 304 that confirmed the stored response: its
  // load is to end, and served() is then the task's response.
  bool networkResponse(const URLRequest& sent, std::shared_ptr<const URLResponse> response);
  // A body chunk of that response (kept while the response is storable and fits). A task that
  // gathers the body itself (for a completion handler) gives it to proposal() instead.
  void record(const char* bytes, std::size_t count) {
    if (recording_ && !bodyElsewhere_) recordSlow(bytes, count);
  }
  void bodyGatheredElsewhere() { bodyElsewhere_ = true; }
  // At a successful end: the response the cache is offered (willCacheResponse's proposal), if
  // any; `body` is the whole body when the task gathered it.
  std::optional<CachedURLResponse> proposal(const Data* body = nullptr);
  // Stores `response` (loop thread).
  void store(CachedURLResponse response);
  // Stores what willCacheResponse answered (nullopt: nothing). Safe on any thread.
  std::function<void(std::optional<CachedURLResponse>)> storer() const;

 private:
  CacheTransaction(std::shared_ptr<URLCache> cache, const URLRequest& request, URLRequest::CachePolicy policy,
                   const std::map<std::string, std::string>& sessionFields);
  std::optional<std::string> requestField(std::string_view name) const;
  cache::FieldLookup fieldLookup() const;
  void recordSlow(const char* bytes, std::size_t count);

  std::shared_ptr<URLCache> cache_;
  const URLRequest& request_;
  URLRequest::CachePolicy policy_;
  const std::map<std::string, std::string>& sessionFields_;
  std::string key_;
  Step step_ = Step::reading;
  bool recording_ = false;  // recording_ holds the response being gathered
  bool bodyElsewhere_ = false;
  std::shared_ptr<const URLCache::Entry> stored_;  // the one being revalidated
  std::shared_ptr<const CachedURLResponse> served_;
  cache::Fields requestFields_;
  // The network response being gathered for storage: made only when one is (a task that
  // waits for a connection holds as little as possible).
  struct Recording {
    std::size_t limit = 0;
    std::shared_ptr<const URLResponse> response;
    Data body;
    cache::Fields varyFields;
    Date receivedAt{};
  };
  std::unique_ptr<Recording> recordingState_;
};

}  // namespace foundation::detail

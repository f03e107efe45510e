// Small pieces shared by the loop thread (which produces) and the delegate queue (which
// consumes): progress that coalesces while a report is queued, body bytes that coalesce into
// one didReceiveData call, and the byte backlog of didReceiveData calls not yet delivered.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include <foundation_net/Data.hpp>

namespace foundation::detail {

// Progress reports that merge while one is waiting on the delegate queue, and that are sent at
// most every 256 KiB or 50 ms: a fast transfer does not wake the delegate queue for each of
// curl's 16 KiB chunks, and a slow delegate gets fewer, larger reports rather than an unbounded
// queue. The increments always add up to the totals reported.
class CoalescedProgress {
 public:
  struct Report { std::int64_t increment, total; };
  // Adds bytes; true when the caller should enqueue a report now.
  bool add(std::int64_t bytes) {
    std::lock_guard lock(mutex_);
    pending_ += bytes;
    total_ += bytes;
    if (queued_) return false;
    auto now = std::chrono::steady_clock::now();
    if (pending_ < minimumBytes && now - lastQueued_ < minimumInterval) return false;
    queued_ = true;
    lastQueued_ = now;
    return true;
  }
  // True when bytes wait to be reported and no report is queued: the caller enqueues one
  // before a message that must come after all progress (a response, the completion).
  bool flush() {
    std::lock_guard lock(mutex_);
    if (queued_ || pending_ == 0) return false;
    queued_ = true;
    return true;
  }
  // A resumed download: the bytes already in its file count as written.
  void startAt(std::int64_t total) {
    std::lock_guard lock(mutex_);
    total_ = total;
  }
  // Takes what accumulated (increment 0: nothing to report).
  Report take() {
    std::lock_guard lock(mutex_);
    queued_ = false;
    Report report{pending_, total_};
    pending_ = 0;
    return report;
  }

 private:
  std::mutex mutex_;
  static constexpr std::int64_t minimumBytes = 256 << 10;
  static constexpr auto minimumInterval = std::chrono::milliseconds(50);
  std::int64_t pending_ = 0, total_ = 0;
  bool queued_ = false;
  std::chrono::steady_clock::time_point lastQueued_{};
};

// The bytes of one didReceiveData call. The loop appends curl's chunks to it until the
// delegate queue takes it or it is full, so a delegate that lags (or a loop that delays the
// hand-over) gets fewer, larger pieces instead of one allocation and one message per chunk.
class BodyBatch {
 public:
  static constexpr std::size_t capacity = 256 << 10;
  // `buffer` is empty; a buffer from the pool already has the full capacity.
  BodyBatch(std::optional<Data> buffer, const char* bytes, std::size_t count)
      : data_(buffer ? std::move(*buffer) : Data()), reserved_(buffer.has_value()) {
    data_.append(bytes, count);
  }
  // Loop thread: appends unless the batch was taken or has no room; false when it did not.
  bool append(const char* bytes, std::size_t count) {
    std::lock_guard lock(mutex_);
    if (taken_ || data_.size() + count > capacity) return false;
    if (!reserved_) data_.reserve(capacity);  // once it holds two chunks it is likely to fill
    reserved_ = true;
    data_.append(bytes, count);
    return true;
  }
  // Delegate queue: the bytes; later appends go to a new batch.
  Data take() {
    std::lock_guard lock(mutex_);
    taken_ = true;
    return std::move(data_);
  }
  // Delegate queue, after take(): whether the buffer has the full capacity (worth reusing).
  bool grown() {
    std::lock_guard lock(mutex_);
    return reserved_;
  }
  bool handedOver = false;  // loop thread: enqueued on the delegate queue

 private:
  std::mutex mutex_;
  Data data_;
  bool reserved_;
  bool taken_ = false;
};

// Buffers of delivered didReceiveData batches, handed back by the delegate queue: a long body
// cycles through a few warm buffers instead of faulting in fresh pages for every batch (memory
// freed on another thread tends to go back to the system at once).
class BufferPool {
 public:
  // Enough for every batch the backlog lets be in flight (4 MiB / 256 KiB) and some: fewer
  // would free and re-fault buffers in a steady stream. It never holds more than was in flight.
  static constexpr std::size_t limit = 32;
  // Loop thread: an empty buffer with a batch's full capacity, if one was given back.
  std::optional<Data> take() {
    std::lock_guard lock(mutex_);
    if (spare_.empty()) return std::nullopt;
    Data buffer = std::move(spare_.back());
    spare_.pop_back();
    return buffer;
  }
  // Delegate queue: `buffer`, of a batch's full capacity, has been delivered; a copy the
  // delegate kept keeps its bytes.
  void give(Data buffer) {
    buffer.removeAll(true);
    std::lock_guard lock(mutex_);
    if (spare_.size() < limit) spare_.push_back(std::move(buffer));
  }

 private:
  std::mutex mutex_;
  std::vector<Data> spare_;
};

// Bytes handed to the delegate queue but not yet delivered. Above `high` the task holds the
// transfer; once delivery brings it under `low` the loop is asked to let bytes flow again.
class Backlog {
 public:
  static constexpr std::int64_t high = 4 << 20, low = 1 << 20;
  // Loop thread: records queued bytes; true when the backlog is now too large.
  bool add(std::int64_t bytes) { return (queued_ += bytes) > high; }
  bool full() const { return queued_.load() > high; }
  // Delegate queue: records delivered bytes; true when the loop should be woken to resume.
  bool remove(std::int64_t bytes) {
    auto now = (queued_ -= bytes);
    return now <= low && now + bytes > low;
  }

 private:
  std::atomic<std::int64_t> queued_{0};
};

}  // namespace foundation::detail

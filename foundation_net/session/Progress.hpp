// Small pieces shared by the loop thread (which produces) and the delegate queue (which
// consumes): progress that coalesces while a report is queued, and the byte backlog of
// didReceiveData calls not yet delivered.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

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

// Small pieces shared by the loop thread (which produces) and the delegate queue (which
// consumes): progress that coalesces while a report is queued, and the byte backlog of
// didReceiveData calls not yet delivered.
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>

namespace foundation::detail {

// Progress reports that merge while one is waiting on the delegate queue, so a slow delegate
// gets fewer, larger reports rather than an unbounded queue. The increments always add up to
// the totals reported.
class CoalescedProgress {
 public:
  struct Report { std::int64_t increment, total; };
  // Adds bytes; true when the caller should enqueue a report (none is waiting).
  bool add(std::int64_t bytes) {
    std::lock_guard lock(mutex_);
    pending_ += bytes;
    total_ += bytes;
    if (queued_) return false;
    queued_ = true;
    return true;
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
  std::int64_t pending_ = 0, total_ = 0;
  bool queued_ = false;
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

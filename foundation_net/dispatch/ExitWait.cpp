#include "dispatch/ExitWait.hpp"

#include <cstdlib>
#include <vector>

namespace foundation::detail {

namespace {

struct Registry {
  std::mutex mutex;
  std::vector<ExitWait*> waits;  // every ExitWait that has begun work, in that order
};

// Never destroyed: work may still end while static destructors run at exit.
Registry& registry() {
  static auto* const state = new Registry();
  return *state;
}

}  // namespace

void waitForAllAtExit() {
  std::vector<ExitWait*> waits;
  {
    std::lock_guard lock(registry().mutex);
    waits = registry().waits;
  }
  for (ExitWait* wait : waits) wait->waitAtExit();
}

ExitWait::ExitWait(std::chrono::milliseconds limit, bool (*skipWait)()) : limit_(limit), skipWait_(skipWait) {}

void ExitWait::begin() {
  {
    std::lock_guard lock(mutex_);
    if (pending_++ > 0) return;
  }
  static const bool registered = std::atexit(waitForAllAtExit) == 0;
  (void)registered;
  std::lock_guard lock(registry().mutex);
  for (ExitWait* wait : registry().waits)
    if (wait == this) return;
  registry().waits.push_back(this);
}

void ExitWait::end() {
  std::lock_guard lock(mutex_);
  if (--pending_ == 0) settled_.notify_all();
}

void ExitWait::waitAtExit() {
  if (skipWait_ && skipWait_()) return;
  std::unique_lock lock(mutex_);
  settled_.wait_for(lock, limit_, [this] { return pending_ == 0; });
}

}  // namespace foundation::detail

#include "dispatch/ExitWait.hpp"

#include <cstdlib>
#include <vector>

namespace foundation::detail {

namespace {

struct Registry {
  std::mutex mutex;
  std::vector<ExitWait*> waits;  // the ExitWaits made and not yet waited for at exit, oldest first
};

// Never destroyed: work may still end while static destructors run at exit.
Registry& registry() {
  static auto* const state = new Registry();
  return *state;
}

}  // namespace

// One atexit handler per ExitWait, registered as it is made: handlers run in the reverse order,
// so each takes the latest ExitWait not yet waited for, and every wait runs before the
// destructors of what was made before its ExitWait.
void waitForLatestAtExit() {
  ExitWait* wait = nullptr;
  {
    std::lock_guard lock(registry().mutex);
    if (registry().waits.empty()) return;
    wait = registry().waits.back();
    registry().waits.pop_back();
  }
  wait->waitAtExit();
}

ExitWait::ExitWait(std::chrono::milliseconds limit, bool (*skipWait)()) : limit_(limit), skipWait_(skipWait) {
  {
    std::lock_guard lock(registry().mutex);
    registry().waits.push_back(this);
  }
  std::atexit(waitForLatestAtExit);
}

void ExitWait::begin() {
  std::lock_guard lock(mutex_);
  ++pending_;
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

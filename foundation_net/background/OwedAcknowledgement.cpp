#include "background/OwedAcknowledgement.hpp"

#include <condition_variable>
#include <cstdlib>
#include <mutex>

namespace foundation::background {

namespace {

struct Owed {
  std::mutex mutex;
  std::condition_variable settled;
  int count = 0;
};

// Never destroyed: deliveries may still run while static destructors run at exit.
Owed& owed() {
  static auto* const state = new Owed();
  return *state;
}

thread_local int deliveriesOnThisThread = 0;

// Registered at the first delivery, so it runs before the destructors of everything the app
// made earlier, which its delegate may use.
void waitAtExit() {
  if (deliveriesOnThisThread > 0) return;  // exiting from inside a delivery: see the header
  std::unique_lock lock(owed().mutex);
  owed().settled.wait_for(lock, OwedAcknowledgement::exitWaitLimit, [] { return owed().count == 0; });
}

}  // namespace

OwedAcknowledgement::OwedAcknowledgement() {
  static const bool registered = std::atexit(waitAtExit) == 0;
  (void)registered;
  ++deliveriesOnThisThread;
  std::lock_guard lock(owed().mutex);
  ++owed().count;
}

OwedAcknowledgement::~OwedAcknowledgement() {
  --deliveriesOnThisThread;
  std::lock_guard lock(owed().mutex);
  if (--owed().count == 0) owed().settled.notify_all();
}

}  // namespace foundation::background

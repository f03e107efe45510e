#include "background/OwedAcknowledgement.hpp"

#include "dispatch/ExitWait.hpp"

namespace foundation::background {

namespace {

thread_local int deliveriesOnThisThread = 0;

// Never destroyed: deliveries may still run while static destructors run at exit.
detail::ExitWait& acknowledgements() {
  static auto* const wait = new detail::ExitWait(
      OwedAcknowledgement::exitWaitLimit,
      [] { return deliveriesOnThisThread > 0; });  // exiting from inside a delivery: see the header
  return *wait;
}

}  // namespace

OwedAcknowledgement::OwedAcknowledgement() {
  ++deliveriesOnThisThread;
  acknowledgements().begin();
}

OwedAcknowledgement::~OwedAcknowledgement() {
  --deliveriesOnThisThread;
  acknowledgements().end();
}

}  // namespace foundation::background

// A background task's completion being delivered, whose acknowledgement the daemon waits for.
// The daemon delivers again what was not acknowledged, so an app that returns from main as soon
// as its delegate saw the completion (a command-line port usually does) would get the completion
// a second time at its next launch if the process ended between the delegate's return and the
// acknowledgement's write. While one of these is alive, process exit (std::exit, a return from
// main) waits for it, up to exitWaitLimit; an exit from inside the delivery itself does not
// wait (the app died in the delegate method: the completion must come again).
#pragma once
#include <chrono>

namespace foundation::background {

class OwedAcknowledgement {
 public:
  // From the start of the delivery job, on the delegate queue's thread.
  OwedAcknowledgement();
  // Once the acknowledgement is written (or given up).
  ~OwedAcknowledgement();
  OwedAcknowledgement(const OwedAcknowledgement&) = delete;
  OwedAcknowledgement& operator=(const OwedAcknowledgement&) = delete;

  static constexpr auto exitWaitLimit = std::chrono::seconds(2);
};

}  // namespace foundation::background

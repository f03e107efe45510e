// RunLoop: the main run loop, which drains OperationQueue::main() on the thread that runs it.
#pragma once
#include <foundation_net/Date.hpp>

namespace foundation {

class RunLoop {
 public:
  static RunLoop& main();
  // Runs the main queue's closures until stop() is called.
  void run();
  // Runs the main queue's closures until the date passes or stop() is called;
  // returns false when it stopped because the date passed.
  bool runUntil(Date limit);
  // Makes run()/runUntil() return after the closure now running (callable from any thread).
  void stop();

 private:
  RunLoop() = default;
};

}  // namespace foundation

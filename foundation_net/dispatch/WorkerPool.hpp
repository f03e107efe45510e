// WorkerPool: the process-wide threads that run OperationQueue closures.
// It starts with no threads, adds one whenever a job arrives and no worker is idle (so a job
// that blocks never delays another), and a worker that stays idle for the idle timeout exits,
// so a process that stops using queues goes back to no extra threads.
#pragma once
#include <chrono>
#include <functional>
#include <memory>

namespace foundation {

class WorkerPool {
 public:
  static constexpr std::chrono::milliseconds defaultIdleTimeout{10'000};

  // The pool; created on first use and never destroyed, so workers still running at process
  // exit never touch a destroyed pool.
  static WorkerPool& shared();

  // Runs the job on a worker thread; the job must not throw.
  void submit(std::function<void()> job);
  int threadCount() const;
  // How long a worker waits for a job before it exits; applies to idle workers at once.
  void setIdleTimeout(std::chrono::milliseconds timeout);

  struct State;

 private:
  WorkerPool();
  std::shared_ptr<State> state_;
};

}  // namespace foundation

// Group commit for urlsessiond: the store's writes of one loop iteration share one transaction
// (one fsync instead of one per change), and every message to a client waits until that
// transaction is committed — so nothing is told to anyone before it is durable.
#pragma once
#include <uv.h>

#include <functional>

#include "daemon/Store.hpp"

namespace foundation::daemon {

class GroupCommit {
 public:
  // Puts `store` in group mode on `loop` (the loop thread's); both must outlive this object.
  GroupCommit(uv_loop_t* loop, Store& store);
  ~GroupCommit();
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  // Runs `action` once what was written so far is committed: at once when no group is open,
  // else after the group's commit (removing files that only an uncommitted change let go).
  void afterCommit(std::function<void()> action);

 private:
  struct Handles;
  Handles* handles_;  // freed after libuv closed them
};

}  // namespace foundation::daemon

#include "daemon/GroupCommit.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <utility>
#include <vector>

#include "background/Connection.hpp"

namespace foundation::daemon {

struct GroupCommit::Handles {
  uv_check_t commit;  // after the iteration's I/O callbacks: commit, then send
  uv_idle_t awake;    // while a group is open, the loop's poll does not block
  Store* store;
  std::vector<std::function<void()>> afterCommit;
  int open = 2;           // handles still to close
};

GroupCommit::GroupCommit(uv_loop_t* loop, Store& store) : handles_(new Handles{}) {
  handles_->store = &store;
  uv_check_init(loop, &handles_->commit);
  uv_idle_init(loop, &handles_->awake);
  handles_->commit.data = handles_;
  store.groupWrites([h = handles_] {
    background::Connection::holdWrites();
    uv_idle_start(&h->awake, [](uv_idle_t*) {});
    uv_check_start(&h->commit, [](uv_check_t* check) {
      auto* h = static_cast<Handles*>(check->data);
      uv_check_stop(&h->commit);
      uv_idle_stop(&h->awake);
      try {
        h->store->commitGroup();
      } catch (const std::exception& error) {
        // What the held messages report is not durable: they must never be sent. A restarted
        // daemon reloads the last committed state and the clients reconnect to it.
        std::fprintf(stderr, "urlsessiond: %s\n", error.what());
        std::_Exit(1);
      }
      background::Connection::releaseWrites();
      for (auto& action : std::exchange(h->afterCommit, {})) action();
    });
  });
}

void GroupCommit::afterCommit(std::function<void()> action) {
  if (!handles_->store->groupIsOpen()) return action();
  handles_->afterCommit.push_back(std::move(action));
}

GroupCommit::~GroupCommit() {
  handles_->store->groupWrites(nullptr);
  auto closed = [](uv_handle_t* handle) {
    auto* h = static_cast<Handles*>(handle->data);
    if (--h->open == 0) delete h;
  };
  handles_->awake.data = handles_;
  uv_close(reinterpret_cast<uv_handle_t*>(&handles_->commit), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&handles_->awake), closed);
}

}  // namespace foundation::daemon

#include "session/DiscardedFile.hpp"

#include <chrono>

#include "dispatch/ExitWait.hpp"
#include "engine/Loop.hpp"
#include "platform/File.hpp"

namespace foundation::detail {

namespace {

// Never destroyed: unlinks may still end while static destructors run at exit.
ExitWait& unlinks() {
  static auto* const wait = new ExitWait(std::chrono::seconds(10));
  return *wait;
}

struct Unlink {
  uv_fs_t request{};
  std::string path;
};

void onUnlinked(uv_fs_t* request) {
  uv_fs_req_cleanup(request);
  delete static_cast<Unlink*>(request->data);
  unlinks().end();
}

}  // namespace

void discardFile(const std::string& path) {
  const std::string discarded = path + ".discarded";
  // Gone already (the delegate moved it), or it cannot be renamed: removed here as before.
  if (platform::renameFile(path, discarded) != 0) {
    platform::removeFile(path);
    return;
  }
  unlinks().begin();
  engine::Loop::shared().post([discarded] {
    auto* unlink = new Unlink{{}, discarded};
    unlink->request.data = unlink;
    if (uv_fs_unlink(engine::Loop::shared().uv(), &unlink->request, unlink->path.c_str(), onUnlinked) < 0) {
      platform::removeFile(unlink->path);
      delete unlink;
      unlinks().end();
    }
  });
}

}  // namespace foundation::detail

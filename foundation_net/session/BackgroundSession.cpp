// URLSession::Impl's background side: adopting the daemon's tasks and routing its events.
#include <foundation_net/URLSessionDataTask.hpp>
#include <foundation_net/URLSessionDownloadTask.hpp>
#include <foundation_net/URLSessionUploadTask.hpp>

#include <map>
#include <set>

#include "background/BackgroundLink.hpp"
#include "background/Protocol.hpp"
#include "session/SessionImpl.hpp"
#include "session/TaskImpl.hpp"

namespace foundation {

namespace tag = wire::tag;

namespace {

std::shared_ptr<URLSessionTask> makeMirror(URLSession& session, const background::TaskSummary& summary,
                                           const std::shared_ptr<background::BackgroundLink>& link) {
  using Kind = URLSessionTask::Impl::Kind;
  URLSessionTask::Impl::Setup setup;
  setup.session = session.shared_from_this();
  setup.kind = static_cast<Kind>(summary.kind);
  setup.request = summary.currentRequest.value_or(URLRequest(URL("about:blank")));
  setup.remote = link;
  setup.identifier = summary.taskId;
  auto impl = std::make_unique<URLSessionTask::Impl>(std::move(setup));
  std::shared_ptr<URLSessionTask> task;
  switch (summary.kind) {
    case 0: task = std::make_shared<URLSessionDataTask>(std::move(impl)); break;
    case 1: task = std::make_shared<URLSessionUploadTask>(std::move(impl)); break;
    default: task = std::make_shared<URLSessionDownloadTask>(std::move(impl)); break;
  }
  task->impl().bind(task);
  task->impl().applySummary(summary);
  return task;
}

}  // namespace

std::vector<wire::Message> URLSession::Impl::adoptBackgroundTasks(
    const wire::Message& attached, const std::shared_ptr<background::BackgroundLink>& link) {
  auto next = static_cast<std::uint64_t>(attached.integer(tag::nextTaskId).value_or(1));
  for (auto current = nextTaskIdentifier_.load(); current < next && !nextTaskIdentifier_.compare_exchange_weak(current, next);) {
  }
  std::map<std::uint64_t, background::TaskSummary> known;
  for (const auto& encoded : attached.allBytes(tag::task)) {
    auto message = wire::Message::decode(encoded);
    auto summary = message ? background::decodeTaskSummary(*message) : std::nullopt;
    if (summary) known.emplace(summary->taskId, std::move(*summary));
  }
  std::map<std::uint64_t, std::shared_ptr<URLSessionTask>> local;
  std::set<std::uint64_t> finished;
  {
    std::lock_guard lock(mutex_);
    local = tasks_;
    // What the daemon no longer lists, it has forgotten: its acknowledgement was committed.
    std::erase_if(finishedHere_, [&](std::uint64_t id) { return !known.count(id); });
    finished = finishedHere_;
  }
  std::vector<wire::Message> missed;
  for (const auto& [id, task] : local) {
    auto it = known.find(id);
    task->impl().reconcile(it == known.end() ? nullptr : &it->second, missed);
  }
  // A task that completed here is not made again: its replayed completion is only acknowledged.
  for (const auto& [id, summary] : known)
    if (!local.count(id) && !finished.count(id)) adoptTask(makeMirror(owner, summary, link));
  return missed;
}

void URLSession::Impl::backgroundEvent(const wire::Message& event) {
  if (event.type() != wire::Type::event) return;
  auto kind = static_cast<wire::EventKind>(event.integer(tag::eventKind).value_or(0));
  if (kind == wire::EventKind::finishedEvents) {
    dispatcher->enqueue([session = owner.shared_from_this()] {
      if (auto delegate = session->delegate()) {
        detail::trace("urlSessionDidFinishEvents(forBackgroundURLSession:)");
        delegate->didFinishEventsForBackgroundURLSession(*session);
      }
    });
    return;
  }
  const auto id = static_cast<std::uint64_t>(event.integer(tag::taskId).value_or(0));
  std::shared_ptr<URLSessionTask> task;
  bool finishedHere = false;
  {
    std::lock_guard lock(mutex_);
    auto it = tasks_.find(id);
    if (it != tasks_.end()) task = it->second;
    finishedHere = finishedHere_.count(id) > 0;
  }
  if (task) return task->impl().remoteEvent(event);
  // Delivered in this process, but the daemon that had the acknowledgement died before it
  // committed it: acknowledge again, deliver nothing.
  if (finishedHere && kind == wire::EventKind::completed)
    link->send(wire::Message(wire::Type::acknowledge).add(tag::sequence, event.integer(tag::sequence).value_or(0)));
}

}  // namespace foundation

#include <foundation_net/Application.hpp>

#include <algorithm>
#include <mutex>
#include <set>

#include <foundation_net/OperationQueue.hpp>
#include <foundation_net/RunLoop.hpp>

#include "background/ApplicationState.hpp"
#include "background/BackgroundLink.hpp"
#include "background/Protocol.hpp"
#include "platform/Process.hpp"

namespace foundation {
namespace {

struct SharedState {
  std::mutex mutex;
  Application::State state = Application::State::active;
  bool commandSet = false;
  std::vector<std::string> command;
  std::vector<std::string> launchIdentifiers;  // what urlsessiond launched this process for
  bool handlerCalled = false;
  std::set<std::string> launchesClaimed;       // launch identifiers a session attach has announced
  std::set<std::string> outstanding;           // handlers called whose completion handler was not
  std::vector<std::weak_ptr<background::BackgroundLink>> links;

  SharedState() {
    auto text = platform::environment(background::launchSessionsVariable).value_or("");
    for (std::size_t start = 0; start < text.size();) {
      auto end = std::min(text.find('\n', start), text.size());
      if (end > start) launchIdentifiers.push_back(text.substr(start, end - start));
      start = end + 1;
    }
    if (!launchIdentifiers.empty()) state = Application::State::background;
  }
};

SharedState& current() {
  static SharedState state;
  return state;
}

// Mutex held.
void addStateLocked(const SharedState& s, wire::Message& message) {
  message.add(wire::tag::foreground, static_cast<std::int64_t>(s.state != Application::State::background));
  if (!s.commandSet) return;
  wire::Message command;
  for (const auto& argument : s.command) command.add(wire::tag::launchCommand, argument);
  message.add(wire::tag::launchCommand, command);
}

// Tells every live background session's daemon link what changed.
void broadcast() {
  auto& s = current();
  wire::Message message(wire::Type::appState);
  std::vector<std::shared_ptr<background::BackgroundLink>> live;
  {
    std::lock_guard lock(s.mutex);
    addStateLocked(s, message);
    std::erase_if(s.links, [](const auto& link) { return link.expired(); });
    for (const auto& link : s.links)
      if (auto strong = link.lock()) live.push_back(std::move(strong));
  }
  for (const auto& link : live) link->send(message);
}

}  // namespace

namespace background {

void addApplicationState(wire::Message& message) {
  std::lock_guard lock(current().mutex);
  addStateLocked(current(), message);
}

bool claimLaunchedFor(const std::string& sessionIdentifier) {
  auto& s = current();
  std::lock_guard lock(s.mutex);
  return std::find(s.launchIdentifiers.begin(), s.launchIdentifiers.end(), sessionIdentifier) !=
             s.launchIdentifiers.end() &&
         s.launchesClaimed.insert(sessionIdentifier).second;
}

void watchApplicationState(const std::shared_ptr<BackgroundLink>& link) {
  std::lock_guard lock(current().mutex);
  current().links.push_back(link);
}

}  // namespace background

Application& Application::shared() {
  static Application application;
  return application;
}

Application::State Application::applicationState() const {
  std::lock_guard lock(current().mutex);
  return current().state;
}

void Application::setApplicationState(State state) {
  {
    std::lock_guard lock(current().mutex);
    if (current().state == state) return;
    current().state = state;
  }
  broadcast();
}

void Application::setLaunchCommand(std::vector<std::string> command) {
  {
    std::lock_guard lock(current().mutex);
    current().commandSet = true;
    current().command = std::move(command);
  }
  broadcast();
}

std::vector<std::string> Application::launchCommand() const {
  std::lock_guard lock(current().mutex);
  return current().command;
}

std::vector<std::string> Application::backgroundURLSessionLaunchIdentifiers() const {
  std::lock_guard lock(current().mutex);
  return current().launchIdentifiers;
}

void Application::setHandleEventsForBackgroundURLSession(BackgroundURLSessionEventsHandler handler) {
  auto& s = current();
  std::vector<std::string> identifiers;
  {
    std::lock_guard lock(s.mutex);
    if (s.handlerCalled || s.launchIdentifiers.empty() || !handler) return;
    s.handlerCalled = true;
    identifiers = s.launchIdentifiers;
    s.outstanding.insert(identifiers.begin(), identifiers.end());
  }
  for (const auto& identifier : identifiers) {
    // The app is done with this session's events when it calls the completion handler; after
    // the last one, a launched app that stayed in the background stops its main run loop.
    auto completionHandler = [identifier] {
      auto& state = current();
      bool last = false;
      {
        std::lock_guard lock(state.mutex);
        last = state.outstanding.erase(identifier) == 1 && state.outstanding.empty() &&
               state.state == State::background;
      }
      if (last) RunLoop::main().stop();
    };
    OperationQueue::main()->addOperation([handler, identifier, completionHandler] { handler(identifier, completionHandler); });
  }
}

}  // namespace foundation

// Application: the part of UIApplication / NSApplication and their delegate that background
// URL sessions depend on — the app's state (foreground or background), how urlsessiond launches
// the app when its background sessions have events and no process of it is running, and the
// handler for those launches, `application(_:handleEventsForBackgroundURLSession:completionHandler:)`.
//
//   Application::shared().setLaunchCommand({"/usr/bin/myapp", "--background"});
//   Application::shared().setHandleEventsForBackgroundURLSession(
//       [](const std::string& identifier, std::function<void()> completionHandler) {
//         // keep completionHandler; recreate the session with this identifier; call the
//         // handler on the main queue from urlSessionDidFinishEvents(forBackgroundURLSession:)
//       });
//   RunLoop::main().run();
//
// docs/background.md describes the launch and its rate limiter.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace foundation {

class Application {
 public:
  // UIApplication.State. `active` and `inactive` are the foreground; tasks created in
  // `background` are discretionary and wait for the launch rate limiter's delay (Apple's rule).
  enum class State { active = 0, inactive = 1, background = 2 };
  using BackgroundURLSessionEventsHandler =
      std::function<void(const std::string& identifier, std::function<void()> completionHandler)>;

  static Application& shared();

  // UIApplication.shared.applicationState. A process that urlsessiond launched for background
  // events starts in `background`; any other starts `active`. Thread-safe.
  State applicationState() const;
  // The app says it went to the foreground or the background. Background sessions tell
  // urlsessiond at once; coming to the foreground resets the launch rate limiter.
  void setApplicationState(State state);

  // How urlsessiond starts this app for launch events: the program (a path, or a name looked
  // up on PATH) and its arguments. Sent to the daemon by every background session this process
  // attaches, and kept there; an empty command unregisters. Nothing is registered by default:
  // without a command the app is not launched, and its events wait for its next run.
  void setLaunchCommand(std::vector<std::string> command);
  std::vector<std::string> launchCommand() const;

  // application(_:handleEventsForBackgroundURLSession:completionHandler:). When this process
  // was launched by urlsessiond, the handler is called once per session identifier that has
  // events, on the main queue (so once RunLoop::main() runs). The app recreates the session
  // with that identifier; the events are delivered, then
  // urlSessionDidFinishEvents(forBackgroundURLSession:); the app then calls completionHandler
  // (on the main queue, as Apple asks). When every launch identifier's completion handler has
  // been called and the app is still in the background, RunLoop::main() stops — the Linux
  // counterpart of iOS suspending the app — so a launched app's main() can return.
  void setHandleEventsForBackgroundURLSession(BackgroundURLSessionEventsHandler handler);

  // The session identifiers this process was launched for (empty when it was not launched by
  // urlsessiond) — what an iOS app learns from its launch options.
  std::vector<std::string> backgroundURLSessionLaunchIdentifiers() const;

 private:
  Application() = default;
};

}  // namespace foundation

// fntest-server: runs the test server as a process, for manual testing and for
// benchmarks that want the server out of the client's process.
//
//   fntest-server [--port P] [--stdin-eof-stops]
//
// Prints "http://127.0.0.1:PORT" on the first line of stdout, then serves until
// SIGTERM or SIGINT (or, with --stdin-eof-stops, until stdin is closed, so a
// parent that dies cannot leave the server behind).
#include "TestServer.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <exception>
#include <string_view>

namespace {

int usage(std::FILE* out, int status) {
    std::fputs("usage: fntest-server [--port P] [--stdin-eof-stops]\n", out);
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    int port = 0;
    bool stdinEofStops = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--port" && i + 1 < argc) {
            std::string_view value = argv[++i];
            auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), port);
            if (error != std::errc() || end != value.data() + value.size() || port < 0 || port > 65535)
                return usage(stderr, 2);
        } else if (arg == "--stdin-eof-stops") {
            stdinEofStops = true;
        } else if (arg == "--help" || arg == "-h") {
            return usage(stdout, 0);
        } else {
            return usage(stderr, 2);
        }
    }

    // Block the stop signals before the server starts its threads (they inherit
    // the mask), so that they arrive only through the signalfd below.
    sigset_t stopSignals;
    sigemptyset(&stopSignals);
    sigaddset(&stopSignals, SIGTERM);
    sigaddset(&stopSignals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);
    int signalFd = signalfd(-1, &stopSignals, SFD_CLOEXEC);
    if (signalFd < 0) {
        std::perror("fntest-server: signalfd");
        return 1;
    }

    try {
        fntest::TestServer server(port);
        std::printf("http://127.0.0.1:%d\n", server.port());
        std::fflush(stdout);

        pollfd fds[2] = {{signalFd, POLLIN, 0}, {stdinEofStops ? STDIN_FILENO : -1, POLLIN, 0}};
        for (;;) {
            if (poll(fds, 2, -1) < 0) continue;  // EINTR
            if (fds[0].revents != 0) break;
            if (fds[1].revents != 0) {
                char buffer[4096];
                if (read(STDIN_FILENO, buffer, sizeof buffer) <= 0) break;  // EOF (or error) stops
            }
        }
    } catch (const std::exception& error) {
        std::fprintf(stderr, "fntest-server: %s\n", error.what());
        return 1;
    }
    return 0;
}

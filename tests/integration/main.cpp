// The entry point of the test programs that run sessions (integration, background, chaos,
// operations): doctest's own main(), and a data folder of the process's own.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <stdlib.h>

#include "TempFolder.hpp"

namespace {

// HTTPCookieStorage::shared() keeps cookies in $XDG_DATA_HOME: without a fresh folder, one run's
// cookies (all of them for 127.0.0.1, whatever the port) would go with the next run's requests.
// Set before main(); removed at exit, after the storage's exit handler has written to it.
struct FreshDataHome {
  fntest::TempFolder folder{"fntest-data"};
  FreshDataHome() { ::setenv("XDG_DATA_HOME", folder.path().c_str(), 1); }
} freshDataHome;

}  // namespace

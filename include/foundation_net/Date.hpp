// Foundation's time types: TimeInterval (seconds, as a double) and Date.
#pragma once
#include <chrono>

namespace foundation {

using TimeInterval = double;  // seconds
using Date = std::chrono::system_clock::time_point;

}  // namespace foundation

// SPDX-License-Identifier: Apache-2.0
// The kernel's coarse clocks: the time as of the last timer tick (1 to 4 ms old), read
// without the cycle counter, for per-request uses where a tick's precision is plenty (an
// access log line's time, a rate limiter's refill); several times cheaper than now().
//
//   const auto wall = khz::coarse_system_now();   // CLOCK_REALTIME_COARSE
//   const auto mono = khz::coarse_steady_now();   // CLOCK_MONOTONIC_COARSE: steady_clock's epoch
//
// Durations measured with them are off by up to a tick: time latencies with steady_clock.
#pragma once

#include <chrono>
#include <ctime>

namespace khz {

inline std::chrono::system_clock::time_point coarse_system_now() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

// libstdc++'s steady_clock is CLOCK_MONOTONIC, whose epoch CLOCK_MONOTONIC_COARSE shares, so
// the two compare (the coarse one at most a tick behind).
inline std::chrono::steady_clock::time_point coarse_steady_now() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::steady_clock::time_point(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

}  // namespace khz

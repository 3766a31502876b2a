// SPDX-License-Identifier: Apache-2.0
// Private to app/client: the clock every deadline of a call is read on, and the two rules for
// turning a timeout into a deadline and a deadline back into a timeout. Deadlines are taken on
// LoopClock (steady_clock's time from the cycle counter on a loop's thread).
#pragma once

#include <khz/common/loop_clock.h>

#include <chrono>

namespace khz::client {

using Clock = std::chrono::steady_clock;
constexpr Clock::time_point kNever = Clock::time_point::max();

// The deadline `d` from now; kNever when d is 0 (none).
inline Clock::time_point after(std::chrono::milliseconds d) { return d.count() > 0 ? LoopClock::now() + d : kNever; }

// `timeout` (0: none) cut to what is left before `deadline` at `now`, at least 1 ms when cut.
inline std::chrono::milliseconds within(std::chrono::milliseconds timeout, Clock::time_point deadline,
                                        Clock::time_point now) {
  if (deadline == kNever) return timeout;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
  if (left.count() <= 0) left = std::chrono::milliseconds(1);
  return timeout.count() == 0 || left < timeout ? left : timeout;
}

}  // namespace khz::client

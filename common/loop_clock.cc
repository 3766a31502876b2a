// SPDX-License-Identifier: Apache-2.0
#include <khz/common/loop_clock.h>

#include <algorithm>

namespace khz {

constinit thread_local LoopClock::Anchor LoopClock::anchor_{};

namespace {
constexpr double kAnchorSeconds = 1e-3;  // renewed after this: the rate's 0.1% is then 1 µs
}  // namespace

LoopClock::Scope::Scope() noexcept : outer_(anchor_) {
  TickClock::calibrate();  // once per process
  const double rate = TickClock::rate();
  anchor_.ns_per_tick = 1e9 / rate;
  anchor_.limit = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(rate * kAnchorSeconds));
  renew();
}

LoopClock::Clock::time_point LoopClock::renew() noexcept {
  if (anchor_.limit == 0) return Clock::now();
  // The counter and the clock read back to back; read again if something came between them (a
  // preemption would put every reading until the next renewal that much ahead).
  for (int tries = 0;; ++tries) {
    const std::uint64_t ticks = TickClock::now();
    const Clock::time_point time = Clock::now();
    if (TickClock::now() - ticks <= anchor_.limit / 256 || tries == 3) {  // 4 µs
      anchor_.ticks = ticks;
      anchor_.time = time;
      return time;
    }
  }
}

}  // namespace khz

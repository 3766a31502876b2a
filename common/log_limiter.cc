// SPDX-License-Identifier: Apache-2.0
#include <khz/common/log_limiter.h>

#include <khz/common/coarse_clock.h>

namespace khz::log {

bool Limiter::admit(std::uint64_t& suppressed) noexcept {
  const auto now = coarse_steady_now().time_since_epoch().count();
  auto start = window_start_.load(std::memory_order_relaxed);
  // The first call opens a window (start 0 is never a window: the monotonic clock is past it).
  if ((start == 0 || now - start >= period_) &&
      window_start_.compare_exchange_strong(start, now, std::memory_order_relaxed)) {
    in_window_.store(0, std::memory_order_relaxed);
  }
  if (in_window_.fetch_add(1, std::memory_order_relaxed) < burst_) {
    suppressed = suppressed_.exchange(0, std::memory_order_relaxed);
    return true;
  }
  suppressed_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

}  // namespace khz::log

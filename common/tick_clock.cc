// SPDX-License-Identifier: Apache-2.0
#include <khz/common/tick_clock.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <string_view>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace khz {

constinit std::atomic<TickClock::Source> TickClock::source_{TickClock::Source::unknown};
constinit std::atomic<double> TickClock::seconds_per_tick_{1e-9};

namespace {

#if defined(__x86_64__)
bool tsc_usable() {
  if (const char* env = std::getenv("KHZ_TICK_CLOCK"); env != nullptr && std::string_view(env) == "steady") return false;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(0x80000000, &a, &b, &c, &d) == 0 || a < 0x80000007) return false;
  __get_cpuid(0x80000007, &a, &b, &c, &d);
  if ((d & (1u << 8)) == 0) return false;  // no invariant TSC
  std::ifstream in("/sys/devices/system/clocksource/clocksource0/current_clocksource");
  std::string source;
  return static_cast<bool>(in >> source) && source == "tsc";
}

// The counter's ticks per steady_clock second, over a 2 ms spin. Each end is a steady_clock
// reading taken between two counter readings, matched to their midpoint.
double measure_seconds_per_tick() {
  using Clock = std::chrono::steady_clock;
  auto pair = [](std::uint64_t& ticks, Clock::time_point& at) {
    const std::uint64_t before = __rdtsc();
    at = Clock::now();
    ticks = before + (__rdtsc() - before) / 2;
  };
  std::uint64_t t0 = 0, t1 = 0;
  Clock::time_point c0, c1;
  pair(t0, c0);
  do {
    pair(t1, c1);
  } while (c1 - c0 < std::chrono::milliseconds(2));
  const double elapsed = std::chrono::duration<double>(c1 - c0).count();
  return t1 > t0 ? elapsed / static_cast<double>(t1 - t0) : 0;
}
#endif

std::mutex calibrate_mutex;

}  // namespace

TickClock::Source TickClock::calibrate() noexcept {
  Source s = source_.load(std::memory_order_acquire);
  if (s != Source::unknown) return s;
  std::lock_guard lock(calibrate_mutex);
  s = source_.load(std::memory_order_acquire);
  if (s != Source::unknown) return s;
  s = Source::steady;
#if defined(__x86_64__)
  try {
    if (tsc_usable()) {
      const double spt = measure_seconds_per_tick();
      if (spt > 0) {
        seconds_per_tick_.store(spt, std::memory_order_relaxed);
        s = Source::tsc;
      }
    }
  } catch (...) {  // reading the clocksource's name failed: the fallback
  }
#endif
  source_.store(s, std::memory_order_release);
  return s;
}

}  // namespace khz

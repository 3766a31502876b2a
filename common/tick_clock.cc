// SPDX-License-Identifier: Apache-2.0
#include <khz/common/tick_clock.h>

#include <cmath>
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

// One steady_clock reading matched to the counter: the reading taken between two counter
// readings, matched to their midpoint. A thread preempted inside the bracket would match it to
// the wrong tick, so of up to 16 tries the narrowest bracket counts.
void matched_reading(std::uint64_t& ticks, std::chrono::steady_clock::time_point& at) {
  std::uint64_t narrowest = ~std::uint64_t{0};
  for (int i = 0; i < 16 && narrowest > 2000; ++i) {
    const std::uint64_t before = __rdtsc();
    const auto now = std::chrono::steady_clock::now();
    const std::uint64_t after = __rdtsc();
    if (after >= before && after - before < narrowest) {
      narrowest = after - before;
      ticks = before + (after - before) / 2;
      at = now;
    }
  }
}

// Seconds per counter tick over a `window` of steady_clock time; 0 if the counter did not move.
double measure_seconds_per_tick(std::chrono::microseconds window) {
  std::uint64_t t0 = 0, t1 = 0;
  std::chrono::steady_clock::time_point c0, c1;
  matched_reading(t0, c0);
  do {
    matched_reading(t1, c1);
  } while (c1 - c0 < window);
  const double elapsed = std::chrono::duration<double>(c1 - c0).count();
  return t1 > t0 ? elapsed / static_cast<double>(t1 - t0) : 0;
}

// Two measurements that agree within 0.1% (a busy machine may stall one), up to five tries;
// 0 when they never agree (the caller falls back to steady_clock).
double calibrated_seconds_per_tick() {
  using std::chrono::microseconds;
  for (int attempt = 0; attempt < 5; ++attempt) {
    const double a = measure_seconds_per_tick(microseconds(2000));
    const double b = measure_seconds_per_tick(microseconds(2000));
    if (a > 0 && b > 0 && std::abs(a - b) <= 0.001 * a) return (a + b) / 2;
  }
  return 0;
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
      const double spt = calibrated_seconds_per_tick();
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

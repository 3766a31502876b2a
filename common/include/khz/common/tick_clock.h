// SPDX-License-Identifier: Apache-2.0
// khz::TickClock: a monotonic clock for timing short intervals on the request path (a request's
// duration for its histogram), at about half the cost of std::chrono::steady_clock where the
// CPU's time-stamp counter is what the kernel keeps time with.
//
//   const std::uint64_t start = khz::TickClock::now();
//   ...
//   histogram.observe(khz::TickClock::seconds(khz::TickClock::now() - start));
//
// How: on x86-64, when the kernel's clocksource is "tsc" (it has checked that the counter is
// invariant and agrees across CPUs) and the CPU says the counter is invariant, now() is one
// rdtsc; the ticks-per-second ratio is measured once against steady_clock (two 2 ms spins that
// must agree within 0.1%, retried on a busy machine, on the first call of calibrate(), which
// setup code calls so no request pays for it). Anywhere else, or when the measurements never
// agree, now() is steady_clock's nanoseconds. seconds() converts either way; only differences between
// two now() readings of one process mean anything. KHZ_TICK_CLOCK=steady forces the fallback.
// Threading: any thread; the first calibrate() (or now()) decides the source for the process.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace khz {

class TickClock {
 public:
  enum class Source : std::uint8_t { unknown, tsc, steady };

  // Decides the source (and measures the counter's rate) if not done yet; returns it.
  static Source calibrate() noexcept;

  static std::uint64_t now() noexcept {
    Source s = source_.load(std::memory_order_acquire);
    if (s == Source::unknown) [[unlikely]] s = calibrate();
#if defined(__x86_64__)
    if (s == Source::tsc) return __rdtsc();
#endif
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
  }

  // The length of `ticks` (a difference of two now() readings) in seconds.
  static double seconds(std::uint64_t ticks) noexcept {
    return static_cast<double>(ticks) * seconds_per_tick_.load(std::memory_order_relaxed);
  }

  static std::chrono::nanoseconds nanoseconds(std::uint64_t ticks) noexcept {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(seconds(ticks) * 1e9));
  }

  // Ticks per second (1e9 on the steady_clock fallback).
  static double rate() noexcept { return 1.0 / seconds_per_tick_.load(std::memory_order_relaxed); }

 private:
  static constinit std::atomic<Source> source_;
  static constinit std::atomic<double> seconds_per_tick_;  // stored before source_ is published
};

}  // namespace khz

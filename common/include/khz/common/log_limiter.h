// SPDX-License-Identifier: Apache-2.0
// Log lines that a flood could repeat, limited: at most `burst` lines per `period` through one
// limiter; the lines over it are counted, not formatted, and the next line let through carries
// a `suppressed` field with their number.
//
//   static khz::log::Limiter bad_field(5, std::chrono::seconds(10));
//   KHZ_LOG_LIMITED(bad_field, error, "field not sent: " << name);
//
// For lines that a peer or a handler can cause on every request (a refused field, a bad frame):
// a log must not become the cheapest way to fill a disk. Thread-safe and lock-free; a line
// below the log threshold neither counts nor takes a slot. Under races at a period's edge one
// or two lines more than `burst` may pass.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include <khz/common/log.h>

namespace khz::log {

class Limiter {
 public:
  Limiter(std::uint32_t burst, std::chrono::steady_clock::duration period) noexcept
      : burst_(burst), period_(period.count()) {}
  Limiter(const Limiter&) = delete;
  Limiter& operator=(const Limiter&) = delete;

  // True: write the line now; `suppressed` is set to the lines refused since the last one let
  // through. False: the line was counted as suppressed.
  bool admit(std::uint64_t& suppressed) noexcept;

 private:
  const std::uint32_t burst_;
  const std::chrono::steady_clock::rep period_;
  std::atomic<std::chrono::steady_clock::rep> window_start_{0};
  std::atomic<std::uint64_t> in_window_{0};  // 64 bits: a flood never wraps it
  std::atomic<std::uint64_t> suppressed_{0};
};

}  // namespace khz::log

// KHZ_LOG_LIMITED(limiter, level, stream-expression, fields...): KHZ_LOG through a Limiter.
#define KHZ_LOG_LIMITED(limiter, lvl, expr, ...)                                                       \
  do {                                                                                                 \
    if (::khz::log::enabled(::khz::log::Level::lvl)) {                                                 \
      ::std::uint64_t khz_log_suppressed_ = 0;                                                         \
      if ((limiter).admit(khz_log_suppressed_)) {                                                      \
        if (khz_log_suppressed_ == 0) {                                                                \
          KHZ_LOG(lvl, expr __VA_OPT__(, ) __VA_ARGS__);                                               \
        } else {                                                                                       \
          KHZ_LOG(lvl, expr __VA_OPT__(, ) __VA_ARGS__, ::khz::log::f("suppressed", khz_log_suppressed_)); \
        }                                                                                              \
      }                                                                                                \
    }                                                                                                  \
  } while (0)

// SPDX-License-Identifier: Apache-2.0
// khz::LoopClock: steady_clock's time at about half the cost of steady_clock::now(), for the
// deadlines armed on the request path. One request arms its connection's read deadline, and a
// client call its head deadline, its reads' and writes' deadlines and its pool's idle stamps:
// several clock reads a request, each a vDSO call with a fenced counter read (18 ns here).
//
//   auto due = khz::LoopClock::now() + timeout;   // what the loops' arm() does
//
// How: on a loop's thread (a Scope lives across the loop's run()) the clock is anchored with
// one steady_clock read; now() adds the cycle counter's ticks since the anchor (TickClock: one
// rdtsc where the kernel keeps time with it), in nanoseconds. An anchor is renewed with a clock
// read once it is 1 ms old, so the counter's measured rate (within 0.1%) puts now() at most a
// microsecond off. Elsewhere (no loop on this thread, the Asio backend's threads) and where
// TickClock falls back to steady_clock, now() costs what steady_clock::now() does.
// Two readings may step back by that microsecond across a renewed anchor: measure intervals
// with steady_clock or TickClock, not with this.
// Threading: per thread; each loop anchors its own thread's clock.
#pragma once

#include <khz/common/tick_clock.h>

#include <chrono>
#include <cstdint>

namespace khz {

class LoopClock {
  struct Anchor {
    std::chrono::steady_clock::time_point time{};
    std::uint64_t ticks = 0;
    std::uint64_t limit = 0;  // ticks an anchor serves; 0: no Scope, read the clock
    double ns_per_tick = 0;
  };

 public:
  using Clock = std::chrono::steady_clock;

  static Clock::time_point now() noexcept {
    const Anchor& a = anchor_;
    if (a.limit != 0) {
      const std::uint64_t since = TickClock::now() - a.ticks;
      if (since < a.limit) {
        return a.time + std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(
                            static_cast<std::int64_t>(static_cast<double>(since) * a.ns_per_tick)));
      }
    }
    return renew();
  }

  // For the loops: one lives across a loop's run() and anchors the clock on its thread; the
  // destructor puts back what the thread had before.
  class Scope {
   public:
    Scope() noexcept;
    ~Scope() { anchor_ = outer_; }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Anchor outer_;
  };

 private:
  static Clock::time_point renew() noexcept;  // the anchor renewed in a Scope; the clock outside one
  static constinit thread_local Anchor anchor_;
};

}  // namespace khz

// SPDX-License-Identifier: Apache-2.0
// khz::LoopDelay: how late the current event loop runs the work posted to it, its queueing
// delay: what a request arriving now waits before the loop gets to it. A busy but healthy
// loop runs a posted job within microseconds; a loop whose handlers burn CPU or block it runs
// it late by as long as they hold it.
//
//   khz::LoopDelay delay;                           // one per loop (see <khz/common/loop_local.h>)
//   auto now = khz::EventLoop::Clock::now();
//   delay.sample(now);                              // e.g. once per request, on the loop
//   if (delay.current(now) > std::chrono::milliseconds(50)) shed();
//
// How it measures: sample() posts a probe job to the current loop (at most one in flight, and
// at most one per `interval`) and notes when; when the loop runs the probe it records how
// late it ran. current() is the larger of the last recorded delay (forgotten after `memory`:
// no probe means no news, and an idle loop is not late) and the age of the probe still in
// flight (a loop that has not run a job posted 80 ms ago is at least 80 ms late, even before
// it gets to it). It costs one clock read per sample() and one posted job per interval.
// Threading: used on one event loop's thread (sample() needs a current loop; without one it
// measures nothing). The probe shares a small block with the LoopDelay, so a probe run after
// the LoopDelay is gone is harmless.
#pragma once

#include <khz/common/event_loop.h>

#include <chrono>
#include <memory>

namespace khz {

class LoopDelay {
 public:
  using Clock = EventLoop::Clock;

  explicit LoopDelay(Clock::duration interval = std::chrono::milliseconds(10),
                     Clock::duration memory = std::chrono::seconds(1));

  // Posts a probe when none is in flight and `interval` has passed since the last one.
  void sample(Clock::time_point now);
  // The loop's queueing delay as last seen (see above); zero before any probe came back.
  Clock::duration current(Clock::time_point now) const noexcept;
  // Probes that came back (for tests and metrics).
  std::uint64_t probes() const noexcept;

  struct Cell {
    Clock::time_point posted{};      // of the probe in flight
    bool in_flight = false;
    Clock::duration last{};          // the last probe's delay
    Clock::time_point measured{};    // when it came back
    std::uint64_t probes = 0;
  };

 private:
  Clock::duration interval_;
  Clock::duration memory_;
  std::shared_ptr<Cell> cell_;
};

}  // namespace khz

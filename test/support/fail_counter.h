// SPDX-License-Identifier: Apache-2.0
// Test support: khz::test::FailCounter, "fail the Nth call" (as Beast's fail_count), and
// sweep_failures, which runs a scenario with N = 1, 2, ... Give a counter to what can fail (a
// memory connection's fills or flushes, an allocator); the scenario asks it before each
// fallible step and makes that step fail when told to. The first run that ends without
// reaching N had every step succeed, so by then each failure point has been visited in turn.
//
//   std::size_t runs = khz::test::sweep_failures([](khz::test::FailCounter& counter) {
//     Codec codec(allocator_asking(counter));   // each allocation: if (counter.fail()) return nullptr;
//     run_exchange(codec);                     // must end cleanly (no crash, no leak), failed or not
//     if (!counter.reached()) check_complete_exchange(codec);
//   });
//   CHECK(runs > 1);                           // the scenario did reach fallible steps
//
// fail() is true on the Nth call and on every call after it (what broke stays broken, as a
// socket does); N counts from 1, and 0 never fails. Used from one thread; not thread-safe.
#pragma once

#include <cstddef>
#include <stdexcept>

namespace khz::test {

class FailCounter {
 public:
  explicit FailCounter(std::size_t nth) noexcept : nth_(nth) {}

  // Counts one call; true from the nth on: the caller makes that step fail.
  bool fail() noexcept { return ++calls_ >= nth_ && nth_ != 0; }
  // The nth call came: a failure was injected.
  bool reached() const noexcept { return nth_ != 0 && calls_ >= nth_; }
  std::size_t nth() const noexcept { return nth_; }
  std::size_t calls() const noexcept { return calls_; }

 private:
  std::size_t nth_;
  std::size_t calls_ = 0;
};

// Runs scenario(counter) with a counter failing from the 1st, 2nd, ... call on, until a run
// does not reach it; returns the number of runs (the last one had no failure). Throws
// std::runtime_error after `max_runs` runs that all reached it.
template <class Scenario>
std::size_t sweep_failures(Scenario&& scenario, std::size_t max_runs = 100000) {
  for (std::size_t n = 1; n <= max_runs; ++n) {
    FailCounter counter(n);
    scenario(counter);
    if (!counter.reached()) return n;
  }
  throw std::runtime_error("sweep_failures: every run reached its failure; raise max_runs");
}

}  // namespace khz::test

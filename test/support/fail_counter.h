// SPDX-License-Identifier: Apache-2.0
// Test support: khz::test::FailCounter, "fail the Nth call" (as Beast's fail_count), and
// sweep_failures, which runs a scenario with N = 1, 2, ... A scenario asks the counter before
// each fallible step (an allocation, a write) and makes that step fail when told to; the first
// run that ends without reaching N had every step succeed, so by then each step has failed
// once, in turn, and the sweep stops.
//
//   std::size_t runs = khz::test::sweep_failures([](khz::test::FailCounter& counter) {
//     Codec codec(allocator_asking(counter));   // each allocation: if (counter.fail()) return nullptr;
//     run_exchange(codec);                     // must end cleanly (no crash, no leak), failed or not
//     if (!counter.reached()) check_complete_exchange(codec);
//   });
//   CHECK(runs > 1);                           // the scenario did reach fallible steps
//
// Not thread-safe: one scenario at a time.
#pragma once

#include <cstddef>
#include <stdexcept>

namespace khz::test {

class FailCounter {
 public:
  // Fails the nth call of fail() (counting from 1); 0: never.
  explicit FailCounter(std::size_t nth) noexcept : nth_(nth) {}

  // Counts one call; true for the nth, which the caller must make fail.
  bool fail() noexcept { return ++calls_ == nth_; }
  // The nth call came: a failure was injected.
  bool reached() const noexcept { return nth_ != 0 && calls_ >= nth_; }
  std::size_t nth() const noexcept { return nth_; }
  std::size_t calls() const noexcept { return calls_; }

 private:
  std::size_t nth_;
  std::size_t calls_ = 0;
};

// Runs scenario(counter) with a counter failing the 1st, 2nd, ... call, until a run does not
// reach it; returns the number of runs (the last one had no failure). Throws
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

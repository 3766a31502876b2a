// SPDX-License-Identifier: Apache-2.0
// Test support: fail the Nth call (Beast's fail_count). Give one to what can fail (a memory
// connection's fills or flushes, an allocator) and sweep N = 1, 2, ... until the operation
// under test gets through without the counter firing: every failure point is then visited once.
//
//   for (std::size_t n = 1;; ++n) {
//     khz::test::FailCounter counter(n);
//     run_operation(counter);                 // asks counter.fail() at each point that can fail
//     check_it_failed_cleanly_or_succeeded();
//     if (counter.calls() < n) break;         // the counter never fired: all points were visited
//   }
//
// fail() is true on the Nth call and on every call after it (what broke stays broken, as a
// socket does); N counts from 1, and 0 never fails. Used from one thread; not thread-safe.
#pragma once

#include <cstddef>

namespace khz::test {

class FailCounter {
 public:
  explicit FailCounter(std::size_t n) noexcept : n_(n) {}
  bool fail() noexcept { return ++calls_ >= n_ && n_ != 0; }
  std::size_t calls() const noexcept { return calls_; }

 private:
  std::size_t n_;
  std::size_t calls_ = 0;
};

}  // namespace khz::test

// SPDX-License-Identifier: Apache-2.0
// LoopClock: steady_clock's time, read from the cycle counter inside a Scope (a loop's run())
// and from steady_clock outside one; the anchor is renewed as it ages, and a Scope puts back
// what the thread had.
#include <khz/common/loop_clock.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

using namespace std::chrono_literals;
using khz::LoopClock;

namespace {

// now() lies between two steady_clock readings around it, give or take `slack` (the counter's
// measured rate is off by up to 0.1%, 1 µs over an anchor's 1 ms; a preempted read adds more).
void check_between(std::chrono::nanoseconds slack) {
  const auto before = std::chrono::steady_clock::now();
  const auto t = LoopClock::now();
  const auto after = std::chrono::steady_clock::now();
  REQUIRE(t >= before - slack);
  REQUIRE(t <= after + slack);
}

}  // namespace

TEST_CASE("loop clock: steady_clock's time outside a loop") {
  for (int i = 0; i < 100; ++i) check_between(0ns);
}

TEST_CASE("loop clock: inside a loop it keeps steady_clock's time across sleeps and busy stretches") {
  LoopClock::Scope scope;
  for (int round = 0; round < 20; ++round) {
    check_between(50us);
    // Time passes within and beyond one anchor: a stale anchor would read behind.
    std::this_thread::sleep_for(std::chrono::microseconds(100 * round));
    check_between(50us);
    const auto spin_until = std::chrono::steady_clock::now() + 300us;
    while (std::chrono::steady_clock::now() < spin_until) {
    }
    check_between(50us);
  }
  // Deadlines taken from it come due on steady_clock when they should.
  const auto due = LoopClock::now() + 20ms;
  std::this_thread::sleep_for(20ms);
  REQUIRE(std::chrono::steady_clock::now() >= due - 50us);
}

TEST_CASE("loop clock: a Scope puts back what the thread had, nested or not") {
  {
    LoopClock::Scope outer;
    {
      LoopClock::Scope inner;
      check_between(50us);
    }
    std::this_thread::sleep_for(3ms);
    check_between(50us);  // the outer scope's anchor, renewed as it aged
  }
  std::this_thread::sleep_for(3ms);
  for (int i = 0; i < 100; ++i) check_between(0ns);
}

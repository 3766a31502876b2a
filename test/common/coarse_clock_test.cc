// SPDX-License-Identifier: Apache-2.0
#include <khz/common/coarse_clock.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

using namespace std::chrono_literals;

TEST_CASE("the coarse clocks read the precise clocks' time, at most a tick behind, and move on") {
  // A tick is 1 to 10 ms (CONFIG_HZ); 50 ms leaves room for a preempted test.
  for (int i = 0; i < 3; ++i) {
    const auto steady_before = std::chrono::steady_clock::now();
    const auto coarse_steady = khz::coarse_steady_now();
    const auto steady_after = std::chrono::steady_clock::now();
    REQUIRE(coarse_steady <= steady_after);
    REQUIRE(coarse_steady > steady_before - 50ms);

    const auto wall_before = std::chrono::system_clock::now();
    const auto coarse_wall = khz::coarse_system_now();
    const auto wall_after = std::chrono::system_clock::now();
    REQUIRE(coarse_wall <= wall_after);
    REQUIRE(coarse_wall > wall_before - 50ms);
    std::this_thread::sleep_for(20ms);
  }
  const auto first = khz::coarse_steady_now();
  std::this_thread::sleep_for(30ms);
  REQUIRE(khz::coarse_steady_now() - first >= 10ms);
}

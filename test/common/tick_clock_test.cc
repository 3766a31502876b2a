// SPDX-License-Identifier: Apache-2.0
// khz::TickClock: moves forward, and its seconds agree with steady_clock's over the same span,
// on whichever source the process uses (ctest runs this file a second time with
// KHZ_TICK_CLOCK=steady, so both sources are tested on a machine with a usable TSC).
#include <khz/common/tick_clock.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <string_view>
#include <thread>

using namespace std::chrono_literals;

TEST_CASE("tick clock: its seconds agree with steady_clock's over the same span") {
  const auto source = khz::TickClock::calibrate();
  REQUIRE(source != khz::TickClock::Source::unknown);
  const char* env = std::getenv("KHZ_TICK_CLOCK");
  if (env != nullptr && std::string_view(env) == "steady") {
    REQUIRE(source == khz::TickClock::Source::steady);
    REQUIRE(khz::TickClock::rate() == Approx(1e9));
  }
  INFO("source: " << (source == khz::TickClock::Source::tsc ? "tsc" : "steady") << ", " << khz::TickClock::rate()
                  << " ticks/s");
  std::uint64_t last = khz::TickClock::now();
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t t = khz::TickClock::now();
    REQUIRE(t >= last);
    last = t;
  }
  for (auto span : {5ms, 40ms}) {
    const auto steady0 = std::chrono::steady_clock::now();
    const std::uint64_t t0 = khz::TickClock::now();
    std::this_thread::sleep_for(span);
    const std::uint64_t t1 = khz::TickClock::now();
    const auto steady1 = std::chrono::steady_clock::now();
    const double steady = std::chrono::duration<double>(steady1 - steady0).count();
    const double ticks = khz::TickClock::seconds(t1 - t0);
    // The tick reading is inside the steady one; a calibration off by more than 1% fails.
    REQUIRE(ticks <= steady * 1.01);
    REQUIRE(ticks >= std::chrono::duration<double>(span).count() * 0.99);
  }
}

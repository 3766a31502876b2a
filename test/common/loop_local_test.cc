// SPDX-License-Identifier: Apache-2.0
// LoopLocal: one value per thread, made once there, gone with its LoopLocal (a new one on the
// same address is not mistaken for it). LoopDelay: a probe that the loop runs late reads late,
// one run on time reads on time, and the age of a probe still waiting counts.
#include <khz/common/event_loop.h>
#include <khz/common/loop_delay.h>
#include <khz/common/loop_local.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("LoopLocal: one value per thread, made on first use there") {
  int made = 0;
  khz::LoopLocal<int> local([&made] {
    ++made;
    return std::make_unique<int>(0);
  });
  ++local.get();
  ++local.get();
  REQUIRE(local.get() == 2);
  int other = -1;
  std::thread t([&] {
    local.get() += 40;
    other = local.get();
  });
  t.join();
  REQUIRE(other == 40);
  REQUIRE(local.get() == 2);
  REQUIRE(made == 2);
  int sum = 0;
  local.for_each([&](const int& v) { sum += v; });
  REQUIRE(sum == 42);
}

TEST_CASE("LoopLocal: a destroyed one's entry is never reused by the next") {
  for (int round = 0; round < 50; ++round) {
    auto local = std::make_unique<khz::LoopLocal<int>>([round] { return std::make_unique<int>(round); });
    REQUIRE(local->get() == round);  // a fresh value each time, though the address may repeat
  }
}

TEST_CASE("LoopLocal: more than the cache holds, used in turn on two threads, each keeps its own values") {
  // 20 LoopLocals evict each other from the thread's 8-entry cache: every get() must still find
  // its own value, on each thread.
  std::vector<std::unique_ptr<khz::LoopLocal<int>>> locals;
  for (int i = 0; i < 20; ++i) locals.push_back(std::make_unique<khz::LoopLocal<int>>());
  auto work = [&](int base) {
    for (int round = 0; round < 5; ++round) {
      for (int i = 0; i < 20; ++i) locals[i]->get() += base + i;
      for (int i = 19; i >= 0; i -= 3) REQUIRE(locals[i]->get() == (round + 1) * (base + i));
    }
  };
  std::thread other([&] { work(1000); });
  work(0);
  other.join();
  for (int i = 0; i < 20; ++i) {
    int sum = 0;
    locals[i]->for_each([&](const int& v) { sum += v; });
    REQUIRE(sum == 5 * (0 + i) + 5 * (1000 + i));
  }
  // One dropped and made anew (its cache slot reused by a later id): a fresh value.
  locals[3] = std::make_unique<khz::LoopLocal<int>>([] { return std::make_unique<int>(-7); });
  REQUIRE(locals[3]->get() == -7);
  REQUIRE(locals[4]->get() == 5 * 4);
}

namespace {

khz::Task<void> probe_late(khz::LoopDelay& delay, khz::LoopDelay::Clock::duration& seen_while_blocked,
                           khz::LoopDelay::Clock::duration& seen_after) {
  auto now = khz::LoopDelay::Clock::now();
  delay.sample(now);
  REQUIRE(delay.current(now) < 5ms);                  // just posted
  std::this_thread::sleep_for(30ms);                  // the loop is held: the probe waits
  seen_while_blocked = delay.current(khz::LoopDelay::Clock::now());
  co_await khz::sleep_for(1ms);                       // the loop runs the probe (late)
  seen_after = delay.current(khz::LoopDelay::Clock::now());
}

khz::Task<void> probe_on_time(khz::LoopDelay& delay, khz::LoopDelay::Clock::duration& seen) {
  delay.sample(khz::LoopDelay::Clock::now());
  co_await khz::sleep_for(1ms);
  seen = delay.current(khz::LoopDelay::Clock::now());
}

}  // namespace

TEST_CASE("LoopDelay: a probe the loop runs late reads late; on time reads on time; old news is forgotten") {
  khz::LoopDelay delay(1ms, 200ms);
  khz::LoopDelay::Clock::duration blocked{}, after{}, on_time{};
  khz::run_blocking(probe_late(delay, blocked, after));
  REQUIRE(blocked >= 30ms);
  REQUIRE(after >= 30ms);
  REQUIRE(delay.probes() == 1);
  std::this_thread::sleep_for(2ms);
  khz::run_blocking(probe_on_time(delay, on_time));
  REQUIRE(delay.probes() == 2);
  REQUIRE(on_time < 30ms);
  // Without a current loop sample() measures nothing; after `memory` the last reading is gone.
  delay.sample(khz::LoopDelay::Clock::now());
  REQUIRE(delay.probes() == 2);
  REQUIRE(delay.current(khz::LoopDelay::Clock::now() + 1s) == khz::LoopDelay::Clock::duration::zero());
}

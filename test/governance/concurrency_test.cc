// SPDX-License-Identifier: Apache-2.0
// The client's adaptive concurrency limit: AIMD on latency (synthetic latencies), and the
// middleware enforcing it against a real server from many threads.
#include <khz/app/client.h>
#include <khz/app/server.h>
#include <khz/common/event_loop.h>
#include <khz/governance/concurrency.h>
#include <khz/governance/errors.h>

#include <catch2/catch.hpp>

#include "support/test_server.h"

#include <atomic>
#include <thread>
#include <vector>

using khz::governance::ConcurrencyLimiter;
using khz::governance::ConcurrencyOptions;
using namespace std::chrono_literals;

TEST_CASE("concurrency: the limit caps calls in flight, grows while fast and busy, shrinks when slow") {
  ConcurrencyLimiter l({.initial = 4, .min = 2, .max = 6, .tolerance = 2.0, .backoff = 0.5});
  for (int i = 0; i < 4; ++i) REQUIRE(l.try_acquire());
  REQUIRE_FALSE(l.try_acquire());  // four in flight
  REQUIRE(l.in_flight() == 4);
  // Fast answers while the limit was in use: +1 each, up to max.
  for (int i = 0; i < 4; ++i) l.release(10ms, true);
  REQUIRE(l.limit() == 6);
  REQUIRE(l.in_flight() == 0);
  // Fast but idle (one in flight of six): no growth.
  REQUIRE(l.try_acquire());
  l.release(10ms, true);
  REQUIRE(l.limit() == 6);
  // Slow (above twice the 10 ms baseline): halved, once per baseline interval.
  REQUIRE(l.try_acquire());
  l.release(50ms, true);
  REQUIRE(l.limit() == 3);
  REQUIRE(l.try_acquire());
  l.release(50ms, true);
  REQUIRE(l.limit() == 3);  // the same burst counts once
  std::this_thread::sleep_for(15ms);
  REQUIRE(l.try_acquire());
  l.release(1ms, false);    // a failure decreases too; never below min
  REQUIRE(l.limit() == 2);
  std::this_thread::sleep_for(15ms);
  REQUIRE(l.try_acquire());
  l.release(1ms, false);
  REQUIRE(l.limit() == 2);
}

TEST_CASE("concurrency: the middleware fails calls over the limit fast; the server never sees more") {
  std::atomic<int> now{0}, peak{0};
  khz::test::TestServer s(khz::test::transports().front());
  s.server.get("/work", [&](khz::RequestContext& ctx) -> khz::Task<> {
    const int n = ++now;
    int p = peak.load();
    while (n > p && !peak.compare_exchange_weak(p, n)) {
    }
    co_await khz::sleep_for(400ms);
    --now;
    ctx.string(200, "ok");
  });
  s.start();
  auto limits = std::make_shared<khz::governance::ConcurrencyLimits>(ConcurrencyOptions{.initial = 2, .max = 2});
  std::atomic<int> ok{0}, limited{0}, ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      khz::BlockingClient c({.proxy_from_environment = false});
      c.client().use(khz::governance::adaptive_concurrency(limits));
      ++ready;
      while (ready < 6) std::this_thread::yield();  // all at once
      auto r = c.get(s.url("/work"));
      if (r) ++ok;
      else if (r.error() == khz::governance::errc::concurrency_limited) ++limited;
    });
  }
  for (auto& t : threads) t.join();
  REQUIRE(peak <= 2);
  REQUIRE(ok >= 2);
  REQUIRE(limited >= 1);
  REQUIRE(ok + limited == 6);
  REQUIRE(limits->of("127.0.0.1:" + std::to_string(s.port())).in_flight() == 0);
}

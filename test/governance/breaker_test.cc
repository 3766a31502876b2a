// SPDX-License-Identifier: Apache-2.0
// Circuit breakers: the state machine (consecutive failures, error rate, half-open probes), the
// per-instance BreakerBalancer through the client to real servers, and the per-service
// middleware.
#include <khz/app/client.h>
#include <khz/app/server.h>
#include <khz/governance/breaker.h>
#include <khz/governance/discovery.h>
#include <khz/governance/errors.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"

#include <atomic>
#include <map>
#include <thread>

using khz::governance::BreakerOptions;
using khz::governance::BreakerState;
using khz::governance::CircuitBreaker;
using namespace std::chrono_literals;

TEST_CASE("breaker: consecutive failures open it; half-open probes close or reopen it") {
  CircuitBreaker b({.consecutive_failures = 3, .min_calls = 1000, .open_for = 100ms, .probes = 2});
  REQUIRE(b.state() == BreakerState::closed);
  b.record(false);
  b.record(false);
  b.record(true);  // a success resets the run
  b.record(false);
  b.record(false);
  REQUIRE(b.state() == BreakerState::closed);
  b.record(false);
  REQUIRE(b.state() == BreakerState::open);
  REQUIRE_FALSE(b.try_acquire());
  REQUIRE_FALSE(b.available());
  std::this_thread::sleep_for(120ms);
  REQUIRE(b.state() == BreakerState::half_open);
  REQUIRE(b.try_acquire());
  REQUIRE(b.try_acquire());
  REQUIRE_FALSE(b.try_acquire());  // two probes out
  b.record(true);
  REQUIRE(b.state() == BreakerState::half_open);
  b.record(true);
  REQUIRE(b.state() == BreakerState::closed);
  // A failed probe opens it again.
  for (int i = 0; i < 3; ++i) b.record(false);
  std::this_thread::sleep_for(120ms);
  REQUIRE(b.try_acquire());
  b.record(false);
  REQUIRE(b.state() == BreakerState::open);
  REQUIRE_FALSE(b.try_acquire());
}

TEST_CASE("breaker: the error rate over the window opens it once there are enough calls") {
  CircuitBreaker b({.consecutive_failures = 0, .error_rate = 0.5, .min_calls = 10, .window = 10s});
  for (int i = 0; i < 4; ++i) {
    b.record(false);
    b.record(true);
  }
  REQUIRE(b.state() == BreakerState::closed);  // 4 of 8: too few calls yet
  b.record(true);
  REQUIRE(b.state() == BreakerState::closed);  // 4 of 9
  b.record(false);
  REQUIRE(b.state() == BreakerState::open);    // 5 of 10
  CircuitBreaker old({.consecutive_failures = 0, .error_rate = 0.5, .min_calls = 4, .window = 200ms});
  old.record(false);
  old.record(false);
  old.record(false);
  std::this_thread::sleep_for(250ms);  // those left the window
  old.record(false);
  old.record(true);
  old.record(true);
  old.record(true);
  REQUIRE(old.state() == BreakerState::closed);
}

TEST_CASE("breaker: a failing instance is routed around, probed, and taken back") {
  std::atomic<bool> broken{true};
  std::atomic<int> bad_hits{0}, good_hits{0};
  khz::test::TestServer bad(khz::test::transports().front()), good(khz::test::transports().front());
  bad.server.get("/x", [&](khz::RequestContext& ctx) {
    ++bad_hits;
    ctx.string(broken ? 503 : 200, "bad");
  });
  good.server.get("/x", [&](khz::RequestContext& ctx) {
    ++good_hits;
    ctx.string(200, "good");
  });
  bad.start();
  good.start();
  auto resolver = std::make_shared<khz::governance::DiscoveryResolver>(nullptr);
  const std::vector<khz::governance::Instance> instances{
      {.service = "svc", .address = "127.0.0.1:" + std::to_string(bad.port())},
      {.service = "svc", .address = "127.0.0.1:" + std::to_string(good.port())}};
  resolver->update("svc", instances);
  auto breakers = std::make_shared<khz::governance::BreakerBalancer>(
      std::make_shared<khz::RoundRobinBalancer>(), BreakerOptions{.consecutive_failures = 3, .open_for = 300ms});
  khz::BlockingClient client({.proxy_from_environment = false, .resolver = resolver, .balancer = breakers});
  for (int i = 0; i < 6; ++i) client.get("http://svc/x");
  REQUIRE(bad_hits == 3);  // round robin until the third failure opened its breaker
  REQUIRE(breakers->breaker({.host = "127.0.0.1", .port = bad.port()}).state() == BreakerState::open);
  for (int i = 0; i < 20; ++i) REQUIRE(client.get("http://svc/x")->status() == 200);
  REQUIRE(bad_hits == 3);
  // Still broken after open_for: the one probe fails, it opens again.
  std::this_thread::sleep_for(350ms);
  for (int i = 0; i < 4; ++i) client.get("http://svc/x");
  REQUIRE(bad_hits == 4);
  // Healed: the next probe succeeds and traffic returns.
  broken = false;
  std::this_thread::sleep_for(350ms);
  for (int i = 0; i < 10; ++i) REQUIRE(client.get("http://svc/x")->status() == 200);
  REQUIRE(bad_hits >= 8);
  REQUIRE(breakers->breaker({.host = "127.0.0.1", .port = bad.port()}).state() == BreakerState::closed);
}

TEST_CASE("breaker: a failing service fails fast at the client; a probe closes it again") {
  std::atomic<int> hits{0};
  std::atomic<bool> broken{true};
  khz::test::TestServer s(khz::test::transports().front());
  s.server.get("/x", [&](khz::RequestContext& ctx) {
    ++hits;
    ctx.string(broken ? 500 : 200, "x");
  });
  s.start();
  khz::BlockingClient client({.proxy_from_environment = false});
  client.client().use(khz::governance::service_breaker({.consecutive_failures = 2, .open_for = 200ms}));
  REQUIRE(client.get(s.url("/x"))->status() == 500);
  REQUIRE(client.get(s.url("/x"))->status() == 500);
  auto r = client.get(s.url("/x"));
  REQUIRE_FALSE(r);
  REQUIRE(r.error() == khz::governance::errc::circuit_open);
  REQUIRE(hits == 2);
  broken = false;
  std::this_thread::sleep_for(250ms);
  REQUIRE(client.get(s.url("/x"))->status() == 200);  // the probe
  REQUIRE(client.get(s.url("/x"))->status() == 200);
  REQUIRE(hits == 4);
}

// SPDX-License-Identifier: Apache-2.0
// The client's retry budget (RetryPolicy::budget): retries only while the calls retrying stay
// under max(min_retries_in_flight, budget x calls in flight).
#include <khz/app/client.h>
#include <khz/app/server.h>

#include <catch2/catch.hpp>

#include "support/test_server.h"

#include <atomic>
#include <chrono>

using namespace std::chrono_literals;

TEST_CASE("client retry budget: a spent budget means no retry; within it, every attempt") {
  std::atomic<int> hits{0};
  khz::test::TestServer s(khz::test::transports().front());
  s.server.get("/busy", [&](khz::RequestContext& ctx) {
    ++hits;
    ctx.string(503, "busy");
  });
  s.start();
  auto attempts = [&](double budget, int min_retries) {
    hits = 0;
    khz::BlockingClient c({.retry = {.max_attempts = 4, .backoff = 1ms, .budget = budget, .min_retries_in_flight = min_retries},
                           .proxy_from_environment = false});
    REQUIRE(c.get(s.url("/busy"))->status() == 503);
    return hits.load();
  };
  REQUIRE(attempts(0, 0) == 4);    // no budget: every attempt
  REQUIRE(attempts(1.0, 0) == 4);  // one call in flight, budget 100%: it may retry
  REQUIRE(attempts(0.5, 0) == 1);  // 0.5 x 1 call rounds to no retry at all
  REQUIRE(attempts(0.5, 1) == 4);  // the floor lets one call retry
}

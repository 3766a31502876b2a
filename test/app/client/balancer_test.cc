// SPDX-License-Identifier: Apache-2.0
// The client's balancers (<khz/app/client/discovery.h>) and the shared algorithms
// (<khz/app/client/balancing.h>), without sockets.
#include <khz/app/client/balancing.h>
#include <khz/app/client/discovery.h>

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

namespace {

std::vector<khz::Endpoint> three(int a = 1, int b = 1, int c = 1) {
  return {{.host = "10.0.0.1", .port = 80, .weight = a},
          {.host = "10.0.0.2", .port = 80, .weight = b},
          {.host = "10.0.0.3", .port = 80, .weight = c}};
}

}  // namespace

TEST_CASE("balancing: smooth weighted round robin interleaves by weight") {
  std::vector<int> weight{5, 1, 1}, current(3, 0);
  std::string order;
  for (int i = 0; i < 14; ++i) {
    order += static_cast<char>('a' + khz::balancing::smooth_weighted(
                                         3, [&](std::size_t k) { return weight[k]; },
                                         [&](std::size_t k) -> int& { return current[k]; }));
  }
  REQUIRE(order == "aabacaaaabacaa");

  khz::SmoothWeightedBalancer b;
  auto endpoints = three(5, 1, 1);
  std::string picks;
  for (int i = 0; i < 7; ++i) picks += static_cast<char>('a' + b.pick(endpoints));
  REQUIRE(picks == "aabacaa");
}

TEST_CASE("balancing: two choices prefers the lighter of two distinct candidates") {
  std::vector<int> load{5, 0, 9};
  for (std::uint64_t r1 = 0; r1 < 6; ++r1) {
    for (std::uint64_t r2 = 0; r2 < 6; ++r2) {
      const std::size_t a = r1 % 3;
      std::size_t b = r2 % 2;
      if (b >= a) ++b;
      const std::size_t got = khz::balancing::two_choices(3, [&](std::size_t k) { return load[k]; }, r1, r2);
      REQUIRE(got == (load[a] <= load[b] ? a : b));
    }
  }
  // The balancer counts in flight from the client's feedback.
  khz::LeastRequestBalancer lr;
  auto endpoints = three();
  REQUIRE(lr.wants_feedback());
  for (int i = 0; i < 10; ++i) lr.started(endpoints[0]);
  for (int i = 0; i < 10; ++i) lr.started(endpoints[1]);
  std::map<std::size_t, int> picks;
  for (int i = 0; i < 300; ++i) ++picks[lr.pick(endpoints)];
  // 10.0.0.3 is idle: it wins every draw it is in (2 of 3 draws), never less loaded otherwise.
  REQUIRE(picks[2] > 150);
  REQUIRE(picks[2] + picks[0] + picks[1] == 300);
  for (int i = 0; i < 10; ++i) lr.finished(endpoints[0], true);
  REQUIRE(lr.in_flight(endpoints[0]) == 0);
  REQUIRE(lr.in_flight(endpoints[1]) == 10);
}

TEST_CASE("balancing: the consistent-hash balancer keeps a key on one endpoint; only a leaver's keys move") {
  khz::ConsistentHashBalancer b("X-User");
  auto endpoints = three();
  std::map<std::string, std::string> home;
  std::map<std::string, int> load;
  for (int u = 0; u < 600; ++u) {
    khz::HeaderMap h;
    h.set("X-User", "user-" + std::to_string(u));
    const auto& e = endpoints[b.pick(endpoints, h)];
    home[std::string(h.get("X-User"))] = e.host;
    ++load[e.host];
    REQUIRE(endpoints[b.pick(endpoints, h)].host == e.host);  // sticky
  }
  for (const auto& [host, n] : load) REQUIRE(n > 100);  // spread over all three
  // 10.0.0.2 leaves: its users move, nobody else does.
  std::vector<khz::Endpoint> two{endpoints[0], endpoints[2]};
  for (const auto& [user, host] : home) {
    khz::HeaderMap h;
    h.set("X-User", user);
    const std::string now = two[b.pick(two, h)].host;
    if (host != "10.0.0.2") REQUIRE(now == host);
  }
  // No key: round robin.
  khz::HeaderMap none;
  std::map<std::size_t, int> rr;
  for (int i = 0; i < 9; ++i) ++rr[b.pick(endpoints, none)];
  REQUIRE(rr.size() == 3);
}

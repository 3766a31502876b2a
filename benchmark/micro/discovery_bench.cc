// SPDX-License-Identifier: Apache-2.0
// discovery_bench: what service discovery and balancing add to a client call.
//   resolve_static_table       StaticResolver + RoundRobinBalancer: the baseline hook
//   resolve_discovery          DiscoveryResolver (3 instances, per-thread snapshot) + round robin
//   resolve_discovery_lanes    the same with routing rules matching a baggage entry (parsed per call)
//   resolve_discovery_breakers the same through BreakerBalancer (a breaker lookup per instance)
//   client_call_static         a whole BlockingClient GET to a khz server on loopback by address
//   client_call_discovery      the same by service name through DiscoveryResolver
// The speed goal: client_call_discovery within 2% of client_call_static (CPU per call). Run on
// a quiet machine: build/bin/discovery_bench --benchmark_repetitions=5
#include <khz/app/client.h>
#include <khz/app/server.h>
#include <khz/governance/breaker.h>
#include <khz/governance/discovery.h>

#include <benchmark/benchmark.h>

#include <memory>
#include <string>

namespace gov = khz::governance;

namespace {

std::vector<gov::Instance> instances(std::uint16_t port = 9000) {
  return {{.service = "svc", .address = "10.0.0.1:" + std::to_string(port), .tags = {{"version", "v1"}}},
          {.service = "svc", .address = "10.0.0.2:" + std::to_string(port), .tags = {{"version", "v2"}}},
          {.service = "svc", .address = "10.0.0.3:" + std::to_string(port), .tags = {{"version", "v3"}}}};
}

void resolve_static_table(benchmark::State& state) {
  khz::StaticResolver table;
  table.add("svc", {{.host = "10.0.0.1", .port = 9000}, {.host = "10.0.0.2", .port = 9000}, {.host = "10.0.0.3", .port = 9000}});
  khz::RoundRobinBalancer rr;
  khz::HeaderMap headers;
  for (auto _ : state) {
    auto e = table.resolve("svc", 80, headers);
    benchmark::DoNotOptimize(e[rr.pick(e, headers)].port);
  }
}
BENCHMARK(resolve_static_table);

void discovery(benchmark::State& state, bool lanes, khz::Balancer& balancer) {
  gov::DiscoveryResolver resolver(nullptr);
  auto list = instances();
  resolver.update("svc", list);
  if (lanes) {
    resolver.set_rules("svc", gov::parse_rules(R"({"subsets":{"v1":{"version":"v1"},"v2":{"version":"v2"}},
      "routes":[{"match":{"baggage":{"env":"dev"}},"destinations":[{"subset":"v2"}]},
                {"destinations":[{"subset":"v1"}]}]})"));
  }
  khz::HeaderMap headers;
  headers.add("baggage", "env=prod");
  for (auto _ : state) {
    auto e = resolver.resolve("svc", 80, headers);
    benchmark::DoNotOptimize(e[balancer.pick(e, headers)].port);
  }
}

void resolve_discovery(benchmark::State& state) {
  khz::RoundRobinBalancer rr;
  discovery(state, false, rr);
}
BENCHMARK(resolve_discovery);

void resolve_discovery_lanes(benchmark::State& state) {
  khz::RoundRobinBalancer rr;
  discovery(state, true, rr);
}
BENCHMARK(resolve_discovery_lanes);

void resolve_discovery_breakers(benchmark::State& state) {
  gov::BreakerBalancer breakers(std::make_shared<khz::RoundRobinBalancer>());
  discovery(state, false, breakers);
}
BENCHMARK(resolve_discovery_breakers);

// One server for the client rows.
struct Upstream {
  khz::Server server{{.address = "127.0.0.1:0", .loops = 1}};
  std::uint16_t port = 0;
  Upstream() {
    server.get("/x", [](khz::RequestContext& ctx) { ctx.string(200, "ok"); });
    port = server.start().value();
  }
};
Upstream& upstream() {
  static Upstream u;
  return u;
}

void client_call_static(benchmark::State& state) {
  khz::BlockingClient c({.proxy_from_environment = false});
  const std::string url = "http://127.0.0.1:" + std::to_string(upstream().port) + "/x";
  for (auto _ : state) benchmark::DoNotOptimize(c.get(url)->status());
}
BENCHMARK(client_call_static)->UseRealTime();

void client_call_discovery(benchmark::State& state) {
  auto resolver = std::make_shared<gov::DiscoveryResolver>(nullptr);
  const std::vector<gov::Instance> one{{.service = "svc", .address = "127.0.0.1:" + std::to_string(upstream().port)}};
  resolver->update("svc", one);
  khz::BlockingClient c({.proxy_from_environment = false, .resolver = resolver});
  for (auto _ : state) benchmark::DoNotOptimize(c.get("http://svc/x")->status());
}
BENCHMARK(client_call_discovery)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

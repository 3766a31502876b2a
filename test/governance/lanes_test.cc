// SPDX-License-Identifier: Apache-2.0
// Routing rules (lanes): the rules' reader, and rules kept in etcd applied live by a
// DiscoveryResolver: by baggage, by header, weighted splits, through khz's client to real
// servers.
#include <khz/app/client.h>
#include <khz/app/server.h>
#include <khz/governance/announce.h>
#include <khz/governance/discovery.h>
#include <khz/governance/etcd.h>
#include <khz/governance/etcd_rules.h>
#include <khz/governance/rules.h>

#include <catch2/catch.hpp>

#include "support/etcd_server.h"
#include "support/raw_client.h"
#include "support/test_server.h"

#include <map>
#include <string>

using khz::governance::DiscoveryResolver;
using khz::governance::Instance;
using khz::governance::parse_rules;
using khz::test::EtcdServer;
using khz::test::eventually;
using namespace std::chrono_literals;

namespace {

constexpr const char* kBookinfoRules = R"({
  "subsets": {"v1": {"version": "v1"}, "v2": {"version": "v2"}, "v3": {"version": "v3"}},
  "routes": [
    {"match": {"baggage": {"env": "dev"}}, "destinations": [{"subset": "v2"}]},
    {"match": {"headers": {"X-Canary": "1"}}, "destinations": [{"subset": "v3"}]},
    {"destinations": [{"subset": "v1", "weight": 80}, {"subset": "v3", "weight": 20}]}
  ]})";

std::vector<Instance> reviews() {
  return {{.service = "reviews", .address = "127.0.0.1:9001", .tags = {{"version", "v1"}}},
          {.service = "reviews", .address = "127.0.0.1:9002", .tags = {{"version", "v2"}}},
          {.service = "reviews", .address = "127.0.0.1:9003", .tags = {{"version", "v3"}}}};
}

// The port resolve() picks for these headers.
std::uint16_t pick(DiscoveryResolver& r, const khz::HeaderMap& headers) {
  auto e = r.resolve("reviews", 80, headers);
  REQUIRE(e.size() == 1);
  return e[0].port;
}

}  // namespace

TEST_CASE("rules: the reader takes the documented shape and refuses the rest") {
  auto rules = parse_rules(kBookinfoRules);
  REQUIRE(rules);
  REQUIRE(rules->subsets.size() == 3);
  REQUIRE(rules->routes.size() == 3);
  REQUIRE(rules->routes[0].match.baggage == std::vector<std::pair<std::string, std::string>>{{"env", "dev"}});
  REQUIRE(rules->routes[1].match.headers[0].first == "x-canary");  // names lower-cased
  REQUIRE(rules->routes[2].destinations[0].weight == 80);
  REQUIRE(rules->routes[0].destinations[0].weight == 1);

  struct Bad {
    const char* json;
    const char* message;
  };
  const Bad bad[] = {
      {"[]", "rules must be an object"},
      {"{\"routes\":[{\"destinations\":[{\"subset\":\"nope\"}]}]}", "undefined subset"},
      {"{\"extra\":1}", "unknown member"},
      {"{\"subsets\":{\"a\":{\"v\":1}}}", "values must be strings"},
      {"{\"subsets\":{\"a\":{}},\"routes\":[{}]}", "needs destinations"},
      {"{\"subsets\":{\"a\":{}},\"routes\":[{\"destinations\":[]}]}", "non-empty"},
      {"{\"subsets\":{\"a\":{}},\"routes\":[{\"destinations\":[{\"subset\":\"a\",\"weight\":-1}]}]}", "weight"},
      {"{\"subsets\":{\"a\":{}},\"routes\":[{\"match\":{\"query\":{}},\"destinations\":[{\"subset\":\"a\"}]}]}",
       "unknown match member"},
      {"{\"routes\":", ""},
  };
  for (const Bad& b : bad) {
    std::string error;
    INFO(b.json);
    REQUIRE_FALSE(parse_rules(b.json, &error));
    REQUIRE_FALSE(error.empty());
    REQUIRE(error.find(b.message) != std::string::npos);
  }
}

TEST_CASE("lanes: baggage and header matches pick a subset; the default route splits 80/20") {
  DiscoveryResolver r(nullptr);
  auto instances = reviews();
  r.update("reviews", instances);
  r.set_rules("reviews", parse_rules(kBookinfoRules));

  khz::HeaderMap dev;
  dev.add("baggage", "uid=100,env=dev");
  khz::HeaderMap two_lines;  // baggage over two field lines
  two_lines.add("baggage", "uid=100");
  two_lines.add("baggage", "env=dev");
  khz::HeaderMap canary;
  canary.add("x-canary", "1");
  khz::HeaderMap other;
  other.add("baggage", "env=prod");
  for (int i = 0; i < 50; ++i) {
    REQUIRE(pick(r, dev) == 9002);
    REQUIRE(pick(r, two_lines) == 9002);
    REQUIRE(pick(r, canary) == 9003);
  }
  std::map<std::uint16_t, int> split;
  constexpr int kCalls = 10000;
  for (int i = 0; i < kCalls; ++i) ++split[pick(r, other)];
  REQUIRE(split[9002] == 0);
  // 80/20 within 3 points (the binomial standard deviation is 0.4 points here).
  REQUIRE(split[9001] > kCalls * 77 / 100);
  REQUIRE(split[9001] < kCalls * 83 / 100);
  REQUIRE(split[9001] + split[9003] == kCalls);

  // A subset with no instance left gives its weight to the others; no rules: every instance.
  instances.erase(instances.begin() + 2);  // v3 gone
  r.update("reviews", instances);
  for (int i = 0; i < 50; ++i) REQUIRE(pick(r, other) == 9001);
  REQUIRE(r.resolve("reviews", 80, canary).size() == 2);  // v3's route has nothing: every instance
  r.set_rules("reviews", std::nullopt);
  REQUIRE(r.resolve("reviews", 80, dev).size() == 2);
}

TEST_CASE("lanes: rules in etcd applied live, through the client to real servers") {
  auto& etcd = EtcdServer::get();
  const khz::governance::EtcdOptions options{.endpoint = etcd.endpoint(), .prefix = "/khz-test/lanes/services/",
                                             .ttl = 2s, .retry_interval = 100ms};
  auto registry = std::make_shared<khz::governance::EtcdRegistry>(options);
  std::vector<std::unique_ptr<khz::test::TestServer>> servers;
  for (const char* version : {"v1", "v2", "v3"}) {
    auto s = std::make_unique<khz::test::TestServer>(khz::test::transports().front());
    s->server.get("/reviews", [version](khz::RequestContext& ctx) { ctx.string(200, version); });
    khz::governance::announce(s->server, registry, {.service = "reviews", .tags = {{"version", version}}});
    s->start();
    servers.push_back(std::move(s));
  }
  auto resolver = std::make_shared<DiscoveryResolver>(registry);
  khz::governance::EtcdRuleSource rules(options, resolver, "/khz-test/lanes/rules/");
  REQUIRE(eventually([&] { return resolver->resolve("reviews", 80).size() == 3; }));
  khz::BlockingClient client({.proxy_from_environment = false, .resolver = resolver});
  auto call = [&](const char* baggage) {
    khz::ClientRequest req;
    req.url = "http://reviews/reviews";
    if (baggage != nullptr) req.headers.set("baggage", baggage);
    auto r = client.send(std::move(req));
    REQUIRE(r);
    return std::string(r->body());
  };
  // No rules yet: round robin over all three.
  std::map<std::string, int> seen;
  for (int i = 0; i < 6; ++i) ++seen[call("env=dev")];
  REQUIRE(seen.size() == 3);

  etcd.ctl(std::string("put /khz-test/lanes/rules/reviews '") + kBookinfoRules + "'");
  REQUIRE(eventually([&] { return call("env=dev") == "v2" && call("env=dev") == "v2" && call("env=dev") == "v2"; }));
  for (int i = 0; i < 20; ++i) {
    REQUIRE(call("env=dev") == "v2");
    REQUIRE(call(nullptr) != "v2");
  }
  // A broken value is refused; the rules before it stay.
  etcd.ctl("put /khz-test/lanes/rules/reviews '{\"routes\":3}'");
  REQUIRE(eventually([&] { return rules.rejected() == 1; }));
  REQUIRE(call("env=dev") == "v2");
  // Changed live: everything to v3.
  etcd.ctl(R"(put /khz-test/lanes/rules/reviews '{"subsets":{"v3":{"version":"v3"}},"routes":[{"destinations":[{"subset":"v3"}]}]}')");
  REQUIRE(eventually([&] { return call("env=dev") == "v3"; }));
  for (int i = 0; i < 10; ++i) REQUIRE(call(nullptr) == "v3");
  // Deleted: every instance again.
  etcd.ctl("del /khz-test/lanes/rules/reviews");
  REQUIRE(eventually([&] {
    std::map<std::string, int> s;
    for (int i = 0; i < 6; ++i) ++s[call(nullptr)];
    return s.size() == 3;
  }));
}

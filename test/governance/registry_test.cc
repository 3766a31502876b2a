// SPDX-License-Identifier: Apache-2.0
// khz::governance against a real etcd (started once for this binary): registration, the lease
// and its keepalive, deregistration, watches reaching the resolver, client calls by service
// name, an etcd outage (the resolver keeps serving, the registry registers again on a fresh
// etcd), and a 1,000-instance watch.
#include <khz/app/client.h>
#include <khz/app/server.h>
#include <khz/common/metrics.h>
#include <khz/governance/announce.h>
#include <khz/governance/discovery.h>
#include <khz/governance/etcd.h>

#include <catch2/catch.hpp>

#include "support/etcd_server.h"
#include "support/raw_client.h"
#include "support/test_server.h"

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <thread>

using khz::governance::DiscoveryResolver;
using khz::governance::EtcdOptions;
using khz::governance::EtcdRegistry;
using khz::governance::Instance;
using khz::test::EtcdServer;
using khz::test::eventually;
using namespace std::chrono_literals;

namespace {

bool contains(std::string_view haystack, std::string_view needle) { return haystack.find(needle) != std::string_view::npos; }

// A fresh key prefix per test case, so cases do not see each other's instances.
EtcdOptions options_for(std::string_view name) {
  return {.endpoint = EtcdServer::get().endpoint(),
          .prefix = "/khz-test/" + std::string(name) + "/",
          .ttl = 2s,
          .retry_interval = 100ms,
          .request_timeout = 1000ms};
}

std::size_t resolved(DiscoveryResolver& r, std::string_view service) { return r.resolve(service, 80).size(); }

double sample(khz::metrics::Registry& registry, std::string_view name) {
  for (const auto& family : registry.collect()) {
    if (family.name != name) continue;
    for (const auto& s : family.samples) return s.value;
  }
  return -1;
}

}  // namespace

TEST_CASE("etcd registry: register with a lease, kept alive past its TTL, deregister, revoke at exit") {
  auto& etcd = EtcdServer::get();
  auto options = options_for("lease");
  const Instance a{.service = "reviews", .address = "127.0.0.1:9001", .weight = 5, .tags = {{"version", "v1"}}};
  const Instance b{.service = "reviews", .address = "127.0.0.1:9002", .tags = {{"version", "v2"}}};
  {
    EtcdRegistry registry(options);
    REQUIRE(registry.register_instance(a) == std::error_code());
    REQUIRE(registry.register_instance(b) == std::error_code());
    REQUIRE(registry.key_of(a) == "/khz-test/lease/reviews/127.0.0.1:9001");
    // The value is the instance's JSON, attached to a lease.
    const std::string got = etcd.ctl("get " + registry.key_of(a) + " --print-value-only");
    REQUIRE(khz::governance::parse_instance(got.substr(0, got.find('\n'))) == a);
    const std::string json = etcd.ctl("get " + registry.key_of(a) + " -w json");
    REQUIRE(contains(json, "\"lease\":"));
    REQUIRE(registry.leases_granted() == 1);
    // Three TTLs later both are still there: the lease is being refreshed.
    std::this_thread::sleep_for(6s);
    REQUIRE(contains(etcd.ctl("get --prefix /khz-test/lease/ --keys-only"), "127.0.0.1:9001"));
    REQUIRE(registry.leases_granted() == 1);
    REQUIRE(registry.deregister_instance(a) == std::error_code());
    const std::string keys = etcd.ctl("get --prefix /khz-test/lease/ --keys-only");
    REQUIRE_FALSE(contains(keys, "127.0.0.1:9001"));
    REQUIRE(contains(keys, "127.0.0.1:9002"));
    REQUIRE(registry.register_instance({.service = "", .address = "x:1"}) == khz::governance::errc::bad_instance);
  }
  // The registry's end revoked the lease: b is gone at once, not after its TTL.
  REQUIRE_FALSE(contains(etcd.ctl("get --prefix /khz-test/lease/ --keys-only"), "127.0.0.1:9002"));
}

TEST_CASE("etcd registry: an instance whose process dies goes when its lease expires") {
  auto& etcd = EtcdServer::get();
  auto options = options_for("expiry");
  // A lease granted and written by hand, never refreshed: what a crashed registry leaves.
  const std::string grant = etcd.ctl("lease grant 2");
  const auto id = grant.substr(grant.find("lease ") + 6, grant.find(" granted") - grant.find("lease ") - 6);
  etcd.ctl("put --lease=" + id + " /khz-test/expiry/ratings/127.0.0.1:7001 "
           "'{\"service\":\"ratings\",\"address\":\"127.0.0.1:7001\"}'");
  auto resolver = std::make_shared<DiscoveryResolver>(std::make_shared<EtcdRegistry>(options));
  REQUIRE(eventually([&] { return resolved(*resolver, "ratings") == 1; }, 3s));
  REQUIRE(eventually([&] { return resolved(*resolver, "ratings") == 0; }, 5s));
}

TEST_CASE("discovery: watch updates reach the resolver; tags filter; weights carried") {
  auto options = options_for("watch");
  auto metrics = std::make_shared<khz::metrics::Registry>();
  auto watching = std::make_shared<EtcdRegistry>(options);
  auto all = std::make_shared<DiscoveryResolver>(watching, khz::governance::DiscoveryOptions{.metrics = metrics});
  auto eu = std::make_shared<DiscoveryResolver>(watching, khz::governance::DiscoveryOptions{.tags = {{"zone", "eu"}}});
  REQUIRE(eventually([&] { return all->connected(); }));
  REQUIRE(sample(*metrics, "khz_discovery_registry_connected") == 1);

  EtcdRegistry announcing(options);
  announcing.register_instance({.service = "details", .address = "127.0.0.1:8001", .weight = 3, .tags = {{"zone", "eu"}}});
  announcing.register_instance({.service = "details", .address = "127.0.0.1:8002", .tags = {{"zone", "us"}}});
  announcing.register_instance({.service = "details", .address = "127.0.0.1:8003", .weight = 0});  // no traffic
  REQUIRE(eventually([&] { return resolved(*all, "details") == 2; }));
  REQUIRE(eventually([&] { return resolved(*eu, "details") == 1; }));
  auto one = eu->resolve("details", 80);
  REQUIRE(one[0].host == "127.0.0.1");
  REQUIRE(one[0].port == 8001);
  REQUIRE(one[0].weight == 3);
  REQUIRE(sample(*metrics, "khz_discovery_instances") == 2);
  REQUIRE(resolved(*all, "unknown") == 0);  // not registered: the client dials the name itself

  // A changed instance (new weight) and a withdrawn one.
  announcing.register_instance({.service = "details", .address = "127.0.0.1:8001", .weight = 9, .tags = {{"zone", "eu"}}});
  REQUIRE(eventually([&] { auto e = eu->resolve("details", 80); return e.size() == 1 && e[0].weight == 9; }));
  announcing.deregister_instance({.service = "details", .address = "127.0.0.1:8002"});
  REQUIRE(eventually([&] { return resolved(*all, "details") == 1; }));
  // A value that is not an instance is ignored.
  EtcdServer::get().ctl("put /khz-test/watch/details/junk 'not json'");
  announcing.register_instance({.service = "details", .address = "127.0.0.1:8004"});
  REQUIRE(eventually([&] { return resolved(*all, "details") == 2; }));
}

TEST_CASE("discovery: client calls by service name reach every announced server") {
  auto options = options_for("client");
  auto registry = std::make_shared<EtcdRegistry>(options);
  std::map<std::string, int> hits;
  std::mutex mutex;
  std::vector<std::unique_ptr<khz::test::TestServer>> servers;
  for (int i = 0; i < 2; ++i) {
    auto s = std::make_unique<khz::test::TestServer>(khz::test::transports()[i % khz::test::transports().size()]);
    const std::string name = "r" + std::to_string(i);
    s->server.get("/ratings", [&, name](khz::RequestContext& ctx) {
      {
        std::lock_guard lock(mutex);
        ++hits[name];
      }
      ctx.string(200, std::string(name) + " " + std::string(ctx.header("Host")));
    });
    khz::governance::announce(s->server, registry, {.service = "ratings", .tags = {{"version", "v1"}}});
    s->start();
    servers.push_back(std::move(s));
  }
  auto resolver = std::make_shared<DiscoveryResolver>(registry);
  REQUIRE(eventually([&] { return resolved(*resolver, "ratings") == 2; }));
  khz::BlockingClient client({.proxy_from_environment = false, .resolver = resolver});
  for (int i = 0; i < 20; ++i) {
    auto r = client.get("http://ratings/ratings");
    REQUIRE(r);
    REQUIRE(r->status() == 200);
    REQUIRE(contains(r->body(), " ratings"));  // Host: the service name
  }
  REQUIRE(hits["r0"] == 10);  // round robin by default
  REQUIRE(hits["r1"] == 10);
  // A server that stops withdraws itself.
  servers[0]->server.shutdown();
  REQUIRE(eventually([&] { return resolved(*resolver, "ratings") == 1; }));
  for (int i = 0; i < 4; ++i) REQUIRE(client.get("http://ratings/ratings")->status() == 200);
  REQUIRE(hits["r1"] == 14);
}

TEST_CASE("discovery: etcd down keeps the last instances; a fresh etcd gets every instance again") {
  auto& etcd = EtcdServer::get();
  auto options = options_for("outage");
  auto metrics = std::make_shared<khz::metrics::Registry>();
  khz::test::TestServer s(khz::test::transports().front());
  s.server.get("/details", [](khz::RequestContext& ctx) { ctx.string(200, "details"); });
  auto registry = std::make_shared<EtcdRegistry>(options);
  khz::governance::announce(s.server, registry, {.service = "details"});
  s.start();
  auto resolver = std::make_shared<DiscoveryResolver>(std::make_shared<EtcdRegistry>(options),
                                                      khz::governance::DiscoveryOptions{.metrics = metrics});
  REQUIRE(eventually([&] { return resolved(*resolver, "details") == 1; }));
  khz::BlockingClient client({.proxy_from_environment = false, .resolver = resolver});
  REQUIRE(client.get("http://details/details")->status() == 200);

  etcd.stop();
  REQUIRE(eventually([&] { return !resolver->connected(); }));
  REQUIRE(sample(*metrics, "khz_discovery_registry_connected") == 0);
  REQUIRE(sample(*metrics, "khz_discovery_registry_disconnects") == 1);
  // Served from the cache meanwhile.
  REQUIRE(resolved(*resolver, "details") == 1);
  REQUIRE(client.get("http://details/details")->status() == 200);
  std::this_thread::sleep_for(500ms);
  REQUIRE(client.get("http://details/details")->status() == 200);

  // A new, empty etcd on the same address: the lease is unknown there, so the registry grants
  // a new one and writes its instance again; the resolver lists it again.
  etcd.start(/*wipe=*/true);
  REQUIRE(eventually([&] { return registry->leases_granted() >= 2; }, 5s));
  REQUIRE(eventually([&] { return contains(etcd.ctl("get --prefix /khz-test/outage/ --keys-only"), "details/"); }, 5s));
  REQUIRE(eventually([&] { return resolver->connected(); }, 5s));
  REQUIRE(resolved(*resolver, "details") == 1);
  REQUIRE(client.get("http://details/details")->status() == 200);
}

TEST_CASE("discovery: a change reaches every watching client with 1,000 instances registered") {
  auto options = options_for("scale");
  constexpr int kInstances = 1000;
  constexpr int kClients = 4;
  std::vector<std::shared_ptr<DiscoveryResolver>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(std::make_shared<DiscoveryResolver>(std::make_shared<EtcdRegistry>(options)));
  EtcdRegistry registry(options);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kInstances; ++i) {
    registry.register_instance({.service = "s" + std::to_string(i % 10), .address = "10.0." + std::to_string(i / 250) + "." +
                                                                                     std::to_string(i % 250) + ":80"});
  }
  const auto registered = std::chrono::steady_clock::now();
  auto total = [](DiscoveryResolver& r) {
    std::size_t n = 0;
    for (int s = 0; s < 10; ++s) n += r.resolve("s" + std::to_string(s), 80).size();
    return n;
  };
  REQUIRE(eventually([&] {
    for (auto& c : clients) if (total(*c) != kInstances) return false;
    return true;
  }, 10s));
  const auto seen_all = std::chrono::steady_clock::now();
  // One more instance: how long until every client has it.
  registry.register_instance({.service = "s3", .address = "10.9.9.9:80"});
  const auto changed = std::chrono::steady_clock::now();
  REQUIRE(eventually([&] {
    for (auto& c : clients) if (total(*c) != kInstances + 1) return false;
    return true;
  }, 5s));
  const auto propagated = std::chrono::steady_clock::now();
  using ms = std::chrono::duration<double, std::milli>;
  std::printf("governance scale: %d instances registered in %.0f ms, on %d clients %.0f ms later; "
              "one change on every client in %.1f ms\n",
              kInstances, ms(registered - start).count(), kClients, ms(seen_all - registered).count(),
              ms(propagated - changed).count());
}

TEST_CASE("discovery: the client's balancers over discovered instances (consistent hash, least request)") {
  std::vector<khz::governance::Instance> instances;
  std::vector<std::unique_ptr<khz::test::TestServer>> servers;
  for (int i = 0; i < 3; ++i) {
    auto s = std::make_unique<khz::test::TestServer>(khz::test::transports().front());
    s->server.get("/who", [i](khz::RequestContext& ctx) { ctx.string(200, std::to_string(i)); });
    s->start();
    instances.push_back({.service = "users", .address = "127.0.0.1:" + std::to_string(s->port())});
    servers.push_back(std::move(s));
  }
  auto resolver = std::make_shared<DiscoveryResolver>(nullptr);
  resolver->update("users", instances);
  {
    khz::BlockingClient client({.proxy_from_environment = false, .resolver = resolver,
                                .balancer = std::make_shared<khz::ConsistentHashBalancer>("X-User")});
    std::map<std::string, std::string> home;
    for (int round = 0; round < 3; ++round) {
      for (int u = 0; u < 12; ++u) {
        khz::ClientRequest req;
        req.url = "http://users/who";
        req.headers.set("X-User", "u" + std::to_string(u));
        const std::string got(client.send(std::move(req))->body());
        auto [it, fresh] = home.emplace("u" + std::to_string(u), got);
        REQUIRE(it->second == got);  // sticky across rounds
      }
    }
  }
  auto lr = std::make_shared<khz::LeastRequestBalancer>();
  khz::BlockingClient client({.proxy_from_environment = false, .resolver = resolver, .balancer = lr});
  std::map<std::string, int> seen;
  for (int i = 0; i < 30; ++i) ++seen[std::string(client.get("http://users/who")->body())];
  REQUIRE(seen.size() == 3);
  // Every attempt that started was reported finished.
  for (const auto& i : instances) {
    const auto colon = i.address.rfind(':');
    REQUIRE(lr->in_flight({.host = "127.0.0.1", .port = static_cast<std::uint16_t>(std::stoi(i.address.substr(colon + 1)))}) == 0);
  }
}

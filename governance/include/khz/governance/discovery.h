// SPDX-License-Identifier: Apache-2.0
// khz/governance/discovery.h: DiscoveryResolver, the client's Resolver (<khz/app/client/
// discovery.h>) fed by a Registry watch: `client.get("http://reviews/...")` goes to an
// instance of the service "reviews", picked by the client's Balancer among the instances that
// the tag filter and the service's routing rules (<khz/governance/rules.h>) leave.
//
//   auto registry = std::make_shared<khz::governance::EtcdRegistry>(etcd_options);
//   auto metrics = std::make_shared<khz::metrics::Registry>();   // also server.enable_metrics({.registry = metrics})
//   auto resolver = std::make_shared<khz::governance::DiscoveryResolver>(
//       registry, khz::governance::DiscoveryOptions{.tags = {{"zone", "eu-1"}}, .metrics = metrics});
//   khz::Client client({.resolver = resolver, .balancer = std::make_shared<khz::WeightedRandomBalancer>()});
//   co_await client.get("http://reviews/reviews/7");   // Host: reviews; dialled: an instance
//
// The cache: the resolver keeps the last set of every service the watch delivered. When the
// registry is unreachable it keeps answering from that set (metric
// khz_discovery_registry_connected = 0) and picks up changes once the watch is back. A name it
// has no instance for resolves to nothing (the client dials the name itself).
// Metrics (when a metrics registry is given): khz_discovery_registry_connected (gauge, 1/0),
// khz_discovery_instances{service} (gauge: instances usable now),
// khz_discovery_registry_disconnects_total (counter).
// Cost: resolve() takes no lock and allocates nothing when nothing changed since the thread's
// last call (a per-thread snapshot of the table, renewed when its generation moves on).
// Threading: resolve() from any thread; set_rules() and the watch's updates from any thread.
#pragma once

#include <khz/app/client/discovery.h>
#include <khz/common/metrics.h>
#include <khz/governance/registry.h>
#include <khz/governance/rules.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace khz::governance {

struct DiscoveryOptions {
  std::string service{};  // watch one service only ("" = every service)
  Tags tags{};            // only instances carrying all of these tags
  std::shared_ptr<metrics::Registry> metrics{};
};

class DiscoveryResolver final : public Resolver {
 public:
  // Watches `registry` (null: no watch; fed by update() alone, e.g. a fixed set in tests).
  DiscoveryResolver(std::shared_ptr<Registry> registry, DiscoveryOptions options = {});
  ~DiscoveryResolver() override;

  std::span<const Endpoint> resolve(std::string_view host, std::uint16_t port) override;
  std::span<const Endpoint> resolve(std::string_view host, std::uint16_t port, const HeaderMap& headers) override;

  // Routing rules for `service` (nullopt: none, every instance); applied from the next call.
  void set_rules(std::string_view service, std::optional<RouteRules> rules);
  // Feeds one service's instances as a watch would (the watch calls it; tests and static
  // setups may too).
  void update(std::string_view service, std::span<const Instance> instances);
  // The registry is reachable (the watch says so).
  bool connected() const noexcept { return connected_.load(std::memory_order_acquire); }

  struct Table;

 private:
  void on_connection(bool up);
  void publish(std::string_view service);
  std::span<const Endpoint> resolve_with(std::string_view host, const HeaderMap* headers);
  std::span<const Endpoint> pick_route(const struct ServiceView& view, const HeaderMap* headers);

  DiscoveryOptions options_;
  std::uint64_t id_;
  std::mutex mutex_;
  std::shared_ptr<const Table> table_;       // guarded by mutex_; read per thread by generation
  std::atomic<std::uint64_t> generation_{1};
  std::atomic<bool> connected_{false};
  metrics::Counter disconnects_{};
  std::uint64_t instances_callback_ = 0;
  std::uint64_t connected_callback_ = 0;
  struct Sources;
  std::unique_ptr<Sources> sources_;         // instances and rules as last delivered (mutex_)
  std::unique_ptr<Watch> watch_;             // last: stopped first
};

}  // namespace khz::governance

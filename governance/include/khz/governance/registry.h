// SPDX-License-Identifier: Apache-2.0
// khz/governance/registry.h: Registry, where services announce their instances and where
// clients learn them: register, deregister, watch. EtcdRegistry (<khz/governance/etcd.h>) is
// the etcd v3 implementation; DiscoveryResolver (<khz/governance/discovery.h>) turns a watch
// into the client's Resolver.
//
//   std::shared_ptr<khz::governance::Registry> registry = ...;
//   registry->register_instance({.service = "reviews", .address = "10.0.0.7:9080",
//                                .tags = {{"version", "v2"}}});
//   auto watch = registry->watch("reviews", {
//       .on_update = [](std::string_view service, std::span<const Instance> now) { ... },
//       .on_connection = [](bool up) { ... }});
//   // ~Watch stops watching; deregister_instance() (or the registry's destruction) withdraws.
//
// Threading: every member is thread-safe. Watch callbacks run on the registry's own thread,
// one at a time; they must not block, destroy their Watch, or call the registry (its calls
// wait for that thread).
#pragma once

#include <khz/governance/errors.h>
#include <khz/governance/instance.h>

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace khz::governance {

struct WatchHandlers {
  // The whole current set of one service's instances, after each change (and once for each
  // known service when the watch starts or reconnects; an empty span: none left).
  std::function<void(std::string_view service, std::span<const Instance> instances)> on_update{};
  // The registry became unreachable (false) or reachable again (true). While unreachable, the
  // last sets delivered stay the truth.
  std::function<void(bool connected)> on_connection{};
};

// Watching until destroyed.
class Watch {
 public:
  virtual ~Watch() = default;
};

class Registry {
 public:
  virtual ~Registry() = default;
  // Announces `instance` until deregister_instance(): kept alive in the background and
  // announced again after the registry lost it (an outage, an expired lease). Returns the
  // first attempt's error (the background keeps trying); errc::bad_instance at once for an
  // instance without service or address.
  virtual std::error_code register_instance(const Instance& instance) = 0;
  // Withdraws it (no-op for one not registered); returns the attempt's error.
  virtual std::error_code deregister_instance(const Instance& instance) = 0;
  // Watches one service's instances ("" = every service).
  virtual std::unique_ptr<Watch> watch(std::string service, WatchHandlers handlers) = 0;
};

}  // namespace khz::governance

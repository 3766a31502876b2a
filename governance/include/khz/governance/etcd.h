// SPDX-License-Identifier: Apache-2.0
// khz/governance/etcd.h: EtcdRegistry, the Registry on etcd v3. Instances live under
// <prefix><service>/<address> (default prefix "/khz/services/"), their value the Instance's
// JSON (<khz/governance/instance.h>), attached to one lease per registry that a background
// task refreshes every ttl/3; when the lease is lost (etcd down longer than the TTL, or a new
// etcd) the registry grants a new one and writes every instance again.
//
//   auto registry = std::make_shared<khz::governance::EtcdRegistry>(
//       khz::governance::EtcdOptions{.endpoint = "http://127.0.0.1:2379"});
//   registry->register_instance({.service = "ratings", .address = "127.0.0.1:9081",
//                                .tags = {{"version", "v1"}}});
//
// etcd is reached through its v3 JSON gateway (the HTTP/JSON front of its gRPC API that every
// etcd 3.4+ serves on its client URL) with khz's own Client: no gRPC stack, and the watch is an
// ordinary streamed HTTP response. governance/README.md says why and lists the calls.
// Threading: thread-safe; its work runs on a loop thread of its own. Destroying it revokes the
// lease (withdrawing every instance at once) when etcd is reachable.
#pragma once

#include <khz/governance/registry.h>

#include <chrono>
#include <memory>
#include <string>

namespace khz::governance {

struct EtcdOptions {
  std::string endpoint = "http://127.0.0.1:2379";  // etcd's client URL
  std::string prefix = "/khz/services/";           // instances: <prefix><service>/<address>
  std::chrono::seconds ttl{10};                    // of the lease; refreshed every ttl/3
  std::chrono::milliseconds retry_interval{500};   // between attempts while etcd is unreachable
  std::chrono::milliseconds request_timeout{3000}; // of each unary call
  std::string transport{};                         // the loop's backend ("" = default)
};

class EtcdRegistry final : public Registry {
 public:
  explicit EtcdRegistry(EtcdOptions options = {});
  ~EtcdRegistry() override;

  std::error_code register_instance(const Instance& instance) override;
  std::error_code deregister_instance(const Instance& instance) override;
  std::unique_ptr<Watch> watch(std::string service, WatchHandlers handlers) override;

  // The key an instance is stored under.
  std::string key_of(const Instance& instance) const;
  // Times the lease was granted (1 after the first registration; each re-registration after a
  // lost lease adds one): for tests and metrics.
  std::uint64_t leases_granted() const noexcept;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace khz::governance

// SPDX-License-Identifier: Apache-2.0
// EtcdRuleSource: follows the rules prefix and hands each service's rules to the resolver.
#include <khz/governance/etcd_rules.h>

#include <khz/common/log.h>

#include "etcd_client.h"

#include <set>
#include <thread>

namespace khz::governance {

struct EtcdRuleSource::State {
  State(EtcdOptions o, std::shared_ptr<DiscoveryResolver> r, std::string p)
      : options(std::move(o)), etcd(options), resolver(std::move(r)), prefix(std::move(p)) {}

  EtcdOptions options;
  EtcdClient etcd;
  std::shared_ptr<DiscoveryResolver> resolver;
  std::string prefix;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> rejected{0};
  CancellationToken cancel;
  std::thread thread;
  std::set<std::string> services;  // with rules now (loop thread only)

  void apply(const std::string& key, const std::string* value) {
    if (!key.starts_with(prefix) || key.size() == prefix.size()) return;
    std::string service = key.substr(prefix.size());
    if (value == nullptr) {
      services.erase(service);
      resolver->set_rules(service, std::nullopt);
      return;
    }
    std::string error;
    auto rules = parse_rules(*value, &error);
    if (!rules) {
      rejected.fetch_add(1, std::memory_order_relaxed);
      KHZ_LOG(warn, "governance: ignoring the rules at " << key << ": " << error);
      return;
    }
    services.insert(service);
    resolver->set_rules(service, std::move(*rules));
  }

  void relist(std::vector<KeyValue>& kvs) {
    std::set<std::string> before = std::move(services);
    services.clear();
    for (const KeyValue& kv : kvs) apply(kv.key, &kv.value);
    for (const std::string& service : before) {
      if (!services.contains(service)) resolver->set_rules(service, std::nullopt);
    }
  }

  Task<void> run() {
    co_await follow_prefix(etcd, prefix, options.retry_interval,
                           {.on_listing = [this](std::vector<KeyValue>& kvs) { relist(kvs); },
                            .on_events =
                                [this](std::span<const WatchEvent> events) {
                                  for (const WatchEvent& e : events) apply(e.kv.key, e.deleted ? nullptr : &e.kv.value);
                                },
                            .on_connection = {}},
                           stopping, cancel);
  }
};

EtcdRuleSource::EtcdRuleSource(EtcdOptions options, std::shared_ptr<DiscoveryResolver> resolver, std::string prefix)
    : state_(std::make_unique<State>(std::move(options), std::move(resolver), std::move(prefix))) {
  State& s = *state_;
  s.thread = std::thread([&s] { s.etcd.run([&s] { return s.run(); }); });
}

EtcdRuleSource::~EtcdRuleSource() {
  State& s = *state_;
  s.stopping.store(true, std::memory_order_release);
  s.etcd.loop().post([token = s.cancel]() mutable { token.cancel(); });
  s.thread.join();
}

std::uint64_t EtcdRuleSource::rejected() const noexcept { return state_->rejected.load(std::memory_order_relaxed); }

}  // namespace khz::governance

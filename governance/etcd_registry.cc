// SPDX-License-Identifier: Apache-2.0
// EtcdRegistry: instances under one lease kept alive in the background, and watches that list
// then follow a key prefix, listing again after every break.
//
// Everything touching etcd runs on the EtcdClient's loop thread; the lease, its refresh time and
// the "write every instance again" flag are touched only there (coroutines interleave only at
// their co_awaits, so plain members suffice). The set of registered instances is shared with
// the calling threads under a mutex. Two threads block in ClientLoop::run for the lifetime of
// their task: the keeper's (lease refresh, re-registration) and one per Watch.
#include <khz/governance/etcd.h>

#include <khz/common/event_loop.h>
#include <khz/common/log.h>
#include <khz/governance/errors.h>

#include "etcd_client.h"

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace khz::governance {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kTick = std::chrono::milliseconds(20);

bool valid(const Instance& i) { return !i.service.empty() && !i.address.empty(); }

}  // namespace

struct EtcdRegistry::State {
  explicit State(EtcdOptions o) : options(std::move(o)), etcd(options) {}

  EtcdOptions options;
  EtcdClient etcd;
  std::mutex mutex;
  std::map<std::string, std::string> instances;  // key -> value; guarded by mutex
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> leases_granted{0};
  std::thread keeper;

  // Loop thread only.
  std::int64_t lease = 0;
  bool granting = false;
  bool rewrite_all = false;
  bool reported_down = false;
  Clock::time_point next_refresh{};
  Clock::time_point next_attempt{};

  std::vector<std::string> registered_keys() {
    std::lock_guard lock(mutex);
    std::vector<std::string> keys;
    keys.reserve(instances.size());
    for (const auto& entry : instances) keys.push_back(entry.first);
    return keys;
  }

  void report(std::error_code ec) {
    if (ec && !reported_down) KHZ_LOG(warn, "governance: etcd at " << options.endpoint << " unreachable: " << ec.message());
    if (!ec && reported_down) KHZ_LOG(info, "governance: etcd at " << options.endpoint << " reachable again");
    reported_down = static_cast<bool>(ec);
  }

  // A lease exists (granted now when there was none; the first caller grants, others wait).
  Task<std::error_code> ensure_lease() {
    while (granting) co_await sleep_for(std::chrono::milliseconds(2));
    if (lease != 0) co_return std::error_code();
    granting = true;
    auto id = co_await etcd.grant(options.ttl);
    granting = false;
    if (!id) co_return id.error();
    lease = *id;
    leases_granted.fetch_add(1, std::memory_order_relaxed);
    next_refresh = Clock::now() + options.ttl / 3;
    rewrite_all = true;  // the keeper writes every instance with the new lease
    co_return std::error_code();
  }

  Task<std::error_code> register_one(std::string key, std::string value) {
    if (auto ec = co_await ensure_lease()) co_return ec;
    auto ec = co_await etcd.put(std::move(key), std::move(value), lease);
    if (ec) rewrite_all = true;
    co_return ec;
  }

  // What is registered under `key` now ("" when nothing: values are never empty JSON).
  std::string current(const std::string& key) {
    std::lock_guard lock(mutex);
    auto it = instances.find(key);
    return it == instances.end() ? std::string() : it->second;
  }

  // Writes every instance with the lease. An instance deregistered or changed by another thread
  // while its put was on its way (the keeper's list is older than that call) is deleted or
  // written again after it, so the older value never outlives the newer call.
  Task<std::error_code> write_all() {
    for (const std::string& key : registered_keys()) {
      std::string value = current(key);
      while (!value.empty()) {
        if (auto ec = co_await etcd.put(key, value, lease)) co_return ec;
        std::string now = current(key);
        if (now == value) break;
        if (now.empty()) {
          if (auto ec = co_await etcd.delete_key(key)) co_return ec;
        }
        value = std::move(now);
      }
    }
    rewrite_all = false;
    co_return std::error_code();
  }

  // One step of the keeper: grant, write, refresh as due.
  Task<void> keep() {
    const auto now = Clock::now();
    if (now < next_attempt) co_return;
    {
      std::lock_guard lock(mutex);
      if (instances.empty()) co_return;
    }
    std::error_code ec;
    if (lease == 0) {
      ec = co_await ensure_lease();
    } else if (now >= next_refresh) {
      ec = co_await etcd.keepalive(lease);
      if (ec == errc::lease_lost) {
        KHZ_LOG(info, "governance: lease " << lease << " lost; registering again");
        lease = 0;
        co_return;  // a new lease at the next tick
      }
      if (!ec) next_refresh = Clock::now() + options.ttl / 3;
    }
    if (!ec && rewrite_all) ec = co_await write_all();
    report(ec);
    if (ec) next_attempt = Clock::now() + options.retry_interval;
  }

  Task<void> keeper_loop() {
    while (!stopping.load(std::memory_order_acquire)) {
      co_await sleep_for(kTick);
      if (stopping.load(std::memory_order_acquire)) break;
      co_await keep();
    }
  }
};

EtcdRegistry::EtcdRegistry(EtcdOptions options) : state_(std::make_shared<State>(std::move(options))) {
  State& s = *state_;
  s.keeper = std::thread([&s] { s.etcd.run([&s] { return s.keeper_loop(); }); });
}

EtcdRegistry::~EtcdRegistry() {
  State& s = *state_;
  s.stopping.store(true, std::memory_order_release);
  s.keeper.join();
  s.etcd.run([&s]() -> Task<void> {
    if (s.lease != 0) {
      if (auto ec = co_await s.etcd.revoke(s.lease)) {
        KHZ_LOG(info, "governance: revoking lease " << s.lease << ": " << ec.message());
      }
    }
  });
}

std::string EtcdRegistry::key_of(const Instance& instance) const {
  return state_->options.prefix + instance.service + "/" + instance.address;
}

std::uint64_t EtcdRegistry::leases_granted() const noexcept {
  return state_->leases_granted.load(std::memory_order_relaxed);
}

std::error_code EtcdRegistry::register_instance(const Instance& instance) {
  if (!valid(instance)) return errc::bad_instance;
  State& s = *state_;
  std::string key = key_of(instance);
  std::string value = to_json(instance);
  {
    std::lock_guard lock(s.mutex);
    s.instances.insert_or_assign(key, value);
  }
  std::error_code ec;
  s.etcd.run([&]() -> Task<void> { ec = co_await s.register_one(key, value); });
  if (ec) KHZ_LOG(warn, "governance: registering " << key << ": " << ec.message() << " (retrying in the background)");
  return ec;
}

std::error_code EtcdRegistry::deregister_instance(const Instance& instance) {
  State& s = *state_;
  std::string key = key_of(instance);
  {
    std::lock_guard lock(s.mutex);
    if (s.instances.erase(key) == 0) return {};
  }
  std::error_code ec;
  s.etcd.run([&]() -> Task<void> { ec = co_await s.etcd.delete_key(key); });
  if (ec) KHZ_LOG(info, "governance: deregistering " << key << ": " << ec.message() << " (its lease will expire)");
  return ec;
}

namespace {

// One watch: list, then follow; list again after every break.
class EtcdWatch final : public Watch {
 public:
  EtcdWatch(std::shared_ptr<EtcdRegistry::State> state, std::string service, WatchHandlers handlers);
  ~EtcdWatch() override;

 private:
  Task<void> run();
  void apply(std::span<const WatchEvent> events);
  void deliver(const std::string& service);
  std::string service_of(std::string_view key) const;
  void connection(bool up);
  void relist(std::vector<KeyValue>& kvs);

  std::shared_ptr<EtcdRegistry::State> state_;
  std::string base_;    // the registry's prefix
  std::string prefix_;  // what is watched: base_ or base_ + service + "/"
  WatchHandlers handlers_;
  CancellationToken cancel_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  // Loop thread only.
  std::map<std::string, Instance> cache_;  // key -> instance; a service's keys are contiguous
};

EtcdWatch::EtcdWatch(std::shared_ptr<EtcdRegistry::State> state, std::string service, WatchHandlers handlers)
    : state_(std::move(state)), base_(state_->options.prefix),
      prefix_(service.empty() ? base_ : base_ + service + "/"), handlers_(std::move(handlers)) {
  thread_ = std::thread([this] { state_->etcd.run([this] { return run(); }); });
}

EtcdWatch::~EtcdWatch() {
  stopping_.store(true, std::memory_order_release);
  state_->etcd.loop().post([token = cancel_]() mutable { token.cancel(); });
  thread_.join();
}

std::string EtcdWatch::service_of(std::string_view key) const {
  key.remove_prefix(base_.size());
  return std::string(key.substr(0, key.find('/')));
}

void EtcdWatch::connection(bool up) {
  if (handlers_.on_connection) handlers_.on_connection(up);
}

void EtcdWatch::deliver(const std::string& service) {
  if (!handlers_.on_update) return;
  std::vector<Instance> now;
  const std::string from = base_ + service + "/";
  for (auto it = cache_.lower_bound(from); it != cache_.end() && it->first.starts_with(from); ++it) {
    now.push_back(it->second);
  }
  handlers_.on_update(service, now);
}

void EtcdWatch::apply(std::span<const WatchEvent> events) {
  std::set<std::string> touched;
  for (const WatchEvent& e : events) {
    if (!e.kv.key.starts_with(base_)) continue;
    std::string service = service_of(e.kv.key);
    if (e.deleted) {
      if (cache_.erase(e.kv.key) != 0) touched.insert(std::move(service));
      continue;
    }
    auto instance = parse_instance(e.kv.value);
    if (!instance) {
      KHZ_LOG(info, "governance: ignoring " << e.kv.key << ": not an instance");
      if (cache_.erase(e.kv.key) != 0) touched.insert(std::move(service));
      continue;
    }
    cache_.insert_or_assign(e.kv.key, std::move(*instance));
    touched.insert(std::move(service));
  }
  for (const std::string& service : touched) deliver(service);
}

Task<void> EtcdWatch::run() {
  EtcdRegistry::State& s = *state_;
  co_await follow_prefix(
      s.etcd, prefix_, s.options.retry_interval,
      {.on_listing = [this](std::vector<KeyValue>& kvs) { relist(kvs); },
       .on_events = [this](std::span<const WatchEvent> events) { apply(events); },
       .on_connection = [this](bool up) { connection(up); }},
      stopping_, cancel_);
}

// Replaces the cache with a listing; every service known before or now is delivered.
void EtcdWatch::relist(std::vector<KeyValue>& kvs) {
  std::set<std::string> services;
  for (const auto& [key, instance] : cache_) services.insert(service_of(key));
  cache_.clear();
  for (KeyValue& kv : kvs) {
    if (!kv.key.starts_with(base_)) continue;
    services.insert(service_of(kv.key));
    if (auto instance = parse_instance(kv.value)) cache_.insert_or_assign(std::move(kv.key), std::move(*instance));
  }
  for (const std::string& service : services) deliver(service);
}

}  // namespace

std::unique_ptr<Watch> EtcdRegistry::watch(std::string service, WatchHandlers handlers) {
  return std::make_unique<EtcdWatch>(state_, std::move(service), std::move(handlers));
}

}  // namespace khz::governance

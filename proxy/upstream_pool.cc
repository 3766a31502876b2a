// SPDX-License-Identifier: Apache-2.0
#include "upstream_pool.h"

#include <khz/app/client/balancing.h>
#include <khz/app/client/url.h>
#include <khz/common/log.h>

#include <algorithm>
#include <random>
#include <stdexcept>

namespace khz::proxy::detail {
namespace {

std::int64_t now_ticks() noexcept { return std::chrono::steady_clock::now().time_since_epoch().count(); }

std::uint64_t random_u64() noexcept {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

}  // namespace

UpstreamPool::UpstreamPool(const ReverseProxyOptions& options)
    : balance_(options.balance),
      eject_after_(options.eject_after),
      eject_time_(options.eject_time),
      max_eject_time_(options.max_eject_time) {
  if (options.upstreams.empty()) throw std::invalid_argument("proxy: no upstream");
  for (const Upstream& u : options.upstreams) {
    auto url = Url::parse(u.url);
    if (!url || (url->scheme != "http" && url->scheme != "https")) {
      throw std::invalid_argument("proxy: upstream '" + u.url + "' is no http(s) URL");
    }
    if (url->target.find('?') != std::string::npos) {
      throw std::invalid_argument("proxy: upstream '" + u.url + "' has a query");
    }
    if (u.weight < 1) throw std::invalid_argument("proxy: upstream '" + u.url + "' has a weight below 1");
    auto t = std::make_unique<Target>();
    t->authority = url->authority();
    t->origin = url->scheme + "://" + t->authority;
    t->base_path = url->target;
    while (!t->base_path.empty() && t->base_path.back() == '/') t->base_path.pop_back();
    t->weight = u.weight;
    t->host = url->host;
    t->port = url->port;
    t->tls = url->scheme == "https";
    targets_.push_back(std::move(t));
  }
  if (balance_ == Balance::consistent_hash) {
    for (std::size_t i = 0; i < targets_.size(); ++i) {
      const Target& t = *targets_[i];
      ring_.add(t.origin + t.base_path, t.weight, i);
    }
    ring_.seal();
  }
}

std::uint64_t UpstreamPool::hash(std::string_view key) noexcept { return balancing::hash(key); }

std::size_t UpstreamPool::on_ring(std::uint64_t key_hash, const TargetSet& usable) const {
  const std::size_t i = ring_.find(key_hash, [&](std::size_t k) { return static_cast<bool>(usable[k]); });
  return i == balancing::HashRing::none ? targets_.size() : i;
}

bool UpstreamPool::ejected(const Target& t, std::int64_t now) const noexcept {
  return t.ejected_until.load(std::memory_order_relaxed) > now || t.down.load(std::memory_order_relaxed);
}

std::size_t UpstreamPool::pick(const TargetSet& tried, std::uint64_t key_hash) {
  if (targets_.size() == 1) return 0;
  const std::int64_t now = now_ticks();
  if (balance_ == Balance::consistent_hash) {
    // The key's upstream, else the next one on the ring that is untried and in, else untried.
    TargetSet usable(targets_.size());
    for (std::size_t i = 0; i < targets_.size(); ++i) usable[i] = !tried[i] && !ejected(*targets_[i], now);
    std::size_t i = on_ring(key_hash, usable);
    if (i == targets_.size()) {
      for (std::size_t k = 0; k < targets_.size(); ++k) usable[k] = !tried[k];
      i = on_ring(key_hash, usable);
    }
    return i == targets_.size() ? on_ring(key_hash, TargetSet(targets_.size(), true)) : i;
  }
  Indexes candidates;
  candidates.reserve(targets_.size());
  for (std::size_t i = 0; i < targets_.size(); ++i) {
    if (!tried[i] && !ejected(*targets_[i], now)) candidates.push_back(i);
  }
  if (candidates.empty()) {  // every healthy one tried: an ejected one beats none (panic mode)
    for (std::size_t i = 0; i < targets_.size(); ++i) {
      if (!tried[i]) candidates.push_back(i);
    }
  }
  if (candidates.empty()) {
    for (std::size_t i = 0; i < targets_.size(); ++i) candidates.push_back(i);
  }
  return choose(candidates);
}

std::size_t UpstreamPool::choose(const Indexes& candidates) {
  if (candidates.size() == 1) return candidates.front();
  switch (balance_) {
    case Balance::round_robin:
      return candidates[next_.fetch_add(1, std::memory_order_relaxed) % candidates.size()];
    case Balance::weighted_round_robin: {
      // nginx's smooth weighted round robin: each candidate gains its weight, the richest is
      // picked and pays the total; over sum(weights) picks each gets exactly its weight,
      // interleaved (5,1,1 -> a a b a c a a).
      std::lock_guard lock(weighted_mutex_);
      return candidates[balancing::smooth_weighted(
          candidates.size(), [&](std::size_t k) { return targets_[candidates[k]]->weight; },
          [&](std::size_t k) -> int& { return targets_[candidates[k]]->current_weight; })];
    }
    case Balance::consistent_hash:  // (picked in pick())
      return candidates.front();
    case Balance::least_request: {
      // Power of two random choices: the one with fewer requests in flight of two at random.
      const std::uint64_t r1 = random_u64();
      const std::uint64_t r2 = random_u64();
      return candidates[balancing::two_choices(
          candidates.size(),
          [&](std::size_t k) { return targets_[candidates[k]]->in_flight.load(std::memory_order_relaxed); }, r1, r2)];
    }
  }
  return candidates.front();
}

void UpstreamPool::report(std::size_t i, bool failure) {
  Target& t = *targets_[i];
  if (!failure) {
    t.consecutive_failures.store(0, std::memory_order_relaxed);
    // A success long after the last ejection ended forgives the earlier ones. (The clock is
    // read only for a target ejected before: a success, the usual report, reads none.)
    const std::int64_t until = t.ejected_until.load(std::memory_order_relaxed);
    if (until == 0) return;
    const auto quiet = std::chrono::duration_cast<std::chrono::steady_clock::duration>(max_eject_time_).count();
    if (now_ticks() > until + quiet) t.ejections.store(0, std::memory_order_relaxed);
    return;
  }
  const std::int64_t now = now_ticks();
  const int failures = t.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  if (eject_after_ <= 0 || failures < eject_after_ || targets_.size() == 1) return;
  if (ejected(t, now)) return;  // another loop ejected it already
  t.consecutive_failures.store(0, std::memory_order_relaxed);
  const int n = t.ejections.fetch_add(1, std::memory_order_relaxed);
  auto span = eject_time_;
  for (int k = 0; k < n && span < max_eject_time_; ++k) span *= 2;
  span = std::min(span, max_eject_time_);
  t.ejected_until.store(now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(span).count(),
                        std::memory_order_relaxed);
  KHZ_LOG(warn, "proxy: upstream " << t.origin << t.base_path << " ejected for " << span.count() << " ms after "
                                   << failures << " failures in a row");
}

}  // namespace khz::proxy::detail

// SPDX-License-Identifier: Apache-2.0
// The stateful balancers: smooth weighted round robin, least request (two choices) and the
// consistent-hash ring, on the algorithms of <khz/app/client/balancing.h>.
#include <khz/app/client/balancing.h>
#include <khz/app/client/discovery.h>

#include "random.h"

#include <string>

namespace khz {
namespace {

std::string key_of(const Endpoint& e) {
  std::string key = e.host;
  key += ':';
  key += std::to_string(e.port);
  return key;
}

}  // namespace

std::size_t SmoothWeightedBalancer::pick(std::span<const Endpoint> endpoints) {
  if (endpoints.size() == 1) return 0;
  std::vector<int*> current(endpoints.size());
  std::lock_guard lock(mutex_);
  if (current_.size() > 4096) current_.clear();  // endpoints come and go: forget the gone ones now and then
  for (std::size_t k = 0; k < endpoints.size(); ++k) current[k] = &current_[key_of(endpoints[k])];
  return balancing::smooth_weighted(
      endpoints.size(), [&](std::size_t k) { return std::max(endpoints[k].weight, 1); },
      [&](std::size_t k) -> int& { return *current[k]; });
}

std::size_t LeastRequestBalancer::pick(std::span<const Endpoint> endpoints) {
  if (endpoints.size() == 1) return 0;
  const std::uint64_t r1 = client::rng()();
  const std::uint64_t r2 = client::rng()();
  std::lock_guard lock(mutex_);
  return balancing::two_choices(
      endpoints.size(),
      [&](std::size_t k) {
        auto it = in_flight_.find(key_of(endpoints[k]));
        return it == in_flight_.end() ? 0 : it->second;
      },
      r1, r2);
}

void LeastRequestBalancer::started(const Endpoint& endpoint) noexcept {
  try {
    std::lock_guard lock(mutex_);
    ++in_flight_[key_of(endpoint)];
  } catch (...) {
  }
}

void LeastRequestBalancer::finished(const Endpoint& endpoint, bool) noexcept {
  try {
    std::lock_guard lock(mutex_);
    auto it = in_flight_.find(key_of(endpoint));
    if (it != in_flight_.end() && --it->second <= 0) in_flight_.erase(it);
  } catch (...) {
  }
}

int LeastRequestBalancer::in_flight(const Endpoint& endpoint) {
  std::lock_guard lock(mutex_);
  auto it = in_flight_.find(key_of(endpoint));
  return it == in_flight_.end() ? 0 : it->second;
}

struct ConsistentHashBalancer::Ring {
  std::uint64_t fingerprint = 0;  // of the endpoint set it was built for
  balancing::HashRing ring;
};

namespace {

// Hosts, ports and weights in order (FNV-1a): tells one endpoint set from another.
std::uint64_t fingerprint(std::span<const Endpoint> endpoints) {
  std::uint64_t h = 14695981039346656037ull;
  auto mix = [&](std::uint64_t v) { h = (h ^ v) * 1099511628211ull; };
  for (const Endpoint& e : endpoints) {
    for (char c : e.host) mix(static_cast<unsigned char>(c));
    mix(0x100u + e.port);
    mix(0x20000u + static_cast<std::uint32_t>(e.weight));
  }
  return h;
}

}  // namespace

std::size_t ConsistentHashBalancer::pick(std::span<const Endpoint> endpoints) {
  return next_.fetch_add(1, std::memory_order_relaxed) % endpoints.size();
}

std::size_t ConsistentHashBalancer::pick(std::span<const Endpoint> endpoints, const HeaderMap& headers) {
  std::string_view key = headers.get(header_);
  if (key.empty() || endpoints.size() == 1) return pick(endpoints);
  std::shared_ptr<const Ring> ring;
  {
    std::lock_guard lock(mutex_);
    ring = ring_;
  }
  const std::uint64_t set = fingerprint(endpoints);
  if (!ring || ring->fingerprint != set) {
    auto fresh = std::make_shared<Ring>();
    fresh->fingerprint = set;
    for (std::size_t k = 0; k < endpoints.size(); ++k) fresh->ring.add(key_of(endpoints[k]), endpoints[k].weight, k);
    fresh->ring.seal();
    std::lock_guard lock(mutex_);
    ring_ = fresh;
    ring = std::move(fresh);
  }
  const std::size_t k = ring->ring.find(balancing::hash(key), [](std::size_t) { return true; });
  return k == balancing::HashRing::none ? 0 : k;
}

}  // namespace khz

// SPDX-License-Identifier: Apache-2.0
// The discovery types users plug in: StaticResolver's table and the two balancers.
#include <khz/app/client/discovery.h>

#include "random.h"

#include <algorithm>

namespace khz {

StaticResolver& StaticResolver::add(std::string name, std::vector<Endpoint> endpoints) {
  table_.emplace_back(std::move(name), std::move(endpoints));
  return *this;
}

std::span<const Endpoint> StaticResolver::resolve(std::string_view host, std::uint16_t) {
  for (const auto& [name, endpoints] : table_) {
    if (name == host) return endpoints;
  }
  return {};
}

std::size_t RoundRobinBalancer::pick(std::span<const Endpoint> endpoints) {
  return next_.fetch_add(1, std::memory_order_relaxed) % endpoints.size();
}

std::size_t WeightedRandomBalancer::pick(std::span<const Endpoint> endpoints) {
  long total = 0;
  for (const auto& e : endpoints) total += std::max(e.weight, 0);
  if (total <= 0) return std::uniform_int_distribution<std::size_t>(0, endpoints.size() - 1)(client::rng());
  long r = std::uniform_int_distribution<long>(0, total - 1)(client::rng());
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    r -= std::max(endpoints[i].weight, 0);
    if (r < 0) return i;
  }
  return endpoints.size() - 1;
}

}  // namespace khz

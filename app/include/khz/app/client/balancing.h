// SPDX-License-Identifier: Apache-2.0
// khz/app/client/balancing.h: the load-balancing algorithms shared by the client's Balancers
// (<khz/app/client/discovery.h>) and the reverse proxy's upstream pool: nginx's smooth weighted
// round robin, power-of-two-choices least-request, and a consistent-hash ring. Pure functions
// over "candidates" the caller indexes its own way; no locks, no state of their own.
//
//   // three upstreams weighted 5, 1, 1: over 7 picks a a b a c a a
//   std::size_t i = khz::balancing::smooth_weighted(3, [&](std::size_t k) { return w[k]; },
//                                                   [&](std::size_t k) -> int& { return current[k]; });
//   std::size_t j = khz::balancing::two_choices(n, [&](std::size_t k) { return in_flight[k]; }, rng(), rng());
//   khz::balancing::HashRing ring;
//   ring.add("10.0.0.7:80", /*weight=*/1, /*index=*/0);  ...  ring.seal();
//   std::size_t k = ring.find(khz::balancing::hash(user_id), [](std::size_t) { return true; });
//
// Threading: the functions are pure; callers guard the state they pass (current weights) and a
// ring is read-only once sealed (share it between threads then).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace khz::balancing {

// 64-bit FNV-1a, then splitmix64's finaliser (FNV alone clusters the points of similar names on
// a ring).
inline std::uint64_t hash(std::string_view key) noexcept {
  std::uint64_t h = 14695981039346656037ull;
  for (char c : key) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

// nginx's smooth weighted round robin over n > 0 candidates: each gains its weight, the richest
// is picked and pays the total; over sum(weights) picks each gets exactly its weight,
// interleaved (5,1,1 -> a a b a c a a). `weight(k)` > 0; `current(k)` is the caller's int& state.
template <class WeightOf, class CurrentOf>
std::size_t smooth_weighted(std::size_t n, WeightOf weight, CurrentOf current) {
  int total = 0;
  std::size_t best = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const int w = weight(k);
    int& c = current(k);
    c += w;
    total += w;
    if (k == 0 || c > current(best)) best = k;
  }
  current(best) -= total;
  return best;
}

// Power of two random choices over n > 0 candidates: of two distinct ones drawn with r1 and r2
// (random numbers), the one with the lower load (ties: the first).
template <class LoadOf>
std::size_t two_choices(std::size_t n, LoadOf load, std::uint64_t r1, std::uint64_t r2) {
  if (n == 1) return 0;
  const std::size_t a = r1 % n;
  std::size_t b = r2 % (n - 1);
  if (b >= a) ++b;
  return load(a) <= load(b) ? a : b;
}

// A consistent-hash ring: each member owns 160 x weight points, hash(key + "#" + point). A key
// goes to the member owning the first point at or after its hash, skipping unusable members.
class HashRing {
 public:
  static constexpr int points_per_weight = 160;

  void add(std::string_view key, int weight, std::size_t index) {
    std::string point(key);
    point += '#';
    const std::size_t base = point.size();
    for (int p = 0; p < points_per_weight * std::max(weight, 1); ++p) {
      point.resize(base);
      point += std::to_string(p);
      points_.emplace_back(hash(point), index);
    }
  }
  void seal() { std::sort(points_.begin(), points_.end()); }
  void clear() noexcept { points_.clear(); }
  bool empty() const noexcept { return points_.empty(); }

  // The member for `key_hash` that `usable(index)` accepts, or `none` when none does.
  static constexpr std::size_t none = static_cast<std::size_t>(-1);
  template <class Usable>
  std::size_t find(std::uint64_t key_hash, Usable usable) const {
    auto it = std::lower_bound(points_.begin(), points_.end(), std::make_pair(key_hash, std::size_t{0}));
    for (std::size_t n = 0; n < points_.size(); ++n, ++it) {
      if (it == points_.end()) it = points_.begin();
      if (usable(it->second)) return it->second;
    }
    return none;
  }

 private:
  std::vector<std::pair<std::uint64_t, std::size_t>> points_;  // (point, member), sorted once sealed
};

}  // namespace khz::balancing

// SPDX-License-Identifier: Apache-2.0
// The reverse proxy's upstreams (private to proxy/): their parsed URLs, the balancing policy
// that picks one per try (the algorithms are the client's, <khz/app/client/balancing.h>),
// and passive outlier ejection from what each try reports.
// Threading: pick() and report() are called from every loop at once; the counters are
// atomics, the smooth weighted round robin's state is under a mutex.
#pragma once

#include <khz/app/client/balancing.h>
#include <khz/common/small_pool.h>
#include <khz/proxy/reverse_proxy.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace khz::proxy::detail {

struct Target {
  std::string origin;     // "http://host:port"
  std::string authority;  // "host:port" (the port left out when it is the scheme's default)
  std::string base_path;  // the upstream URL's path without its trailing '/', or ""
  std::string host;       // for upgrades (a connection of their own)
  std::uint16_t port = 0;
  bool tls = false;
  int weight = 1;
  std::atomic<int> in_flight{0};
  std::atomic<int> consecutive_failures{0};
  std::atomic<int> ejections{0};                 // in a row; reset after a quiet period
  std::atomic<std::int64_t> ejected_until{0};    // steady_clock ticks; 0: never ejected
  std::atomic<bool> down{false};                 // active health checks found it down
  int current_weight = 0;                        // smooth weighted round robin (under the mutex)
};

class UpstreamPool {
 public:
  // Per-request sets of targets (tried, usable) and candidate lists: from the thread's
  // small-block pool, so a proxied request mallocs none of them.
  using TargetSet = std::vector<bool, khz::detail::PoolAllocator<bool>>;
  using Indexes = std::vector<std::size_t, khz::detail::PoolAllocator<std::size_t>>;

  // Throws std::invalid_argument for no upstream, a bad URL or a weight below 1.
  explicit UpstreamPool(const ReverseProxyOptions& options);

  std::size_t size() const noexcept { return targets_.size(); }
  Target& target(std::size_t i) noexcept { return *targets_[i]; }
  // The upstream for the next try, avoiding those in `tried` and ejected ones while others
  // remain (when none remain, the least bad choice: untried first, ejected or not).
  // `key_hash`: the request's key for Balance::consistent_hash (ignored by the others).
  std::size_t pick(const TargetSet& tried, std::uint64_t key_hash = 0);
  // The hash consistent_hash uses (64-bit FNV-1a, then mixed).
  static std::uint64_t hash(std::string_view key) noexcept;
  // What a try found: a failure (connect error, reset, 5xx) or a success.
  void report(std::size_t i, bool failure);

 private:
  bool ejected(const Target& t, std::int64_t now) const noexcept;
  std::size_t choose(const Indexes& candidates);
  std::size_t on_ring(std::uint64_t key_hash, const TargetSet& usable) const;

  std::vector<std::unique_ptr<Target>> targets_;
  Balance balance_;
  int eject_after_;
  std::chrono::milliseconds eject_time_;
  std::chrono::milliseconds max_eject_time_;
  std::atomic<std::size_t> next_{0};  // round robin
  std::mutex weighted_mutex_;         // current_weight of every target
  balancing::HashRing ring_;          // consistent_hash
};

}  // namespace khz::proxy::detail

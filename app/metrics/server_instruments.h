// SPDX-License-Identifier: Apache-2.0
// The Engine's request instruments (see <khz/app/metrics.h>): requests and their duration by
// method x route x status class x protocol, requests in flight, body bytes.
//
// The hot path: begin() takes the request's start (the HTTP/1.1 read that completed it, which
// pipelined requests share, else a khz::TickClock reading: one rdtsc where the kernel keeps time
// with the TSC) and bumps the loop's in-flight count; end() finds the request's series in the calling
// thread's cache, a flat table indexed by
// ((route * methods + method) * classes + class) * protocols + protocol, each route's block
// made the first time that thread sees the route, each entry resolved (once, under the
// registry's lock) the first time the thread sees that combination. The cache holds each
// series as this thread's cells (metrics::ThreadCounter and the like), so counting is a few
// owner-only stores with no lookup.
// Threading: begin()/end() on any loop thread; routes are registered before serving.
#pragma once

#include <khz/common/loop_local.h>
#include <khz/common/metrics.h>
#include <khz/common/tick_clock.h>
#include <khz/protocol/request.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace khz {

class ServerInstruments {
 public:
  static constexpr std::size_t methods = 10;  // the standard nine, then "_OTHER"
  static constexpr std::size_t classes = 5;   // 1xx .. 5xx
  static constexpr std::size_t protocols = 3;  // 1.0, 1.1, 2
  static constexpr std::size_t per_route = methods * classes * protocols;

  explicit ServerInstruments(metrics::Registry& registry);
  ~ServerInstruments();
  ServerInstruments(const ServerInstruments&) = delete;
  ServerInstruments& operator=(const ServerInstruments&) = delete;

  // Route ids are 1-based in registration order; 0 is "no route matched".
  void add_route(std::uint32_t id, std::string method, std::string pattern);
  std::uint32_t route_count() const noexcept { return static_cast<std::uint32_t>(patterns_.size()); }
  const std::string& pattern(std::uint32_t id) const { return patterns_.at(id); }

  // Returns the request's start, in TickClock ticks, for end(): `received_ticks` (when the
  // protocol stamped the read that completed the request, Exchange::received_ticks), else now.
  std::uint64_t begin(std::uint64_t received_ticks) {
    auto& loop = cache_.get();
    loop.in_flight.store(loop.in_flight.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return received_ticks != 0 ? received_ticks : TickClock::now();
  }
  void end(std::uint64_t start, std::uint32_t route_id, std::string_view method, int status, Version version,
           std::uint64_t request_bytes, std::uint64_t response_bytes);

  // Each loop thread's requests served and in flight now (for the debug page).
  struct LoopSnapshot {
    std::thread::id thread;
    std::uint64_t requests = 0;
    std::int64_t in_flight = 0;
  };
  std::vector<LoopSnapshot> per_loop() const;

  // Requests served per route id (0: unmatched, all methods), merged over threads (for the
  // debug page).
  std::vector<std::uint64_t> requests_per_route() const;

 private:
  struct Series {  // this thread's cells of one series (null until first seen here)
    metrics::ThreadCounter requests;
    metrics::ThreadHistogram duration;
    bool resolved = false;
  };
  struct ThreadCache {
    std::vector<std::unique_ptr<std::array<Series, per_route>>> routes;
    metrics::ThreadCounter request_bytes;   // resolved on the thread's first end(), not in
    metrics::ThreadCounter response_bytes;  // LoopLocal's make (it holds a lock the scrape takes)
    bool bytes_resolved = false;
    // Written by the owner thread only (relaxed load + store), read by the debug page; the
    // in-flight counts summed are http_server_active_requests (a scrape-time gauge: one count
    // per request, not two).
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::int64_t> in_flight{0};
      std::thread::id thread = std::this_thread::get_id();  // LoopLocal makes it on its thread
  };
  Series& resolve(Series& slot, std::uint32_t route_id, std::size_t method, std::size_t cls, std::size_t proto);

  metrics::Registry& registry_;
  metrics::Family<metrics::Counter> requests_family_;
  metrics::Family<metrics::Histogram> duration_family_;
  std::uint64_t active_callback_ = 0;
  metrics::Counter request_bytes_;
  metrics::Counter response_bytes_;
  std::vector<std::string> patterns_{"unmatched"};
  std::vector<std::string> route_methods_{""};
  LoopLocal<ThreadCache> cache_;
};

}  // namespace khz

// SPDX-License-Identifier: Apache-2.0
// What Server::enable_metrics sets up (<khz/app/metrics.h>): the registry, the connection
// instruments, the per-loop lag timers, the exposition handler and, on request, a listener of
// its own for it.
// Threading: built and wired on the thread that starts the server; the accept hooks and lag
// timers run on the loop threads, each counting in its own cells.
#pragma once

#include <khz/app/metrics.h>
#include <khz/common/loop_local.h>
#include <khz/common/metrics.h>
#include <khz/common/task.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>
#include <thread>

namespace khz {

class Server;
class RequestContext;

class ServerMetrics {
 public:
  ServerMetrics(MetricsOptions options, std::string_view transport);
  ~ServerMetrics();

  metrics::Registry& registry() noexcept { return *registry_; }
  const MetricsOptions& options() const noexcept { return options_; }

  // On the loop thread that accepted a connection (first thing, before any hook refuses it).
  void accepted();
  // A connection refused: by an on_accept hook ("hook") or the connection limit ("limit").
  void refused(bool by_limit) const { (by_limit ? refused_limit_ : refused_hook_).inc(); }

  // Serves the exposition (GET `path`) for `ctx`.
  void serve_exposition(RequestContext& ctx) const;
  // Serves the debug page (GET `debug_path`): live statistics of `server` as JSON.
  void serve_debug(RequestContext& ctx, const Server& server) const;

  // Stops the lag timers (they end at their next tick, or when their loop shuts down).
  void stop() noexcept { stopping_->store(true, std::memory_order_relaxed); }

  std::unique_ptr<Server> listener;  // the separate listener, when options().address is set
  // Scrape-time callbacks that read the server: removed with it (a shared registry lives on).
  std::vector<std::uint64_t> callbacks;

 private:
  struct LoopState {
    bool timer_started = false;
    // Written by the owner loop only (relaxed load + store), read by the debug page.
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::int64_t> lag_ns{-1};  // the last tick's; -1: none yet
    std::thread::id thread = std::this_thread::get_id();  // LoopLocal makes it on its thread
  };
  static Task<void> lag_timer(std::chrono::milliseconds interval, metrics::Histogram lag, LoopState* state,
                              std::shared_ptr<std::atomic<bool>> stopping);

  MetricsOptions options_;
  std::string transport_;
  std::shared_ptr<metrics::Registry> registry_;
  metrics::Counter accepted_;
  metrics::Counter refused_hook_;
  metrics::Counter refused_limit_;
  metrics::Histogram lag_;
  LoopLocal<LoopState> loops_;
  std::shared_ptr<std::atomic<bool>> stopping_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace khz

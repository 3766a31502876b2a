// SPDX-License-Identifier: Apache-2.0
#include "server_metrics.h"

#include <khz/app/request_context.h>
#include <khz/app/server.h>
#include <khz/common/event_loop.h>
#include <khz/common/metrics_text.h>

namespace khz {

namespace {
// Loop lag is small when healthy: finer buckets than the request durations'.
constexpr double lag_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
}  // namespace

ServerMetrics::ServerMetrics(MetricsOptions options, std::string_view transport)
    : options_(std::move(options)),
      registry_(options_.registry ? options_.registry : std::make_shared<metrics::Registry>()) {
  if (!options_.server_instruments) return;
  auto& r = *registry_;
  accepted_ = r.counter("khz_server_connections_accepted", "Connections accepted.", {"transport"}).with({transport});
  auto refused = r.counter("khz_server_connections_refused", "Connections refused: by an on_accept hook, or over "
                                                             "max_connections.",
                           {"transport", "reason"});
  refused_hook_ = refused.with({transport, "hook"});
  refused_limit_ = refused.with({transport, "limit"});
  lag_ = r.histogram("khz_event_loop_lag_seconds",
                     "How late each event loop's periodic timer fires (time the loop was busy elsewhere).", {},
                     lag_buckets)
             .with({});
}

ServerMetrics::~ServerMetrics() { stop(); }

void ServerMetrics::accepted() {
  accepted_.inc();
  if (options_.loop_lag_interval.count() <= 0 || !lag_) return;
  auto& loop = loops_.get();
  if (loop.timer_started || EventLoop::current() == nullptr) return;
  loop.timer_started = true;
  spawn(lag_timer(options_.loop_lag_interval, lag_, stopping_));
}

Task<void> ServerMetrics::lag_timer(std::chrono::milliseconds interval, metrics::Histogram lag,
                                    std::shared_ptr<std::atomic<bool>> stopping) {
  using Clock = EventLoop::Clock;
  while (!stopping->load(std::memory_order_relaxed)) {
    const auto due = Clock::now() + interval;
    co_await sleep_for(interval);
    const auto now = Clock::now();
    if (now < due) co_return;  // woken early: the loop is shutting down
    if (stopping->load(std::memory_order_relaxed)) co_return;
    lag.observe(std::chrono::duration<double>(now - due).count());
  }
}

void ServerMetrics::serve_exposition(RequestContext& ctx) const {
  const auto format = metrics::negotiate(ctx.request().headers().get("Accept"));
  ctx.data(200, metrics::content_type(format), metrics::render(*registry_, format));
}

}  // namespace khz

// SPDX-License-Identifier: Apache-2.0
#include "server_metrics.h"

#include <khz/app/request_context.h>
#include <khz/app/server.h>
#include <khz/common/event_loop.h>
#include <khz/app/json.h>
#include <khz/common/metrics_text.h>

#include "server_instruments.h"

#include <map>
#include <sstream>

namespace khz {

namespace {
// Loop lag is small when healthy: finer buckets than the request durations'.
constexpr double lag_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
}  // namespace

ServerMetrics::ServerMetrics(MetricsOptions options, std::string_view transport)
    : options_(std::move(options)),
      transport_(transport),
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

ServerMetrics::~ServerMetrics() {
  stop();
  for (auto id : callbacks) registry_->remove_callback(id);
}

void ServerMetrics::accepted() {
  accepted_.inc();
  auto& loop = loops_.get();
  loop.accepted.store(loop.accepted.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (options_.loop_lag_interval.count() <= 0 || !lag_) return;
  if (loop.timer_started || EventLoop::current() == nullptr) return;
  loop.timer_started = true;
  spawn(lag_timer(options_.loop_lag_interval, lag_, &loop, stopping_));
}

// Ends when the server stops (the loop wakes its timers early at shutdown) and never touches
// `state` after: the LoopState lives as long as the ServerMetrics, which outlives the loops.
Task<void> ServerMetrics::lag_timer(std::chrono::milliseconds interval, metrics::Histogram lag, LoopState* state,
                                    std::shared_ptr<std::atomic<bool>> stopping) {
  using Clock = EventLoop::Clock;
  while (!stopping->load(std::memory_order_relaxed)) {
    const auto due = Clock::now() + interval;
    co_await sleep_for(interval);
    const auto now = Clock::now();
    if (now < due) co_return;  // woken early: the loop is shutting down
    if (stopping->load(std::memory_order_relaxed)) co_return;
    lag.observe(std::chrono::duration<double>(now - due).count());
    state->lag_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(now - due).count(),
                        std::memory_order_relaxed);
  }
}

void ServerMetrics::serve_exposition(RequestContext& ctx) const {
  const auto format = metrics::negotiate(ctx.request().headers().get("Accept"));
  ctx.data(200, metrics::content_type(format), metrics::render(*registry_, format));
}

void ServerMetrics::serve_debug(RequestContext& ctx, const Server& server) const {
  auto thread_name = [](std::thread::id id) {
    std::ostringstream out;
    out << id;
    return out.str();
  };
  struct Loop {
    std::uint64_t accepted = 0;
    std::int64_t lag_ns = -1;
    std::uint64_t requests = 0;
    std::int64_t in_flight = 0;
  };
  std::map<std::string, Loop> loops;
  loops_.for_each([&](const LoopState& s) {
    auto& l = loops[thread_name(s.thread)];
    l.accepted = s.accepted.load(std::memory_order_relaxed);
    l.lag_ns = s.lag_ns.load(std::memory_order_relaxed);
  });
  const ServerInstruments* instruments = server.instruments();
  std::int64_t in_flight = 0;
  if (instruments != nullptr) {
    for (const auto& s : instruments->per_loop()) {
      auto& l = loops[thread_name(s.thread)];
      l.requests = s.requests;
      l.in_flight = s.in_flight;
      in_flight += s.in_flight;
    }
  }
  Json::Array loop_rows;
  for (const auto& [thread, l] : loops) {
    loop_rows.emplace_back(H{{"thread", thread},
                             {"connections_accepted", l.accepted},
                             {"requests", l.requests},
                             {"in_flight", l.in_flight},
                             {"loop_lag_seconds", l.lag_ns < 0 ? Json() : Json(static_cast<double>(l.lag_ns) / 1e9)}});
  }
  Json::Array routes;
  std::vector<std::uint64_t> counts;
  if (instruments != nullptr) counts = instruments->requests_per_route();
  const auto infos = server.routes();
  for (std::size_t i = 0; i < infos.size(); ++i) {
    H row{{"method", infos[i].method}, {"path", infos[i].path}, {"handler", infos[i].handler}};
    if (i + 1 < counts.size()) row.emplace_back("requests", counts[i + 1]);
    routes.emplace_back(std::move(row));
  }
  // Client pools sharing this registry (ClientOptions::metrics): connections by address.
  std::map<std::string, std::pair<double, double>> pools;  // address -> active, idle
  for (const auto& family : registry_->collect()) {
    if (family.name != "http_client_open_connections") continue;
    for (const auto& sample : family.samples) {
      auto& [active, idle] = pools[sample.label_values.at(0)];
      (sample.label_values.at(1) == "idle" ? idle : active) += sample.value;
    }
  }
  Json::Array pool_rows;
  for (const auto& [address, counts] : pools) {
    pool_rows.emplace_back(H{{"server_address", address},
                             {"active", static_cast<long long>(counts.first)},
                             {"idle", static_cast<long long>(counts.second)}});
  }
  H page{{"transport", std::string(transport_)},
         {"loops", static_cast<long long>(server.server_options().loops)},
         {"connections_open", server.active_connections()},
         {"in_flight", in_flight},
         {"event_loops", std::move(loop_rows)},
         {"routes", std::move(routes)},
         {"client_pools", std::move(pool_rows)}};
  if (!counts.empty()) page.emplace_back("unmatched_requests", counts[0]);
  ctx.data(200, "application/json", Json(std::move(page)).dump());
}

}  // namespace khz

// SPDX-License-Identifier: Apache-2.0
// Metrics for a khz::Server: Prometheus / OpenMetrics at /metrics, built-in instruments, and a
// JSON page of live loop statistics. Off unless enabled (nothing is counted, nothing served).
//
//   khz::Server server({.address = "0.0.0.0:8080"});
//   server.enable_metrics({});                                   // GET /metrics on :8080
//   server.enable_metrics({.address = "127.0.0.1:9464"});        // or on a port of its own
//   auto jobs = server.metrics_registry().counter("app_jobs", "Jobs run.", {"kind"});
//   auto batch = jobs.with({"batch"});                            // resolve once, count often:
//   server.post("/jobs", [batch](khz::RequestContext& ctx) { batch.inc(); ctx.set_status(202); });
//
// The built-in instruments (names and labels follow OpenTelemetry's HTTP semantic conventions
// as Prometheus spells them; docs/user-guide.md "Metrics" lists them all):
//   http_server_requests_total / http_server_request_duration_seconds
//       {http_request_method, http_route, http_response_status_class, network_protocol_version}
//     http_route is the route's pattern ("/users/:id"), never the raw path; a request no route
//     matched has http_route="unmatched"; methods outside the standard set read "_OTHER".
//   http_server_active_requests, http_server_request_body_bytes_total,
//   http_server_response_body_bytes_total, khz_server_connections_accepted_total{transport},
//   khz_server_connections_refused_total{transport,reason}, khz_server_connections_open{transport},
//   khz_event_loop_lag_seconds.
// Their cost: see <khz/common/metrics.h> (per-thread cells; no lock, no shared atomic, no
// allocation per request once a route/method/status/protocol combination has been seen).
#pragma once

#include <khz/common/metrics.h>

#include <chrono>
#include <memory>
#include <string>

namespace khz {

struct MetricsOptions {
  std::string path = "/metrics";  // where the exposition is served
  // Empty: on the server's own address (and its TLS, if any). Else a plaintext listener of its
  // own ("127.0.0.1:9464"; port 0 picks one: Server::metrics_port()) that serves only `path`
  // and `debug_path`.
  std::string address{};
  // The built-in instruments above (off: /metrics shows only what the program registers).
  bool server_instruments = true;
  // A timer on each event loop measures how late it fires (khz_event_loop_lag_seconds).
  std::chrono::milliseconds loop_lag_interval{std::chrono::milliseconds(250)};
  // Non-empty (e.g. "/debug/khz"): a JSON page of live per-loop statistics, the client pools
  // and the route table with per-route counts. Keep it off public ports.
  std::string debug_path{};
  // The registry to fill and expose (share one between servers, or with the client); null:
  // the server makes its own.
  std::shared_ptr<metrics::Registry> registry{};
};

}  // namespace khz

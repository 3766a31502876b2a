// SPDX-License-Identifier: Apache-2.0
// khz::middleware::tracing: a SERVER span per request (OpenTelemetry HTTP semantic
// conventions), joined to the caller's trace by W3C Trace Context (`traceparent`,
// `tracestate`) and carrying its W3C `baggage`. The span is the ambient span of the inner
// layers, so the khz client opens CLIENT spans under it and sends the context on
// (<khz/app/tracing.h>).
//
//   auto exporter = khz::tracing::make_otlp_exporter({.endpoint = "http://collector:4318/v1/traces",
//                                                     .service_name = "orders"});
//   server.use(khz::middleware::tracing({.sampling_ratio = 0.1, .exporter = exporter}));
//   server.get("/orders/:id", [&](khz::RequestContext& ctx) -> khz::Task<> {
//     auto stock = co_await client.get("http://inventory/stock");   // CLIENT span, traceparent sent
//   });
//
// Put it first (outermost) to time the whole chain. Per request:
//   - the context: exactly one valid `traceparent` field joins its trace (parent-based
//     sampling follows its sampled flag); otherwise a new trace, sampled at sampling_ratio.
//     `tracestate` (all its lines) is kept only with a valid traceparent; `baggage` lines are
//     read whatever the traceparent (malformed members skipped, limits as in <khz/protocol/baggage.h>).
//   - the span: named "{method} {route}" (the matched route pattern) or "{method}"; attributes
//     http.request.method, url.path, url.scheme, http.route, http.response.status_code,
//     server.address (Host without port), network.protocol.version ("1.0", "1.1", "2"),
//     user_agent.original, client.address (the peer); status error for a 5xx (4xx is not an
//     error on a server span); an exception thrown by an inner layer adds an "exception" event,
//     counts as 500, and is rethrown unchanged.
//   - the handler reads the span with co_await khz::tracing::current_span(), adds children with
//     khz::tracing::start_span, and its baggage through the span context.
// Unsampled requests record nothing and allocate nothing; they still propagate ids (flag 00).
#pragma once

#include <khz/app/handler.h>
#include <khz/app/tracing.h>

#include <memory>

namespace khz::middleware {

// Throws std::invalid_argument for a sampling_ratio outside [0, 1].
Handler tracing(khz::tracing::TracingOptions options);
// With a Tracer shared with other servers or code (it must outlive the server).
Handler tracing(std::shared_ptr<const khz::tracing::Tracer> tracer);

}  // namespace khz::middleware

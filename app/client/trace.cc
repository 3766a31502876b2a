// SPDX-License-Identifier: Apache-2.0
// The client's CLIENT span and trace-context injection (trace.h).
#include "trace.h"

#include <string>

namespace khz::client {

void open_client_span(std::optional<tracing::Span>& span, const tracing::SpanContext& parent,
                      const ClientRequest& original, const Url& url, std::unique_ptr<ClientRequest>& changed) {
  // OpenTelemetry HTTP semantic conventions: the span is named after the method.
  span.emplace(tracing::SpanStart{.name = original.method, .kind = tracing::SpanKind::client, .parent = &parent});
  if (span->recording()) {
    span->set_attribute("http.request.method", original.method);
    span->set_attribute("url.full", url.str());
    span->set_attribute("server.address", url.host);
    span->set_attribute("server.port", static_cast<std::int64_t>(url.port));
  }
  const tracing::SpanContext& ctx = span->context();
  if (!changed) changed = std::make_unique<ClientRequest>(original);
  HeaderMap& headers = changed->headers;
  if (!headers.contains("traceparent")) {
    char tp[protocol::traceparent_size];
    tracing::format_traceparent(ctx, tp);
    headers.add("traceparent", std::string_view(tp, sizeof tp));
    if (ctx.trace_state != nullptr && !ctx.trace_state->empty() && !headers.contains("tracestate")) {
      headers.add("tracestate", ctx.trace_state->format());
    }
  }
  if (ctx.baggage != nullptr && !ctx.baggage->empty() && !headers.contains("baggage")) {
    headers.add("baggage", ctx.baggage->format());
  }
}

ClientSpanEnd::~ClientSpanEnd() {
  if (!span) return;
  if (span->recording()) {
    if (error != nullptr && *error) {
      span->set_attribute("error.type", error->message());
      span->set_status(tracing::StatusCode::error, error->message());
    } else if (resp.status() != 0) {
      span->set_attribute("http.response.status_code", static_cast<std::int64_t>(resp.status()));
      // Client spans: 4xx and 5xx are errors (semantic conventions, "Status").
      if (resp.status() >= 400) {
        span->set_attribute("error.type", std::to_string(resp.status()));
        span->set_status(tracing::StatusCode::error);
      }
    }
  }
  span->end();
}

}  // namespace khz::client

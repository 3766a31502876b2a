// SPDX-License-Identifier: Apache-2.0
// Private to app/client: the CLIENT span of a call made under a traced handler, and the W3C
// `traceparent` / `tracestate` / `baggage` fields it sends (each one the request does not set
// itself). run_call opens the span around the whole call (redirects and retries included).
#pragma once

#include <khz/app/client/request.h>
#include <khz/app/client/url.h>
#include <khz/app/tracing.h>
#include <khz/protocol/response.h>

#include <memory>
#include <optional>
#include <system_error>

namespace khz::client {

// Opens `span` as a CLIENT child of `parent` (OpenTelemetry HTTP client attributes) and makes
// `changed` (a copy of `original`, made here if null) carry its context.
void open_client_span(std::optional<tracing::Span>& span, const tracing::SpanContext& parent,
                      const ClientRequest& original, const Url& url, std::unique_ptr<ClientRequest>& changed);

// Records the outcome and ends the span when the call is over, however it ends.
struct ClientSpanEnd {
  std::optional<tracing::Span>& span;
  const Response& resp;
  const std::error_code* error;  // the call's result, when known
  ~ClientSpanEnd();
};

}  // namespace khz::client

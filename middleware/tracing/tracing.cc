// SPDX-License-Identifier: Apache-2.0
// The SERVER span of each request (tracing.h).
#include <khz/middleware/tracing.h>

#include <khz/app/request_context.h>
#include <khz/common/trace_ambient.h>
#include <khz/protocol/baggage.h>
#include <khz/protocol/header_map.h>
#include <khz/protocol/trace_context.h>

#include <exception>
#include <optional>
#include <string>
#include <string_view>

namespace khz::middleware {
namespace {

namespace tr = khz::tracing;

// "host:port", "[v6]:port", "v6" or "host": the host part.
std::string_view host_part(std::string_view authority) noexcept {
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(1, close - 1);
  }
  auto colon = authority.find(':');
  if (colon != std::string_view::npos && authority.find(':', colon + 1) == std::string_view::npos) {
    return authority.substr(0, colon);
  }
  return authority;
}

std::string_view protocol_version(khz::Version v) noexcept {
  switch (v) {
    case khz::Version::http10: return "1.0";
    case khz::Version::http11: return "1.1";
    case khz::Version::http2: return "2";
  }
  return "1.1";
}

void set_request_attributes(tr::Span& span, RequestContext& ctx) {
  std::string_view method = ctx.method();
  span.set_attribute("http.request.method", method);
  span.set_attribute("url.path", ctx.path());
  span.set_attribute("url.scheme", ctx.is_tls() ? "https" : "http");
  std::string_view route = ctx.full_path();
  if (!route.empty()) {
    span.set_attribute("http.route", route);
    std::string name(method);
    name += ' ';
    name += route;
    span.update_name(name);
  }
  std::string_view host = ctx.header("Host");
  if (host.empty()) host = ctx.header(":authority");
  if (!host.empty()) span.set_attribute("server.address", host_part(host));
  span.set_attribute("network.protocol.version", protocol_version(ctx.request().version()));
  if (std::string_view ua = ctx.header("User-Agent"); !ua.empty()) span.set_attribute("user_agent.original", ua);
  std::string_view peer = ctx.peer_address();
  if (!peer.empty()) span.set_attribute("client.address", host_part(peer));
}

// What a request's SERVER span needs while the chain runs, kept in the context (scratch): the
// span, and the caller's trace state and baggage it points to. Reused request after request.
struct ServerSpan {
  std::optional<protocol::TraceParent> remote;
  std::string tracestate_lines;
  std::optional<protocol::TraceState> trace_state;
  std::optional<protocol::Baggage> baggage;
  std::optional<tr::Span> span;  // a span made by the ratio (sampled or not)
  tr::SpanContext unsampled;      // a span known unsampled without one (see unsampled_context)
};

// A sampled span: the rest of the chain under it, then its HTTP attributes and its end.
Task<void> serve_recorded(tr::Span& span, RequestContext& ctx) {
  // Ended (and exported) however this frame ends, destroyed mid-request included, while the
  // tracer is sure to be alive.
  struct EndOnExit {
    tr::Span& span;
    ~EndOnExit() { span.end(); }
  } end_on_exit{span};
  std::exception_ptr thrown;
  try {
    khz::tracing::detail::enter_span(&span.context());  // plain layers run in next()
    Task<void> rest = ctx.next();
    rest.set_trace_span(&span.context());
    co_await rest;
  } catch (...) {
    thrown = std::current_exception();
  }
  if (span.recording()) {
    set_request_attributes(span, ctx);
    int status = thrown ? 500 : ctx.status();
    span.set_attribute("http.response.status_code", static_cast<std::int64_t>(status));
    if (thrown) span.record_exception(thrown);
    if (status >= 500) span.set_status(tr::StatusCode::error);
  }
  span.end();
  if (thrown) std::rethrow_exception(thrown);
}

Task<void> serve_traced(const tr::Tracer* tracer, RequestContext& ctx) {
  ServerSpan& s = ctx.scratch<ServerSpan>();
  if (s.span) s.span.reset();  // the last request's (ended with it)
  s.remote.reset();
  s.tracestate_lines.clear();
  s.trace_state.reset();
  s.baggage.reset();
  // The caller's context (W3C Trace Context §3.2, §3.3; W3C Baggage).
  int traceparents = 0;
  for (const auto& field : ctx.request().headers()) {
    // by length first: most requests carry none of the three, and most fields are other lengths
    std::size_t n = field.name.size();
    if (n != 11 && n != 10 && n != 7) continue;
    if (iequals(field.name, "traceparent")) {
      if (++traceparents == 1) s.remote = protocol::parse_traceparent(field.value);
    } else if (iequals(field.name, "tracestate")) {
      if (!s.tracestate_lines.empty()) s.tracestate_lines += ',';
      s.tracestate_lines += field.value;
    } else if (iequals(field.name, "baggage")) {
      if (!s.baggage) s.baggage.emplace();
      s.baggage->add_header(field.value);
    }
  }
  if (traceparents != 1) s.remote.reset();  // two traceparent fields: neither is trusted
  if (s.remote && !s.tracestate_lines.empty()) s.trace_state = protocol::TraceState::parse(s.tracestate_lines);

  const khz::tracing::AmbientSpan* caller = khz::tracing::running_span();
  tr::SpanStart start{.name = ctx.method(),
                      .kind = tr::SpanKind::server,
                      .tracer = tracer,
                      .remote = s.remote ? &*s.remote : nullptr,
                      .trace_state = s.trace_state && !s.trace_state->empty() ? &*s.trace_state : nullptr,
                      .baggage = s.baggage && !s.baggage->empty() ? &*s.baggage : nullptr,
                      .use_ambient = false};
  const tr::SpanContext* context;
  if (tr::unsampled_context(start, s.unsampled)) {
    // Known unsampled (flag 00 from the caller, or ratio 0): no Span, only its context.
    context = &s.unsampled;
  } else {
    tr::Span& span = s.span.emplace(start);
    if (span.recording()) {
      khz::tracing::detail::enter_span(caller);  // serve_recorded's body makes it current again
      return serve_recorded(span, ctx);
    }
    context = &span.context();  // unsampled by the ratio
  }
  // Unsampled: nothing to record at the end, so no frame of this layer's own. The context (ids,
  // flag 00) is the ambient one of the rest of the chain: of the plain layers run in next() and
  // of the Task it hands back; it stays in the context until the next request.
  struct Restore {
    const khz::tracing::AmbientSpan* caller;
    ~Restore() { khz::tracing::detail::enter_span(caller); }
  } restore{caller};
  khz::tracing::detail::enter_span(context);
  Task<void> rest = ctx.next();
  rest.set_trace_span(context);
  return rest;
}

struct Traced {
  std::shared_ptr<const tr::Tracer> tracer;
  Task<void> operator()(RequestContext& ctx) const { return serve_traced(tracer.get(), ctx); }
};

}  // namespace

Handler tracing(khz::tracing::TracingOptions options) {
  return tracing(std::make_shared<const tr::Tracer>(std::move(options)));
}

Handler tracing(std::shared_ptr<const khz::tracing::Tracer> tracer) {
  if (!tracer) throw std::invalid_argument("middleware::tracing: null tracer");
  return Handler("khz::middleware::tracing", Traced{std::move(tracer)}).onion();
}

}  // namespace khz::middleware

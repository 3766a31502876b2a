// SPDX-License-Identifier: Apache-2.0
// khz::tracing: OpenTelemetry-style distributed tracing, built in. A Tracer samples and hands
// finished spans to an exporter; a Span is one timed operation (RAII). The current span rides
// the handler's Task chain (like its cancel signal), so the khz client opens a CLIENT span and
// injects `traceparent` / `tracestate` / `baggage` into every request it makes under a traced
// handler, with nothing passed by hand. The server side is khz::middleware::tracing
// (<khz/middleware/tracing.h>); OTLP export is <khz/app/otlp_exporter.h>.
//
//   // In a coroutine under a traced handler: a child of the current span, and the current span
//   // of this coroutine (and what it awaits) until it ends.
//   khz::tracing::Span span = co_await khz::tracing::start_span("load order");
//   span.set_attribute("order.id", id);
//   auto stock = co_await client.get("http://inventory/stock");   // child of "load order"
//   span.add_event("loaded");
//   // ~Span ends it (or span.end()).
//
//   // Plain code on the loop thread, inside a traced coroutine: the same, without co_await
//   // (the parent is the running span; the new span is running until it ends, so no co_await
//   // may happen while it lives).
//   khz::tracing::Span parse("parse");
//
// Sampling is parent-based: a span with a parent (local, or remote from `traceparent`) follows
// the parent's sampled flag; a root span is sampled with probability sampling_ratio (decided
// from the trace-id, so every service with the same ratio agrees). An unsampled span records
// nothing and exports nothing, but still has ids and propagates (flag 00).
// Limits: at most SpanLimits::max_attributes attributes and max_events events per span (more
// are counted as dropped and exported as such); a string value is cut to max_attribute_length
// bytes (at a UTF-8 boundary).
// Threading: a Span is used on its loop only. The Tracer is shared by all loops (its options are
// read-only after construction); the exporter's on_end is called on the loop that ended the
// span and must not block.
#pragma once

#include <khz/common/trace_ambient.h>
#include <khz/common/task.h>
#include <khz/protocol/baggage.h>
#include <khz/protocol/trace_context.h>

#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace khz::tracing {

using protocol::SpanId;
using protocol::TraceId;

// OpenTelemetry's SpanKind (the OTLP enum minus its "unspecified" 0).
enum class SpanKind { internal = 1, server = 2, client = 3, producer = 4, consumer = 5 };
// OpenTelemetry's status code (OTLP numbering).
enum class StatusCode { unset = 0, ok = 1, error = 2 };

using AttributeValue = std::variant<std::string, std::int64_t, double, bool>;
struct Attribute {
  std::string key;
  AttributeValue value;
};
struct SpanEvent {
  std::string name;
  std::uint64_t time_unix_nano = 0;
  std::vector<Attribute> attributes;
};

// A finished, sampled span: what an exporter receives.
struct SpanData {
  TraceId trace_id{};
  SpanId span_id{};
  SpanId parent_span_id{};  // all zero: a root span
  std::string trace_state;  // the W3C tracestate in force ("" when none)
  std::uint8_t flags = 0;   // W3C trace flags
  std::string name;
  SpanKind kind = SpanKind::internal;
  std::uint64_t start_unix_nano = 0;
  std::uint64_t end_unix_nano = 0;
  std::vector<Attribute> attributes;
  std::vector<SpanEvent> events;
  std::uint32_t dropped_attributes = 0;
  std::uint32_t dropped_events = 0;
  StatusCode status = StatusCode::unset;
  std::string status_message;
};

// Where finished spans go. on_end runs on the loop that ended the span: it must not block (an
// exporter queues the span and ships it from its own thread).
class SpanExporter {
 public:
  virtual ~SpanExporter() = default;
  virtual void on_end(SpanData&& span) noexcept = 0;
};

struct SpanLimits {
  std::size_t max_attributes = 128;
  std::size_t max_events = 128;
  std::size_t max_attribute_length = 4096;  // bytes of a string value
};

struct TracingOptions {
  double sampling_ratio = 1.0;       // for root spans, in [0, 1]; parent-based otherwise
  SpanLimits limits{};
  std::shared_ptr<SpanExporter> exporter{};  // null: sampled spans are recorded, then dropped
};

// Samples and finishes spans for one service. Shared by every loop (immutable after construction).
class Tracer {
 public:
  // Throws std::invalid_argument for a sampling_ratio outside [0, 1].
  explicit Tracer(TracingOptions options);
  const TracingOptions& options() const noexcept { return options_; }
  // The root-span decision for a trace-id (TraceIdRatioBased: the low 8 bytes against the ratio).
  bool sample_root(const TraceId& trace_id) const noexcept;
  // Whether no root span is ever sampled (ratio 0): the decision then needs no trace-id.
  bool samples_no_root() const noexcept { return !sample_all_ && threshold_ == 0; }
  // Hands a finished sampled span to the exporter (on the caller's loop).
  void finish(SpanData&& span) const noexcept;

 private:
  TracingOptions options_;
  std::uint64_t threshold_ = 0;  // sample when the id's low 8 bytes (big-endian) < threshold_
  bool sample_all_ = true;
};

class Span;

// What rides the Task chain: the current span's ids (AmbientSpan) and what a child or an
// outbound request needs. Made only by Span (every AmbientSpan a Task carries is one of these
// or null).
struct SpanContext : AmbientSpan {
  const Tracer* tracer = nullptr;
  const protocol::TraceState* trace_state = nullptr;  // null: none
  const protocol::Baggage* baggage = nullptr;         // null: none
  Span* span = nullptr;                               // the span these ids belong to (null: see unsampled_context)
  bool sampled() const noexcept { return (flags & protocol::trace_flag_sampled) != 0; }
};

// The ambient span context of a Task, as the tracing layer sees it (null: not traced).
inline const SpanContext* as_context(const AmbientSpan* span) noexcept { return static_cast<const SpanContext*>(span); }

// How to start a span; everything but name optional.
struct SpanStart {
  std::string_view name;
  SpanKind kind = SpanKind::internal;
  const SpanContext* parent = nullptr;          // a local parent (default: the ambient span)
  const Tracer* tracer = nullptr;               // needed when there is no local parent
  const protocol::TraceParent* remote = nullptr;  // a remote parent (from traceparent)
  const protocol::TraceState* trace_state = nullptr;  // default: the parent's
  const protocol::Baggage* baggage = nullptr;         // default: the parent's
  bool use_ambient = true;  // false: ignore the running span when parent is null (a new trace)
};

// One span, from construction to end() (or destruction). Neither copyable nor movable: it owns
// the context its children point to. A span with no tracer (no parent, none given) is inert.
class Span {
 public:
  // A child of the running span of this thread (plain code inside a traced coroutine); inert
  // when there is none.
  explicit Span(std::string_view name, SpanKind kind = SpanKind::internal);
  explicit Span(const SpanStart& start);
  ~Span() { end(); }
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;

  // True while a sampled span is recording (false once ended, or when unsampled or inert).
  bool recording() const noexcept { return recording_; }
  // Has ids (false: inert, no tracer).
  bool active() const noexcept { return context_.tracer != nullptr; }
  const SpanContext& context() const noexcept { return context_; }

  void set_attribute(std::string_view key, std::string_view value);
  void set_attribute(std::string_view key, const char* value) { set_attribute(key, std::string_view(value)); }
  void set_attribute(std::string_view key, std::int64_t value);
  void set_attribute(std::string_view key, int value) { set_attribute(key, static_cast<std::int64_t>(value)); }
  void set_attribute(std::string_view key, double value);
  void set_attribute(std::string_view key, bool value);
  void add_event(std::string_view name, std::vector<Attribute> attributes = {});
  // An "exception" event (exception.type, exception.message) and status error.
  void record_exception(std::exception_ptr error);
  void set_status(StatusCode code, std::string_view message = {});
  void update_name(std::string_view name);
  // Ends the span (once; later calls do nothing) and gives the coroutine's ambient span back
  // to the parent.
  void end() noexcept;

 private:
  friend struct start_span;
  Span(const SpanStart& start, const AmbientSpan** slot);
  void begin(const SpanStart& start, const AmbientSpan** slot);
  void put_attribute(std::string_view key, AttributeValue value);

  SpanContext context_{};
  const AmbientSpan* previous_ = nullptr;  // the ambient span before this one
  const AmbientSpan** slot_ = nullptr;     // the coroutine's ambient span, restored at end
  bool recording_ = false;
  bool ended_ = false;
  std::unique_ptr<SpanData> data_;  // a sampled span's record (an unsampled one carries none)
};

// co_await start_span(...) in a Task: a child of the Task's ambient span (or as `start` says),
// which becomes the Task's ambient span until it ends.
struct start_span {
  SpanStart start;
  const AmbientSpan** slot = nullptr;
  explicit start_span(std::string_view name, SpanKind kind = SpanKind::internal) : start{name, kind} {}
  explicit start_span(const SpanStart& s) : start(s) {}
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    if constexpr (std::is_base_of_v<khz::detail::TaskPromiseBase, Promise>) slot = &h.promise().trace_span;
    return false;  // never suspends
  }
  Span await_resume() const { return Span(start, slot); }
};

// The Task's current span context (null: not traced): co_await khz::tracing::current_span().
struct current_span {
  const SpanContext* context = nullptr;
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    if constexpr (std::is_base_of_v<khz::detail::TaskPromiseBase, Promise>) context = as_context(h.promise().trace_span);
    return false;
  }
  const SpanContext* await_resume() const noexcept { return context; }
};

// For a layer that keeps a SpanContext of its own across requests (the tracing middleware's
// SERVER span): when the span `start` describes is known to be unsampled without drawing an id (a
// remote parent with flag 00, or a root under a tracer that samples no root), fills `context`
// (the span-id drawn when first read, span null) and returns true: no Span is made, nothing is
// recorded, nothing ends, and the caller makes `context` ambient itself. False otherwise (the
// caller makes a Span). `start.parent` must be null.
inline bool unsampled_context(const SpanStart& start, SpanContext& context) noexcept {
  const Tracer* tracer = start.tracer;
  if (tracer == nullptr || start.parent != nullptr) return false;
  if (start.remote != nullptr) {
    if (start.remote->sampled()) return false;
    context.set_trace_id(start.remote->trace_id);
  } else if (tracer->samples_no_root()) {
    context.draw_trace_id_later();
  } else {
    return false;  // the decision needs a trace-id: Span draws it and decides
  }
  context.draw_span_id_later();
  context.flags = 0;
  context.tracer = tracer;
  context.trace_state = start.trace_state;
  context.baggage = start.baggage;
  context.span = nullptr;
  return true;
}

// Writes the `traceparent` value for ctx (traceparent_size characters).
void format_traceparent(const SpanContext& ctx, char* out) noexcept;

// The current wall-clock time in ns since the Unix epoch.
std::uint64_t now_unix_nano() noexcept;

}  // namespace khz::tracing

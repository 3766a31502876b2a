// SPDX-License-Identifier: Apache-2.0
// Tracer (sampling, ids) and Span (recording, limits, the ambient span while it lives).
#include <khz/app/tracing.h>

#include <bit>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <typeinfo>

namespace khz::tracing {
namespace {

// The id's low 8 bytes as a big-endian number (what TraceIdRatioBased compares).
std::uint64_t low_bytes(const TraceId& id) noexcept {
  std::uint64_t v;
  std::memcpy(&v, id.data() + 8, sizeof v);
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
  return v;
}

// Cuts a string at most `limit` bytes long, at a UTF-8 character boundary.
std::string_view cut_utf8(std::string_view s, std::size_t limit) noexcept {
  if (s.size() <= limit) return s;
  std::size_t n = limit;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
  return s.substr(0, n);
}

}  // namespace

std::uint64_t now_unix_nano() noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

Tracer::Tracer(TracingOptions options) : options_(std::move(options)) {
  double r = options_.sampling_ratio;
  if (!(r >= 0.0 && r <= 1.0)) throw std::invalid_argument("tracing: sampling_ratio must be within [0, 1]");
  sample_all_ = r >= 1.0;
  // OpenTelemetry's TraceIdRatioBased: sampled when the id's low 8 bytes < ratio * 2^64.
  threshold_ = sample_all_ ? ~0ULL : static_cast<std::uint64_t>(r * 18446744073709551616.0);
}

bool Tracer::sample_root(const TraceId& trace_id) const noexcept {
  return sample_all_ || low_bytes(trace_id) < threshold_;
}

void Tracer::finish(SpanData&& span) const noexcept {
  if (options_.exporter) options_.exporter->on_end(std::move(span));
}

Span::Span(std::string_view name, SpanKind kind) {
  SpanStart start{name, kind};
  begin(start, nullptr);
}

Span::Span(const SpanStart& start) { begin(start, nullptr); }

Span::Span(const SpanStart& start, const AmbientSpan** slot) { begin(start, slot); }

void Span::begin(const SpanStart& start, const AmbientSpan** slot) {
  const SpanContext* parent = start.parent;
  if (parent == nullptr && start.use_ambient && start.remote == nullptr) {
    parent = as_context(slot != nullptr ? *slot : running_span());
  }
  const Tracer* tracer = start.tracer != nullptr ? start.tracer : (parent != nullptr ? parent->tracer : nullptr);
  if (tracer == nullptr) return;  // inert: nothing to join, no tracer to start a trace
  context_.tracer = tracer;
  context_.span = this;
  bool sampled;
  const SpanId* parent_id = nullptr;
  if (parent != nullptr) {
    context_.set_trace_id(parent->trace_id());
    sampled = parent->sampled();
    if (sampled) parent_id = &parent->span_id();
  } else if (start.remote != nullptr) {
    context_.set_trace_id(start.remote->trace_id);
    sampled = start.remote->sampled();
    parent_id = &start.remote->parent_id;
  } else if (tracer->samples_no_root()) {
    sampled = false;
    context_.draw_trace_id_later();  // the decision needs no id: draw it only if someone reads it
  } else {
    TraceId id;
    std::uint64_t high = random_id_bits(), low = random_id_bits();
    std::memcpy(id.data(), &high, 8);
    std::memcpy(id.data() + 8, &low, 8);
    context_.set_trace_id(id);
    sampled = tracer->sample_root(id);
  }
  context_.flags = sampled ? protocol::trace_flag_sampled : 0;
  context_.trace_state = start.trace_state != nullptr ? start.trace_state : (parent != nullptr ? parent->trace_state : nullptr);
  context_.baggage = start.baggage != nullptr ? start.baggage : (parent != nullptr ? parent->baggage : nullptr);
  if (sampled) {
    SpanId id;
    std::uint64_t bits = random_id_bits();
    std::memcpy(id.data(), &bits, 8);
    context_.set_span_id(id);
    recording_ = true;
    data_ = std::make_unique<SpanData>();
    if (parent_id != nullptr) data_->parent_span_id = *parent_id;
    data_->trace_id = context_.trace_id();
    data_->span_id = id;
    data_->flags = context_.flags;
    data_->name = start.name;
    data_->kind = start.kind;
    data_->start_unix_nano = now_unix_nano();
    if (context_.trace_state != nullptr && !context_.trace_state->empty()) data_->trace_state = context_.trace_state->format();
  } else {
    context_.draw_span_id_later();  // an unsampled span's id goes only where someone reads it
  }
  // The new span is the ambient one: of the coroutine (slot), and running on this thread.
  previous_ = slot != nullptr ? *slot : running_span();
  slot_ = slot;
  if (slot_ != nullptr) *slot_ = &context_;
  detail::enter_span(&context_);
}

void Span::put_attribute(std::string_view key, AttributeValue value) {
  if (!recording_) return;
  for (auto& a : data_->attributes) {
    if (a.key == key) {
      a.value = std::move(value);
      return;
    }
  }
  if (data_->attributes.size() >= context_.tracer->options().limits.max_attributes) {
    ++data_->dropped_attributes;
    return;
  }
  data_->attributes.push_back({std::string(key), std::move(value)});
}

void Span::set_attribute(std::string_view key, std::string_view value) {
  if (!recording_) return;
  put_attribute(key, std::string(cut_utf8(value, context_.tracer->options().limits.max_attribute_length)));
}
void Span::set_attribute(std::string_view key, std::int64_t value) { put_attribute(key, value); }
void Span::set_attribute(std::string_view key, double value) { put_attribute(key, value); }
void Span::set_attribute(std::string_view key, bool value) { put_attribute(key, value); }

void Span::add_event(std::string_view name, std::vector<Attribute> attributes) {
  if (!recording_) return;
  const auto& limits = context_.tracer->options().limits;
  if (data_->events.size() >= limits.max_events) {
    ++data_->dropped_events;
    return;
  }
  if (attributes.size() > limits.max_attributes) attributes.resize(limits.max_attributes);
  for (auto& a : attributes) {
    if (auto* s = std::get_if<std::string>(&a.value); s != nullptr && s->size() > limits.max_attribute_length) {
      s->resize(cut_utf8(*s, limits.max_attribute_length).size());
    }
  }
  data_->events.push_back({std::string(name), now_unix_nano(), std::move(attributes)});
}

void Span::record_exception(std::exception_ptr error) {
  if (!recording_ || !error) return;
  std::string type = "unknown";
  std::string message;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    type = typeid(e).name();
    message = e.what();
  } catch (...) {
  }
  add_event("exception", {{"exception.type", type}, {"exception.message", message}});
  set_status(StatusCode::error, message);
}

void Span::set_status(StatusCode code, std::string_view message) {
  if (!recording_) return;
  if (data_->status == StatusCode::ok) return;  // OK is final (OpenTelemetry's rule)
  data_->status = code;
  data_->status_message = code == StatusCode::error ? std::string(message) : std::string();
}

void Span::update_name(std::string_view name) {
  if (recording_) data_->name = name;
}

void Span::end() noexcept {
  if (ended_ || context_.tracer == nullptr) return;
  ended_ = true;
  if (slot_ != nullptr && *slot_ == &context_) *slot_ = previous_;
  if (running_span() == &context_) detail::enter_span(previous_);
  if (!recording_) return;
  recording_ = false;
  data_->end_unix_nano = now_unix_nano();
  context_.tracer->finish(std::move(*data_));
  data_.reset();
}

void format_traceparent(const SpanContext& ctx, char* out) noexcept {
  protocol::TraceParent tp{ctx.trace_id(), ctx.span_id(), ctx.flags};
  protocol::format_traceparent(tp, out);
}

}  // namespace khz::tracing

// SPDX-License-Identifier: Apache-2.0
// The W3C Trace Context and Baggage codecs (<khz/protocol/trace_context.h>, <baggage.h>): any
// field value is accepted or refused without a crash; what is accepted formats to a value that
// parses back to the same thing (traceparent, tracestate and baggage), within the limits.
#include <khz/protocol/baggage.h>
#include <khz/protocol/trace_context.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace khz::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view value(reinterpret_cast<const char*>(data), size);

  if (auto tp = parse_traceparent(value)) {
    if (all_zero(tp->trace_id) || all_zero(tp->parent_id)) std::abort();
    std::string out = format_traceparent(*tp);
    auto back = parse_traceparent(out);
    if (!back || back->trace_id != tp->trace_id || back->parent_id != tp->parent_id ||
        back->sampled() != tp->sampled()) {
      std::abort();
    }
  }

  if (auto ts = TraceState::parse(value)) {
    if (ts->size() > TraceState::max_members) std::abort();
    std::string out = ts->format();
    if (out.size() > TraceState::max_length) std::abort();
    auto back = TraceState::parse(out);
    if (!back || back->size() > ts->size()) std::abort();
    for (const auto& [k, v] : back->members()) {
      if (ts->get(k) != std::string_view(v)) std::abort();
    }
    if (out.size() == ts->format().size() && back->format() != out) std::abort();
  }

  Baggage baggage;
  baggage.add_header(value);
  if (baggage.size() > Baggage::max_members) std::abort();
  std::string out = baggage.format();
  if (out.size() > Baggage::max_bytes) std::abort();
  Baggage back;
  if (back.add_header(out) != 0) std::abort();  // what we send is always well formed
  if (back.size() > baggage.size()) std::abort();
  for (const auto& e : back.entries()) {
    if (baggage.get(e.key) != std::string_view(e.value)) std::abort();
  }
  return 0;
}

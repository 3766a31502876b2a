// SPDX-License-Identifier: Apache-2.0
// OTLP request bodies (otlp_encode.h).
#include "otlp_encode.h"

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

#include <cstdio>

namespace khz::tracing::otlp {
namespace {

namespace pb_common = opentelemetry::proto::common::v1;
namespace pb_trace = opentelemetry::proto::trace::v1;

void set_value(pb_common::AnyValue& out, const AttributeValue& value) {
  if (auto* s = std::get_if<std::string>(&value)) {
    out.set_string_value(*s);
  } else if (auto* i = std::get_if<std::int64_t>(&value)) {
    out.set_int_value(*i);
  } else if (auto* d = std::get_if<double>(&value)) {
    out.set_double_value(*d);
  } else {
    out.set_bool_value(std::get<bool>(value));
  }
}

void add_attributes(google::protobuf::RepeatedPtrField<pb_common::KeyValue>& out, const std::vector<Attribute>& attributes) {
  for (const auto& a : attributes) {
    auto* kv = out.Add();
    kv->set_key(a.key);
    set_value(*kv->mutable_value(), a.value);
  }
}

void add_string(google::protobuf::RepeatedPtrField<pb_common::KeyValue>& out, const std::string& key, const std::string& value) {
  auto* kv = out.Add();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(value);
}

std::vector<std::pair<std::string, std::string>> resource_pairs(const ResourceInfo& resource) {
  std::vector<std::pair<std::string, std::string>> pairs{
      {"service.name", resource.service_name}, {"telemetry.sdk.name", "khz"}, {"telemetry.sdk.language", "cpp"}};
  for (const auto& a : resource.attributes) pairs.push_back(a);
  return pairs;
}

// --- JSON ---------------------------------------------------------------------------------

void json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", u);
          out += buf;
        } else {
          out += c;  // UTF-8 passes through (invalid sequences are the caller's)
        }
    }
  }
  out += '"';
}

void json_hex(std::string& out, std::span<const std::uint8_t> bytes) {
  out += '"';
  std::size_t at = out.size();
  out.resize(at + bytes.size() * 2);
  protocol::hex_encode(bytes, out.data() + at);
  out += '"';
}

void json_value(std::string& out, const AttributeValue& value) {
  if (auto* s = std::get_if<std::string>(&value)) {
    out += "{\"stringValue\":";
    json_string(out, *s);
  } else if (auto* i = std::get_if<std::int64_t>(&value)) {
    out += "{\"intValue\":\"" + std::to_string(*i) + "\"";
  } else if (auto* d = std::get_if<double>(&value)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", *d);
    out += "{\"doubleValue\":";
    out += buf;
  } else {
    out += std::get<bool>(value) ? "{\"boolValue\":true" : "{\"boolValue\":false";
  }
  out += '}';
}

void json_attributes(std::string& out, const std::vector<Attribute>& attributes) {
  out += '[';
  bool first = true;
  for (const auto& a : attributes) {
    if (!first) out += ',';
    first = false;
    out += "{\"key\":";
    json_string(out, a.key);
    out += ",\"value\":";
    json_value(out, a.value);
    out += '}';
  }
  out += ']';
}

}  // namespace

std::string encode_protobuf(const std::vector<SpanData>& spans, const ResourceInfo& resource) {
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest request;
  auto* rs = request.add_resource_spans();
  for (const auto& [k, v] : resource_pairs(resource)) add_string(*rs->mutable_resource()->mutable_attributes(), k, v);
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("khz");
  for (const auto& s : spans) {
    auto* span = ss->add_spans();
    span->set_trace_id(s.trace_id.data(), s.trace_id.size());
    span->set_span_id(s.span_id.data(), s.span_id.size());
    if (!s.trace_state.empty()) span->set_trace_state(s.trace_state);
    if (!protocol::all_zero(s.parent_span_id)) span->set_parent_span_id(s.parent_span_id.data(), s.parent_span_id.size());
    span->set_flags(s.flags);
    span->set_name(s.name);
    span->set_kind(static_cast<pb_trace::Span::SpanKind>(static_cast<int>(s.kind)));
    span->set_start_time_unix_nano(s.start_unix_nano);
    span->set_end_time_unix_nano(s.end_unix_nano);
    add_attributes(*span->mutable_attributes(), s.attributes);
    span->set_dropped_attributes_count(s.dropped_attributes);
    for (const auto& e : s.events) {
      auto* event = span->add_events();
      event->set_time_unix_nano(e.time_unix_nano);
      event->set_name(e.name);
      add_attributes(*event->mutable_attributes(), e.attributes);
    }
    span->set_dropped_events_count(s.dropped_events);
    if (s.status != StatusCode::unset) {
      span->mutable_status()->set_code(static_cast<pb_trace::Status::StatusCode>(static_cast<int>(s.status)));
      span->mutable_status()->set_message(s.status_message);
    }
  }
  return request.SerializeAsString();
}

std::string encode_json(const std::vector<SpanData>& spans, const ResourceInfo& resource) {
  std::string out = "{\"resourceSpans\":[{\"resource\":{\"attributes\":[";
  bool first = true;
  for (const auto& [k, v] : resource_pairs(resource)) {
    if (!first) out += ',';
    first = false;
    out += "{\"key\":";
    json_string(out, k);
    out += ",\"value\":{\"stringValue\":";
    json_string(out, v);
    out += "}}";
  }
  out += "]},\"scopeSpans\":[{\"scope\":{\"name\":\"khz\"},\"spans\":[";
  first = true;
  for (const auto& s : spans) {
    if (!first) out += ',';
    first = false;
    out += "{\"traceId\":";
    json_hex(out, s.trace_id);
    out += ",\"spanId\":";
    json_hex(out, s.span_id);
    if (!s.trace_state.empty()) {
      out += ",\"traceState\":";
      json_string(out, s.trace_state);
    }
    if (!protocol::all_zero(s.parent_span_id)) {
      out += ",\"parentSpanId\":";
      json_hex(out, s.parent_span_id);
    }
    out += ",\"flags\":" + std::to_string(s.flags);
    out += ",\"name\":";
    json_string(out, s.name);
    out += ",\"kind\":" + std::to_string(static_cast<int>(s.kind));
    out += ",\"startTimeUnixNano\":\"" + std::to_string(s.start_unix_nano) + "\"";
    out += ",\"endTimeUnixNano\":\"" + std::to_string(s.end_unix_nano) + "\"";
    out += ",\"attributes\":";
    json_attributes(out, s.attributes);
    if (s.dropped_attributes != 0) out += ",\"droppedAttributesCount\":" + std::to_string(s.dropped_attributes);
    out += ",\"events\":[";
    for (std::size_t i = 0; i < s.events.size(); ++i) {
      if (i != 0) out += ',';
      out += "{\"timeUnixNano\":\"" + std::to_string(s.events[i].time_unix_nano) + "\",\"name\":";
      json_string(out, s.events[i].name);
      out += ",\"attributes\":";
      json_attributes(out, s.events[i].attributes);
      out += '}';
    }
    out += ']';
    if (s.dropped_events != 0) out += ",\"droppedEventsCount\":" + std::to_string(s.dropped_events);
    out += ",\"status\":{";
    if (s.status != StatusCode::unset) {
      out += "\"code\":" + std::to_string(static_cast<int>(s.status));
      if (!s.status_message.empty()) {
        out += ",\"message\":";
        json_string(out, s.status_message);
      }
    }
    out += "}}";
  }
  out += "]}]}]}";
  return out;
}

}  // namespace khz::tracing::otlp

// SPDX-License-Identifier: Apache-2.0
// Private to app/tracing: finished spans as an OTLP ExportTraceServiceRequest body, protobuf
// (the generated code of app/tracing/proto, from the OTLP specification) or OTLP/JSON (hex ids,
// lowerCamelCase names, integer enums, 64-bit integers as strings: the OTLP/JSON rules).
#pragma once

#include <khz/app/tracing.h>

#include <string>
#include <utility>
#include <vector>

namespace khz::tracing::otlp {

struct ResourceInfo {
  std::string service_name;
  std::vector<std::pair<std::string, std::string>> attributes;
};

std::string encode_protobuf(const std::vector<SpanData>& spans, const ResourceInfo& resource);
std::string encode_json(const std::vector<SpanData>& spans, const ResourceInfo& resource);

}  // namespace khz::tracing::otlp

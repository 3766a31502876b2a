// SPDX-License-Identifier: Apache-2.0
#include "format.h"

#include <khz/app/bind_codec.h>
#include <khz/common/json_text.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <ctime>
#include <string_view>

namespace khz::middleware::detail {
namespace {

using Field = AccessLogField;

bool selected(const AccessLogOptions& o, Field f) {
  return std::find(o.fields.begin(), o.fields.end(), f) != o.fields.end();
}

void append_number(std::string& out, std::uint64_t v) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
  (void)ec;
  out.append(digits, end);
}

void append_two(std::string& out, int v) {
  out.push_back(static_cast<char>('0' + v / 10));
  out.push_back(static_cast<char>('0' + v % 10));
}

// The host of "host:port" or "[v6]:port"; anything else ("unix:/path", "in-process") as is.
std::string_view remote_host(std::string_view peer) {
  if (peer.starts_with("unix:")) return peer;
  if (peer.starts_with('[')) {
    const auto close = peer.find(']');
    return close == std::string_view::npos ? peer : peer.substr(1, close - 1);
  }
  const auto colon = peer.rfind(':');
  if (colon == std::string_view::npos || peer.find(':') != colon) return peer;
  return peer.substr(0, colon);
}

// A combined-format value: "-" when empty; '"', '\' and bytes outside printable ASCII as \xHH.
void clf_value(std::string& out, std::string_view s) {
  if (s.empty()) {
    out.push_back('-');
    return;
  }
  static constexpr char hex[] = "0123456789ABCDEF";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\' || c < 0x20 || c > 0x7E) {
      const char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
      out.append(esc, sizeof esc);
    } else {
      out.push_back(ch);
    }
  }
}

// [05/Dec/2026:13:55:36 +0000]; the text is cached per thread for the second.
void clf_time(std::string& out, std::chrono::system_clock::time_point now) {
  thread_local std::time_t cached_second = -1;
  thread_local char cached[32];
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  if (t != cached_second) {
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    std::strftime(cached, sizeof cached, "[%d/%b/%Y:%H:%M:%S +0000]", &tm);
    cached_second = t;
  }
  out.append(cached);
}

// 2026-12-05T13:55:36.123Z; the text up to the second is cached per thread for the second.
void iso_time(std::string& out, std::chrono::system_clock::time_point now) {
  thread_local std::time_t cached_second = -1;
  thread_local char cached[32];
  thread_local std::size_t cached_size = 0;
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  if (t != cached_second) {
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    cached_size = std::strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
    cached_second = t;
  }
  out.push_back('"');
  out.append(cached, cached_size);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  out.push_back('.');
  out.push_back(static_cast<char>('0' + ms / 100));
  append_two(out, static_cast<int>(ms % 100));
  out.append("Z\"");
}

// The request body's size; -1 when unknown (a streamed body that came chunked).
std::int64_t bytes_in(RequestContext& ctx) {
  if (!ctx.body_streamed()) return static_cast<std::int64_t>(ctx.body().size());
  const std::string_view cl = ctx.header("Content-Length");
  std::uint64_t v = 0;
  if (cl.empty() || !khz::detail::parse_unsigned(cl, v)) return -1;
  return static_cast<std::int64_t>(v);
}

std::uint64_t latency_us(const CompletedResponse& done) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(done.elapsed).count());
}

void format_combined(std::string& out, const AccessLogOptions& o, RequestContext& ctx, const CompletedResponse& done,
                     std::chrono::system_clock::time_point now) {
  const bool target = selected(o, Field::target);
  const bool route = selected(o, Field::route);
  clf_value(out, selected(o, Field::remote_addr) ? remote_host(ctx.peer_address()) : std::string_view{});
  out.append(" - - ");
  if (selected(o, Field::time)) {
    clf_time(out, now);
  } else {
    out.push_back('-');
  }
  out.append(" \"");
  clf_value(out, selected(o, Field::method) ? ctx.method() : std::string_view{});
  out.push_back(' ');
  if (target) {
    clf_value(out, ctx.request().target());
  } else {
    clf_value(out, route ? ctx.full_path() : std::string_view{});
  }
  out.push_back(' ');
  clf_value(out, selected(o, Field::protocol) ? to_string(ctx.request().version()) : std::string_view{});
  out.append("\" ");
  if (selected(o, Field::status)) {
    append_number(out, static_cast<std::uint64_t>(done.status));
  } else {
    out.push_back('-');
  }
  out.push_back(' ');
  if (selected(o, Field::bytes_out)) {
    append_number(out, done.body_bytes);
  } else {
    out.push_back('-');
  }
  out.append(" \"");
  clf_value(out, selected(o, Field::referer) ? ctx.header("Referer") : std::string_view{});
  out.append("\" \"");
  clf_value(out, selected(o, Field::user_agent) ? ctx.header("User-Agent") : std::string_view{});
  out.push_back('"');
  // The extras, in a fixed order.
  if (route && target) {
    out.append(" route=\"");
    clf_value(out, ctx.full_path());
    out.push_back('"');
  }
  if (selected(o, Field::bytes_in)) {
    out.append(" bytes_in=");
    const std::int64_t in = bytes_in(ctx);
    if (in < 0) {
      out.push_back('-');
    } else {
      append_number(out, static_cast<std::uint64_t>(in));
    }
  }
  if (selected(o, Field::latency)) {
    out.append(" latency_us=");
    append_number(out, latency_us(done));
  }
  if (selected(o, Field::request_id)) {
    out.append(" request_id=\"");
    clf_value(out, ctx.response().header(o.request_id_header));
    out.push_back('"');
  }
  for (const std::string& name : o.request_headers) {
    out.append(" req_").append(name).append("=\"");
    clf_value(out, ctx.header(name));
    out.push_back('"');
  }
  for (const std::string& name : o.response_headers) {
    out.append(" resp_").append(name).append("=\"");
    clf_value(out, ctx.response().header(name));
    out.push_back('"');
  }
  out.push_back('\n');
}

// A JSON string member, null when `value` is empty.
void json_text(std::string& out, std::string_view value) {
  if (value.empty()) {
    out.append("null");
  } else {
    append_json_string(out, value);
  }
}

void format_json(std::string& out, const AccessLogOptions& o, RequestContext& ctx, const CompletedResponse& done,
                 std::chrono::system_clock::time_point now) {
  out.push_back('{');
  bool first = true;
  auto key = [&](std::string_view k) {  // k: a fixed lower-case name, nothing to escape
    out.append(first ? "\"" : ",\"");
    first = false;
    out.append(k);
    out.append("\":");
  };
  for (Field f : o.fields) {
    switch (f) {
      case Field::remote_addr: key("remote_addr"); json_text(out, remote_host(ctx.peer_address())); break;
      case Field::time: key("time"); iso_time(out, now); break;
      case Field::method: key("method"); json_text(out, ctx.method()); break;
      case Field::target: key("target"); json_text(out, ctx.request().target()); break;
      case Field::route: key("route"); json_text(out, ctx.full_path()); break;
      case Field::protocol: key("protocol"); json_text(out, to_string(ctx.request().version())); break;
      case Field::status: key("status"); append_number(out, static_cast<std::uint64_t>(done.status)); break;
      case Field::bytes_out: key("bytes_out"); append_number(out, done.body_bytes); break;
      case Field::bytes_in: {
        key("bytes_in");
        const std::int64_t in = bytes_in(ctx);
        if (in < 0) {
          out.append("null");
        } else {
          append_number(out, static_cast<std::uint64_t>(in));
        }
        break;
      }
      case Field::latency: key("latency_us"); append_number(out, latency_us(done)); break;
      case Field::user_agent: key("user_agent"); json_text(out, ctx.header("User-Agent")); break;
      case Field::referer: key("referer"); json_text(out, ctx.header("Referer")); break;
      case Field::request_id: key("request_id"); json_text(out, ctx.response().header(o.request_id_header)); break;
    }
  }
  // Header names are lower-case tokens (AccessLog's constructor sees to it): no escape needed.
  for (const std::string& name : o.request_headers) {
    if (!first) out.push_back(',');
    first = false;
    out.append("\"req_").append(name).append("\":");
    json_text(out, ctx.header(name));
  }
  for (const std::string& name : o.response_headers) {
    if (!first) out.push_back(',');
    first = false;
    out.append("\"resp_").append(name).append("\":");
    json_text(out, ctx.response().header(name));
  }
  out.append("}\n");
}

}  // namespace

void format_access_line(std::string& out, const AccessLogOptions& options, RequestContext& ctx,
                        const CompletedResponse& done, std::chrono::system_clock::time_point now) {
  if (options.format == AccessLogFormat::json) {
    format_json(out, options, ctx, done, now);
  } else {
    format_combined(out, options, ctx, done, now);
  }
}

}  // namespace khz::middleware::detail

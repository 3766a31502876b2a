// SPDX-License-Identifier: Apache-2.0
#include "format.h"

#include <khz/app/bind_codec.h>
#include <khz/common/json_text.h>
#include <khz/common/short_copy.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <string_view>

namespace khz::middleware::detail {

// Writes the line through a raw pointer into the caller's buffer: room() makes space for a
// piece's worst case, so a field costs a bounds check and a copy, not a string append's
// bookkeeping per character run. The buffer keeps its size between lines (no clearing).
class LineFormat::Writer {
 public:
  explicit Writer(std::string& buffer) : buffer_(buffer) {
    if (buffer_.size() < 256) buffer_.resize(256);
    begin_ = p_ = buffer_.data();
    end_ = begin_ + buffer_.size();
  }

  // Where to write `n` more bytes; advance() past what was written.
  char* room(std::size_t n) {
    if (static_cast<std::size_t>(end_ - p_) < n) grow(n);
    return p_;
  }
  void advance(char* to) { p_ = to; }
  void put(std::string_view s) {
    p_ = copy_short(room(s.size()), s.data(), s.size());
  }
  void put(char c) { *room(1) = c; ++p_; }
  void number(std::uint64_t v) {
    char* p = room(20);
    advance(std::to_chars(p, p + 20, v).ptr);
  }
  std::string_view text() const { return {begin_, static_cast<std::size_t>(p_ - begin_)}; }

 private:
  void grow(std::size_t n) {
    const auto used = static_cast<std::size_t>(p_ - begin_);
    buffer_.resize(std::max(buffer_.size() * 2, used + n));
    begin_ = buffer_.data();
    p_ = begin_ + used;
    end_ = begin_ + buffer_.size();
  }

  std::string& buffer_;
  char* begin_;
  char* p_;
  char* end_;
};

namespace {

using Field = AccessLogField;

std::string_view json_key(Field f) {
  switch (f) {
    case Field::remote_addr: return "remote_addr";
    case Field::time: return "time";
    case Field::method: return "method";
    case Field::target: return "target";
    case Field::route: return "route";
    case Field::protocol: return "protocol";
    case Field::status: return "status";
    case Field::bytes_out: return "bytes_out";
    case Field::bytes_in: return "bytes_in";
    case Field::latency: return "latency_us";
    case Field::user_agent: return "user_agent";
    case Field::referer: return "referer";
    case Field::request_id: return "request_id";
  }
  return "unknown";
}

void put_two(char* p, int v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
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

std::uint64_t latency_us(const CompletedResponse& done) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(done.elapsed).count());
}

// The second's text, cached per thread (a format per cache: each caller has its own statics).
template <std::size_t N>
struct SecondText {
  std::time_t second = -1;
  char text[N];
  std::size_t size = 0;
  std::string_view get(std::time_t t, const char* format) {
    if (t != second) {
      std::tm tm{};
      ::gmtime_r(&t, &tm);
      size = std::strftime(text, sizeof text, format, &tm);
      second = t;
    }
    return {text, size};
  }
};

// [05/Dec/2026:13:55:36 +0000]
std::string_view clf_time(std::chrono::system_clock::time_point now) {
  thread_local SecondText<32> cache;
  return cache.get(std::chrono::system_clock::to_time_t(now), "[%d/%b/%Y:%H:%M:%S +0000]");
}

// "2026-12-05T13:55:36.123Z", quotes included.
char* iso_time(char* p, std::chrono::system_clock::time_point now) {
  thread_local SecondText<32> cache;
  const std::string_view second = cache.get(std::chrono::system_clock::to_time_t(now), "%Y-%m-%dT%H:%M:%S");
  const auto ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  *p++ = '"';
  std::memcpy(p, second.data(), second.size());
  p += second.size();
  *p++ = '.';
  *p++ = static_cast<char>('0' + ms / 100);
  put_two(p, ms % 100);
  p += 2;
  *p++ = 'Z';
  *p++ = '"';
  return p;
}

}  // namespace

LineFormat::LineFormat(const AccessLogOptions& o) : format_(o.format), request_id_header_(o.request_id_header) {
  for (Field f : o.fields) selected_[static_cast<std::size_t>(f)] = true;
  if (format_ == AccessLogFormat::json) {
    // `{"time":`, `,"status":` …: each piece's key with its separator, as one copy.
    bool first = true;
    auto prefix = [&first](std::string_view key) {
      std::string p = first ? "{\"" : ",\"";
      first = false;
      return p.append(key).append("\":");
    };
    for (Field f : o.fields) items_.push_back({.kind = Item::Kind::field, .field = f, .prefix = prefix(json_key(f))});
    // Header names are lower-case tokens (AccessLog checked them): nothing to escape.
    for (const std::string& name : o.request_headers) {
      items_.push_back({.kind = Item::Kind::request_header, .header = name, .prefix = prefix("req_" + name)});
    }
    for (const std::string& name : o.response_headers) {
      items_.push_back({.kind = Item::Kind::response_header, .header = name, .prefix = prefix("resp_" + name)});
    }
    return;
  }
  // Combined: the extras after the fixed layout, in a fixed order; quoted ones end in '"'.
  if (selected(Field::route) && selected(Field::target)) items_.push_back({.field = Field::route, .prefix = " route=\""});
  if (selected(Field::bytes_in)) items_.push_back({.field = Field::bytes_in, .prefix = " bytes_in="});
  if (selected(Field::latency)) items_.push_back({.field = Field::latency, .prefix = " latency_us="});
  if (selected(Field::request_id)) items_.push_back({.field = Field::request_id, .prefix = " request_id=\""});
  for (const std::string& name : o.request_headers) {
    items_.push_back({.kind = Item::Kind::request_header, .header = name, .prefix = " req_" + name + "=\""});
  }
  for (const std::string& name : o.response_headers) {
    items_.push_back({.kind = Item::Kind::response_header, .header = name, .prefix = " resp_" + name + "=\""});
  }
}

std::string_view LineFormat::line(std::string& buffer, RequestContext& ctx, const CompletedResponse& done,
                                  std::chrono::system_clock::time_point now) const {
  Writer out(buffer);
  if (format_ == AccessLogFormat::json) {
    json(out, ctx, done, now);
  } else {
    combined(out, ctx, done, now);
  }
  return out.text();
}

namespace {

// A JSON string, null when `value` is empty.
void json_text(LineFormat::Writer& out, std::string_view value) {
  if (value.empty()) {
    out.put("null");
  } else {
    out.advance(write_json_string(out.room(json_string_max_size(value.size())), value));
  }
}

// The request body's size, or `unknown` ("null", "-") for a streamed body that came chunked.
void put_bytes_in(LineFormat::Writer& out, RequestContext& ctx, std::string_view unknown) {
  if (!ctx.body_streamed()) {
    out.number(ctx.body().size());
    return;
  }
  const std::string_view cl = ctx.header("Content-Length");
  std::uint64_t v = 0;
  if (cl.empty() || !khz::detail::parse_unsigned(cl, v)) {
    out.put(unknown);
  } else {
    out.number(v);
  }
}

// A combined-format value: "-" when empty; '"', '\' and bytes outside printable ASCII as \xHH.
void clf_value(LineFormat::Writer& out, std::string_view s) {
  if (s.empty()) {
    out.put('-');
    return;
  }
  static constexpr char hex[] = "0123456789ABCDEF";
  char* p = out.room(4 * s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\' || c < 0x20 || c > 0x7E) {
      *p++ = '\\';
      *p++ = 'x';
      *p++ = hex[c >> 4];
      *p++ = hex[c & 15];
    } else {
      *p++ = ch;
    }
  }
  out.advance(p);
}

}  // namespace

void LineFormat::json(Writer& out, RequestContext& ctx, const CompletedResponse& done,
                      std::chrono::system_clock::time_point now) const {
  if (items_.empty()) out.put('{');
  for (const Item& item : items_) {
    out.put(item.prefix);
    switch (item.kind) {
      case Item::Kind::request_header: json_text(out, ctx.header(item.header)); continue;
      case Item::Kind::response_header: json_text(out, ctx.response().header(item.header)); continue;
      case Item::Kind::field: break;
    }
    switch (item.field) {
      case Field::remote_addr: json_text(out, remote_host(ctx.peer_address())); break;
      case Field::time: out.advance(iso_time(out.room(32), now)); break;
      case Field::method: json_text(out, ctx.method()); break;
      case Field::target: json_text(out, ctx.request().target()); break;
      case Field::route: json_text(out, ctx.full_path()); break;
      case Field::protocol: json_text(out, to_string(ctx.request().version())); break;
      case Field::status: out.number(static_cast<std::uint64_t>(done.status)); break;
      case Field::bytes_out: out.number(done.body_bytes); break;
      case Field::bytes_in: put_bytes_in(out, ctx, "null"); break;
      case Field::latency: out.number(latency_us(done)); break;
      case Field::user_agent: json_text(out, ctx.header("User-Agent")); break;
      case Field::referer: json_text(out, ctx.header("Referer")); break;
      case Field::request_id: json_text(out, ctx.response().header(request_id_header_)); break;
    }
  }
  out.put("}\n");
}

void LineFormat::combined(Writer& out, RequestContext& ctx, const CompletedResponse& done,
                          std::chrono::system_clock::time_point now) const {
  const bool target = selected(Field::target);
  clf_value(out, selected(Field::remote_addr) ? remote_host(ctx.peer_address()) : std::string_view{});
  out.put(" - - ");
  out.put(selected(Field::time) ? clf_time(now) : std::string_view("-"));
  out.put(" \"");
  clf_value(out, selected(Field::method) ? ctx.method() : std::string_view{});
  out.put(' ');
  if (target) {
    clf_value(out, ctx.request().target());
  } else {
    clf_value(out, selected(Field::route) ? ctx.full_path() : std::string_view{});
  }
  out.put(' ');
  clf_value(out, selected(Field::protocol) ? to_string(ctx.request().version()) : std::string_view{});
  out.put("\" ");
  if (selected(Field::status)) {
    out.number(static_cast<std::uint64_t>(done.status));
  } else {
    out.put('-');
  }
  out.put(' ');
  if (selected(Field::bytes_out)) {
    out.number(done.body_bytes);
  } else {
    out.put('-');
  }
  out.put(" \"");
  clf_value(out, selected(Field::referer) ? ctx.header("Referer") : std::string_view{});
  out.put("\" \"");
  clf_value(out, selected(Field::user_agent) ? ctx.header("User-Agent") : std::string_view{});
  out.put('"');
  for (const Item& item : items_) {
    out.put(item.prefix);
    std::string_view quoted;
    switch (item.kind) {
      case Item::Kind::request_header: quoted = ctx.header(item.header); break;
      case Item::Kind::response_header: quoted = ctx.response().header(item.header); break;
      case Item::Kind::field:
        if (item.field == Field::bytes_in) {
          put_bytes_in(out, ctx, "-");
          continue;
        }
        if (item.field == Field::latency) {
          out.number(latency_us(done));
          continue;
        }
        quoted = item.field == Field::route ? ctx.full_path() : ctx.response().header(request_id_header_);
        break;
    }
    clf_value(out, quoted);
    out.put('"');
  }
  out.put('\n');
}

}  // namespace khz::middleware::detail

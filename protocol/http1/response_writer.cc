// SPDX-License-Identifier: Apache-2.0
#include "response_writer.h"

#include "head_builder.h"
#include "../common/field_value.h"
#include "../common/http_date.h"

#include <charconv>
#include <chrono>
#include <cstring>
#include <span>
#include <ctime>

namespace khz::protocol::http1 {
namespace {

// By length first: a response's fields are mostly none of these, and most differ in length.
bool is_framing_header(std::string_view name) {
  switch (name.size()) {
    case 4: return iequals(name, "Date");
    case 6: return iequals(name, "Server");
    case 10: return iequals(name, "Connection");
    case 14: return iequals(name, "Content-Length");
    case 17: return iequals(name, "Transfer-Encoding");
    default: return false;
  }
}

}  // namespace

namespace {

// The status line, Server and Date of the last head written on this thread, kept until the
// second (or any of them) changes: most responses repeat it, and one copy beats building it.
struct HeadPrefixCache {
  std::time_t second = -1;
  Version version = Version::http11;
  int status = 0;
  char server[64] = {};
  std::size_t server_size = 0;
  char text[192] = {};
  std::size_t size = 0;
};
thread_local HeadPrefixCache head_prefix_cache;

// The status line, Server and Date, in pieces handed to `put`: the one place they are spelled.
template <class Put>
void put_head_prefix(int status, const HeadOptions& options, std::string_view date, Put put) {
  char digits[12];
  char* digits_end = std::to_chars(digits, digits + sizeof digits, status).ptr;
  put(options.version == Version::http10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  put(std::string_view(digits, static_cast<std::size_t>(digits_end - digits)));
  put(" ");
  put(reason_phrase(status));
  put("\r\n");
  if (!options.server.empty()) {
    put("Server: ");
    put(options.server);
    put("\r\n");
  }
  put("Date: ");
  put(date);
  put("\r\n");
}

std::string_view cached_head_prefix(int status, const HeadOptions& options) {
  HeadPrefixCache& c = head_prefix_cache;
  std::string_view date = protocol::http_date();  // refreshes the date cache
  if (c.second == protocol::http_date_second() && c.status == status && c.version == options.version &&
      std::string_view(c.server, c.server_size) == options.server) {
    return {c.text, c.size};
  }
  if (options.server.size() > sizeof c.server) return {};
  std::size_t size = 0;
  bool fits = true;
  put_head_prefix(status, options, date, [&](std::string_view piece) {
    fits = fits && size + piece.size() <= sizeof c.text;
    if (!fits) return;
    std::memcpy(c.text + size, piece.data(), piece.size());
    size += piece.size();
  });
  if (!fits) {  // a long reason phrase: built in place each time, and the cache holds nothing
    c.second = -1;
    return {};
  }
  std::memcpy(c.server, options.server.data(), options.server.size());
  c.server_size = options.server.size();
  c.status = status;
  c.version = options.version;
  c.second = protocol::http_date_second();
  c.size = size;
  return {c.text, c.size};
}

}  // namespace

void write_head(LinkedBuffer& out, const Response& response, const HeadOptions& options) {
  HeadBuilder b(out);
  int status = response.status();
  if (std::string_view prefix = cached_head_prefix(status, options); !prefix.empty()) {
    b.add(prefix);
  } else {
    put_head_prefix(status, options, protocol::http_date(), [&b](std::string_view piece) { b.add(piece); });
  }
  // 101 Switching Protocols carries the handler's own Connection: Upgrade (RFC 9110 §7.8).
  const bool switching = status == 101;
  const bool check = response.headers().may_hold_unsendable();
  for (const auto& f : response.headers()) {
    if (is_framing_header(f.name) && !(switching && iequals(f.name, "Connection"))) continue;
    if (check && !is_sendable_field(f.name, f.value)) {  // a CR or LF would split the response
      log_unsendable_field("http1 server", f.name);
      continue;
    }
    b.field(f.name, f.value);
  }
  if (status_allows_body(status)) {
    if (options.chunked && options.version != Version::http10 && !response.trailers().empty()) {
      // RFC 9110 §6.6.2: announce the trailer fields.
      b.add("Trailer: ");
      bool first = true;
      const bool check_trailers = response.trailers().may_hold_unsendable();
      for (const auto& f : response.trailers()) {
        if (check_trailers && !is_sendable_field(f.name, f.value)) continue;  // not sent (write_last_chunk)
        if (!first) b.add(", ");
        b.add(f.name);
        first = false;
      }
      b.add("\r\n");
    }
    if (options.chunked) {
      if (options.version != Version::http10) b.field("Transfer-Encoding", "chunked");
    } else {
      b.add("Content-Length: ");
      b.add_number(options.head_request ? response.head_content_length() : response.content_length());
      b.add("\r\n");
    }
  }
  if (switching) {
  } else if (!options.keep_alive) {
    b.field("Connection", "close");
  } else if (options.version == Version::http10) {
    b.field("Connection", "keep-alive");
  }
  b.add("\r\n");
}

void write_response(LinkedBuffer& out, const Response& response, const HeadOptions& options) {
  if (response.file_body() != nullptr) {  // the server sends the file after the head; no trailers
    write_head(out, response, options);
    return;
  }
  if (!response.trailers().empty() && options.version != Version::http10 && !options.chunked) {
    // Trailers need chunked framing.
    HeadOptions chunked = options;
    chunked.chunked = true;
    write_head(out, response, chunked);
    if (!options.head_request && status_allows_body(response.status())) {
      write_chunk(out, response.body());
      write_last_chunk(out, response.trailers());
    }
    return;
  }
  write_head(out, response, options);
  if (!options.head_request && status_allows_body(response.status())) out.append(response.body());
}

void write_chunk(LinkedBuffer& out, std::string_view data) {
  if (data.empty()) return;
  char size[20];
  auto r = std::to_chars(size, size + sizeof size, data.size(), 16);
  out.append({size, static_cast<std::size_t>(r.ptr - size)});
  out.append("\r\n");
  out.append(data);
  out.append("\r\n");
}

void write_last_chunk(LinkedBuffer& out, const HeaderMap& trailers) {
  out.append("0\r\n");
  const bool check = trailers.may_hold_unsendable();
  for (const auto& f : trailers) {
    if (is_framing_header(f.name)) continue;  // RFC 9110 §6.5.1: no framing fields in trailers
    if (check && !is_sendable_field(f.name, f.value)) {
      log_unsendable_field("http1 trailer", f.name);
      continue;
    }
    out.append(f.name);
    out.append(": ");
    out.append(f.value);
    out.append("\r\n");
  }
  out.append("\r\n");
}

void write_error(LinkedBuffer& out, int status, std::string_view server) {
  Response r;
  r.set_status(status);
  std::string body(reason_phrase(status));
  body += "\n";
  r.set_body(body, "text/plain; charset=utf-8");
  write_response(out, r, {Version::http11, false, false, false, server});
}

}  // namespace khz::protocol::http1

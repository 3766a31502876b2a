// SPDX-License-Identifier: Apache-2.0
// khz::middleware::AccessLog: one line per request, in the Apache/nginx "combined" format or as
// JSON, written off the event loops.
//
//   khz::middleware::AccessLog log(server, {.sink = khz::middleware::AccessLogSink::file("/var/log/app/access.log")});
//   server.use(log.middleware(), khz::middleware::recovery(), khz::middleware::request_id());
//   // 127.0.0.1 - - [05/Dec/2026:13:55:36 +0000] "GET /users/7 HTTP/1.1" 200 17 "-" "curl/7.88.1"
//
//   khz::middleware::AccessLog json(server, {
//       .format = khz::middleware::AccessLogFormat::json,
//       .fields = {AccessLogField::time, AccessLogField::method, AccessLogField::route,
//                  AccessLogField::status, AccessLogField::latency, AccessLogField::request_id},
//       .request_headers = {"X-Tenant"}});
//   // {"time":"2026-12-05T13:55:36Z","method":"GET","route":"/users/:id","status":200,
//   //  "latency_us":412,"request_id":"5f0c...","req_x-tenant":"acme"}
//
// Put it first (outermost), before recovery: it registers an after-response hook
// (RequestContext::after_response), so it sees the final answer whatever the inner layers do,
// the Engine's 500 for a thrown handler included, and the byte count of a streamed body.
//
// How a line travels: the hook formats the line on the loop into that loop's (thread's) buffer.
// A background writer thread takes every buffer on each `flush_interval`, and at once when one
// holds `flush_bytes`, and writes them to the sink in one call. A loop never waits for the
// disk: the only lock it takes is its own buffer's, which the writer holds just long enough to
// swap two strings. When the writer falls behind (a slow disk, a blocking callback) and a
// buffer reaches `max_buffer_bytes`, further lines of that loop are dropped and counted:
// dropped() says how many in all, and one warning per interval says how many since the last.
// flush() hands everything formatted so far to the sink and returns when it is written; the
// writer flushes on the Server's shutdown (after the drain: no line of a served request is lost
// on a clean stop) and when the last AccessLog and middleware() copy is gone.
//
// Fields (AccessLogField; JSON key in brackets). The combined layout is fixed:
//   remote_addr time "method target protocol" status bytes_out "referer" "user_agent"
// a field left out of `fields` is "-" there, and where `route` is selected and `target` is not,
// the route pattern ("/users/:id", "-" when no route matched) stands in the request line, so
// ids in paths and query strings stay out of the log. Selected fields beyond these
// (route, bytes_in, latency, request_id, then the custom header fields) follow as key="value".
// JSON has exactly the selected fields, in order, then the custom header fields.
//   remote_addr  [remote_addr] the peer's "host:port"'s host (no proxy header is trusted)
//   time         [time] when the response finished, to the kernel's clock tick (a few ms; the
//                coarse clock, as nginx's cached time): combined [05/Dec/2026:13:55:36 +0000],
//                JSON RFC 3339 UTC with milliseconds
//   method       [method]
//   target       [target] the request target as received (path and query)
//   route        [route] the route pattern that matched; never the raw path ("-"/null: none)
//   protocol     [protocol] HTTP/1.0, HTTP/1.1 or HTTP/2
//   status       [status] what the client got (the Engine's 500 for a throw)
//   bytes_out    [bytes_out] body bytes: the buffered body's size, or the bytes a streamed
//                response wrote
//   bytes_in     [bytes_in] the request body's size; on a .stream_body() route its
//                Content-Length ("-"/null when it came chunked)
//   latency      [latency_us] microseconds from the middleware to the final response
//   user_agent   [user_agent]   referer [referer]
//   request_id   [request_id] the response's `request_id_header` (set by
//                khz::middleware::request_id when it runs inside this one); "-"/null when absent
// Custom header fields: request_headers (key "req_<lower-case name>") and response_headers
// ("resp_<name>"); a missing field is "-" (combined) or null (JSON).
// Escaping: JSON strings are escaped by khz's JSON writer, bytes that are not UTF-8 replaced by
// U+FFFD; in combined, '"', '\' and bytes outside printable ASCII are written \xHH (as nginx does).
//
// Options (defaults):
//   format            AccessLogFormat::combined
//   fields            remote_addr, time, method, target, protocol, status, bytes_out, referer,
//                     user_agent (combined's nine)
//   request_headers   {}    response_headers {}
//   request_id_header "X-Request-ID"
//   sink              AccessLogSink::standard_error()
//                     AccessLogSink::file(path): opened O_APPEND|O_CREAT (0644); reopened by
//                     reopen() and, with reopen_on_sighup, on SIGHUP (logrotate's postrotate
//                     `kill -HUP`); a file that cannot be opened throws std::system_error from
//                     the constructor, one that cannot be reopened keeps the old one (logged)
//                     AccessLogSink::callback(fn): fn(lines) on the writer thread, one call per
//                     batch of whole lines, each ending in '\n'; may block (lines drop instead)
//   flush_interval    1s
//   flush_bytes       1 MiB   a loop's buffer this full wakes the writer at once. Each wake is
//                     a context switch on a busy core: at 64 KiB a loop logging 45 MB/s woke
//                     it 700 times a second, which cost an Asio loop 4% of its requests
//   max_buffer_bytes  4 MiB   per loop; past it lines are dropped and counted
//   reopen_on_sighup  true (file sinks only): installs a SIGHUP handler for the process
#pragma once

#include <khz/app/handler.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace khz {
class Server;
}

namespace khz::middleware {

enum class AccessLogFormat { combined, json };

enum class AccessLogField {
  remote_addr, time, method, target, route, protocol, status, bytes_out, bytes_in, latency,
  user_agent, referer, request_id,
};

// Where the lines go. Made by the factories below.
struct AccessLogSink {
  enum class Kind { standard_error, file, callback };
  static AccessLogSink standard_error() { return AccessLogSink{}; }
  static AccessLogSink file(std::string path) {
    AccessLogSink s;
    s.kind = Kind::file;
    s.path = std::move(path);
    return s;
  }
  static AccessLogSink callback(std::function<void(std::string_view lines)> fn) {
    AccessLogSink s;
    s.kind = Kind::callback;
    s.write = std::move(fn);
    return s;
  }

  Kind kind = Kind::standard_error;
  std::string path{};
  std::function<void(std::string_view lines)> write{};
};

struct AccessLogOptions {
  AccessLogFormat format = AccessLogFormat::combined;
  std::vector<AccessLogField> fields = {AccessLogField::remote_addr, AccessLogField::time,
                                        AccessLogField::method,      AccessLogField::target,
                                        AccessLogField::protocol,    AccessLogField::status,
                                        AccessLogField::bytes_out,   AccessLogField::referer,
                                        AccessLogField::user_agent};
  std::vector<std::string> request_headers{};
  std::vector<std::string> response_headers{};
  std::string request_id_header = "X-Request-ID";
  AccessLogSink sink = AccessLogSink::standard_error();
  std::chrono::milliseconds flush_interval{1000};
  std::size_t flush_bytes = 1024 * 1024;
  std::size_t max_buffer_bytes = 4 * 1024 * 1024;
  bool reopen_on_sighup = true;
};

namespace detail {
struct AccessLogState;
}

// A handle on one access log: its writer thread, its buffers and its sink. Copies share them;
// the writer flushes and stops when the last copy (middleware() handlers included) is gone.
// Thread-safe. Throws std::invalid_argument for bad options (an empty file path, a callback
// sink without a function, a zero interval or a max_buffer_bytes below flush_bytes).
class AccessLog {
 public:
  explicit AccessLog(AccessLogOptions options = {});
  // The same, flushed by an on_shutdown hook of `server` (after its drain).
  AccessLog(Server& server, AccessLogOptions options = {});

  // The middleware; put it first.
  Handler middleware() const;
  // Writes every line formatted so far and returns once the sink has it (blocks; not from a
  // loop thread in a hot path).
  void flush();
  // Reopens a file sink (after logrotate moved the file); the writer does it before its next
  // write. No effect on other sinks.
  void reopen();
  // Lines dropped because the writer was behind, since the start.
  std::uint64_t dropped() const;
  // Lines handed to the sink, since the start.
  std::uint64_t written() const;

 private:
  std::shared_ptr<detail::AccessLogState> state_;
};

}  // namespace khz::middleware

// SPDX-License-Identifier: Apache-2.0
// khz-bench-server: the routes every peer in benchmark/ serves, for load tests.
//   GET /plaintext   -> "Hello, World!" (text/plain)
//   GET /json        -> {"message":"Hello, World!"} (serialised per request)
//   GET|POST /echo   -> the request body
//   POST /bind       -> binds and validates a JSON body (bind/bind_contract.h), renders it back
//   GET /sse?n=N&interval_ms=M -> text/event-stream: events with ids 1..N (data: the id), M ms
//                       apart, then the end of the stream; with Last-Event-ID: K, ids K+1..N
//   GET /static/...  -> the files under DIR (with --static DIR; static_fs with default options)
//   GET /ws          -> WebSocket: echoes each message as the same type (permessage-deflate offered)
//
//   khz-bench-server [--port N] [--loops N] [--transport asio|netpoll] [--max-uri-bytes N]
//                    [--max-header-bytes N] [--max-body-bytes N] [--h2c] [--tls-cert FILE --tls-key FILE]
//                    [--static DIR] [--middleware] [--metrics] [--tracing]
// --middleware: every route runs behind a realistic middleware stack (add_middleware_stack below):
// an access log (JSON lines, to a file in the temporary directory), recovery, request id, CORS
// (any origin), secure headers, a rate limiter set so it never limits, and compression (by
// Accept-Encoding); run.sh's khz-mw-<transport> servers, compared with the bare khz-<transport>.
// --metrics: every built-in instrument on (<khz/app/metrics.h>) and GET /metrics on the port;
// run.sh's khz-metrics-<transport> servers, compared with the bare khz-<transport>.
// --tracing: the tracing middleware on every route at sampling ratio 0 (each request reads
// traceparent and carries its context; no span is recorded); run.sh's khz-tracing-<transport>.
// --h2c: also serve HTTP/2 on the port (prior knowledge and Upgrade); without it, HTTP/1.1 only.
// With --tls-cert/--tls-key it serves HTTPS (TLS 1.2/1.3; h2 and http/1.1 by ALPN) instead of HTTP.
#include "bind/bind_contract.h"

#include <khz/app/server.h>
#include <khz/common/event_loop.h>
#include <khz/common/log.h>
#include <khz/middleware/access_log.h>
#include <khz/middleware/compression.h>
#include <khz/middleware/cors.h>
#include <khz/middleware/rate_limit.h>
#include <khz/middleware/recovery.h>
#include <khz/middleware/request_id.h>
#include <khz/middleware/secure_headers.h>
#include <khz/middleware/tracing.h>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <unistd.h>

namespace {

// /ws: each message back as it came (text or binary) until the peer closes.
// One message reused for every receive, as Beast's echo reuses its flat_buffer: no allocation
// per message once its buffer has grown to the largest message.
khz::Task<> ws_echo(khz::WebSocket& socket) {
  khz::WebSocketMessage message;
  for (;;) {
    auto got = co_await socket.receive(message);
    if (!got) co_return;
    auto sent = co_await socket.send(message);
    if (!sent) co_return;
  }
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "khz-bench-server: %s\n"
               "usage: khz-bench-server [--port N] [--loops N] [--transport asio|netpoll]\n"
               "                        [--max-uri-bytes N] [--max-header-bytes N] [--max-body-bytes N] [--h2c]\n"
               "                        [--tls-cert FILE --tls-key FILE] [--static DIR] [--middleware] [--metrics] [--tracing]\n",
               why);
  std::exit(2);
}

std::size_t number(const char* flag, const char* value) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(value, &end, 10);
  if (end == value || *end != '\0') usage((std::string("bad number for ") + flag).c_str());
  return static_cast<std::size_t>(v);
}

// A whole decimal number in [0, max], or nothing ("" gives `fallback`).
std::optional<std::uint64_t> query_number(std::string_view text, std::uint64_t fallback, std::uint64_t max) {
  if (text.empty()) return fallback;
  std::uint64_t v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size() || v > max) return std::nullopt;
  return v;
}

// GET /sse?n=N&interval_ms=M (N up to 10^9, default 10; M up to 60000, default 0).
khz::Task<> sse_feed(khz::RequestContext& c) {
  auto n = query_number(c.query("n"), 10, 1'000'000'000);
  auto interval = query_number(c.query("interval_ms"), 0, 60'000);
  auto resume = query_number(c.header("Last-Event-ID"), 0, UINT64_MAX);
  if (!n || !interval || !resume) {
    c.string(400, "want /sse?n=N&interval_ms=M (whole numbers; N <= 1e9, M <= 60000) and a numeric Last-Event-ID");
    co_return;
  }
  auto sse = co_await c.sse();
  for (std::uint64_t id = *resume + 1; id <= *n; ++id) {
    if (id != *resume + 1 && *interval > 0) co_await khz::sleep_for(std::chrono::milliseconds(*interval));
    khz::SseEvent ev{.id = std::to_string(id), .data = std::to_string(id)};
    if (co_await sse.send(ev)) co_return;  // the client left
  }
}

// --middleware: the stack a production service puts on every route, in the recommended order.
// Registered before the routes, so it wraps all of them.
// The access log goes to a file in the temp folder, removed when the server stops (a run writes
// hundreds of MB to it).
std::unique_ptr<khz::middleware::AccessLog> add_middleware_stack(khz::Server& server,
                                                                 const std::filesystem::path& log_file) {
  // The access log outermost, so it sees every answer (a 429 or a recovered 500 included);
  // compression innermost of these, so it applies to whatever the handlers produce.
  auto access = std::make_unique<khz::middleware::AccessLog>(server, khz::middleware::AccessLogOptions{
      .format = khz::middleware::AccessLogFormat::json,
      .fields = {khz::middleware::AccessLogField::time, khz::middleware::AccessLogField::remote_addr,
                 khz::middleware::AccessLogField::method, khz::middleware::AccessLogField::route,
                 khz::middleware::AccessLogField::status, khz::middleware::AccessLogField::bytes_out,
                 khz::middleware::AccessLogField::latency, khz::middleware::AccessLogField::request_id},
      .sink = khz::middleware::AccessLogSink::file(log_file.string())});
  std::fprintf(stderr, "khz-bench-server: access log in %s\n", log_file.c_str());
  server.use(access->middleware(),
             khz::middleware::recovery({.stack_trace = false}),
             khz::middleware::request_id(),
             khz::middleware::cors({.allow_origins = {"*"}}),
             khz::middleware::secure_headers(),
             // Keyed by client IP (wrk is one key); a bucket this large never runs dry.
             khz::middleware::rate_limit({.rate = 1e12, .burst = 4'000'000'000u}),
             khz::middleware::compression());
  return access;
}

}  // namespace

int main(int argc, char** argv) {
  // Freed memory kept at the heap's top (ServerOptions::malloc_trim_threshold), as a
  // deployment would set it: io_uring's batches otherwise make glibc return and refault it.
  khz::ServerOptions options{.address = "0.0.0.0:8080", .loops = 1, .h2c = false,
                             .malloc_trim_threshold = 64 * 1024 * 1024};
  std::string static_dir;
  bool middleware = false;
  bool metrics = false;
  bool tracing = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") usage("help");
    if (flag == "--h2c") {
      options.h2c = true;
      continue;
    }
    if (flag == "--middleware") {
      middleware = true;
      continue;
    }
    if (flag == "--metrics") {
      metrics = true;
      continue;
    }
    if (flag == "--tracing") {
      tracing = true;
      continue;
    }
    if (i + 1 >= argc) usage("missing value");
    const char* value = argv[++i];
    if (flag == "--port") options.address = "0.0.0.0:" + std::to_string(number("--port", value));
    else if (flag == "--loops") options.loops = static_cast<int>(number("--loops", value));
    else if (flag == "--transport") options.transport = value;
    else if (flag == "--max-uri-bytes") options.max_uri_bytes = number("--max-uri-bytes", value);
    else if (flag == "--max-header-bytes") options.max_header_bytes = number("--max-header-bytes", value);
    else if (flag == "--max-body-bytes") options.max_body_bytes = number("--max-body-bytes", value);
    else if (flag == "--tls-cert") options.tls_cert_file = value;
    else if (flag == "--tls-key") options.tls_key_file = value;
    else if (flag == "--static") static_dir = value;
    else usage(("unknown flag " + std::string(flag)).c_str());
  }

  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) usage("--tls-cert and --tls-key go together");
  khz::Server server(options);
  std::unique_ptr<khz::middleware::AccessLog> access_log;  // flushed when the server stops
  const auto log_file = std::filesystem::temp_directory_path() /
                        ("khz-bench-access-" + std::to_string(::getpid()) + ".log");
  if (middleware) access_log = add_middleware_stack(server, log_file);
  if (metrics) server.enable_metrics({});
  if (tracing) server.use(khz::middleware::tracing({.sampling_ratio = 0.0}));
  server.get("/plaintext", [](khz::RequestContext& c) { c.data(200, "text/plain", "Hello, World!"); });
  server.get("/json", [](khz::RequestContext& c) { c.json(200, khz::H{{"message", "Hello, World!"}}); });
  auto echo = [](khz::RequestContext& c) { c.data(200, "application/octet-stream", c.body()); };
  server.get("/echo", echo);
  server.post("/echo", echo);
  server.post("/bind", [](khz::RequestContext& c) {
    auto req = c.bind_and_validate<khz_bench::BindRequest>();
    if (!req) return c.reject(req.errors());
    c.json(200, *req);
  });
  server.get("/sse", sse_feed);
  if (!static_dir.empty()) server.static_fs("/static", static_dir);
  // permessage-deflate is accepted when the client offers it (the default options); no
  // keepalive pings, so a load run measures echo alone.
  server.websocket("/ws", &ws_echo, {.ping_interval = std::chrono::milliseconds(0)});
  int status = 0;
  try {
    server.spin();
  } catch (const std::exception& e) {  // a port in use: one line and exit 1, not an abort
    std::fprintf(stderr, "khz-bench-server: %s\n", e.what());
    status = 1;
  }
  if (access_log) {
    access_log.reset();
    std::error_code ec;
    std::filesystem::remove(log_file, ec);
  }
  return status;
}

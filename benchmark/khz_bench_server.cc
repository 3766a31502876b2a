// SPDX-License-Identifier: Apache-2.0
// khz-bench-server: the routes every peer in benchmark/ serves, for load tests.
//   GET /plaintext   -> "Hello, World!" (text/plain)
//   GET /json        -> {"message":"Hello, World!"} (serialised per request)
//   GET|POST /echo   -> the request body
//   POST /bind       -> binds and validates a JSON body (bind/bind_contract.h), renders it back
//   GET /ws          -> WebSocket: echoes each message as the same type (permessage-deflate offered)
//
//   khz-bench-server [--port N] [--loops N] [--transport asio|netpoll] [--max-uri-bytes N]
//                    [--max-header-bytes N] [--max-body-bytes N] [--h2c] [--tls-cert FILE --tls-key FILE]
// --h2c: also serve HTTP/2 on the port (prior knowledge and Upgrade); without it, HTTP/1.1 only.
// With --tls-cert/--tls-key it serves HTTPS (TLS 1.2/1.3; h2 and http/1.1 by ALPN) instead of HTTP.
#include "bind/bind_contract.h"

#include <khz/app/server.h>
#include <khz/common/log.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

// /ws: each message back as it came (text or binary) until the peer closes.
khz::Task<> ws_echo(khz::WebSocket& socket) {
  for (;;) {
    auto message = co_await socket.receive();
    if (!message) co_return;
    auto sent = co_await socket.send(*message);
    if (!sent) co_return;
  }
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "khz-bench-server: %s\n"
               "usage: khz-bench-server [--port N] [--loops N] [--transport asio|netpoll]\n"
               "                        [--max-uri-bytes N] [--max-header-bytes N] [--max-body-bytes N] [--h2c]\n"
               "                        [--tls-cert FILE --tls-key FILE]\n",
               why);
  std::exit(2);
}

std::size_t number(const char* flag, const char* value) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(value, &end, 10);
  if (end == value || *end != '\0') usage((std::string("bad number for ") + flag).c_str());
  return static_cast<std::size_t>(v);
}

}  // namespace

int main(int argc, char** argv) {
  khz::ServerOptions options{.address = "0.0.0.0:8080", .loops = 1, .h2c = false};
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") usage("help");
    if (flag == "--h2c") {
      options.h2c = true;
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
    else usage(("unknown flag " + std::string(flag)).c_str());
  }

  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) usage("--tls-cert and --tls-key go together");
  khz::Server server(options);
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
  // permessage-deflate is accepted when the client offers it (the default options); no
  // keepalive pings, so a load run measures echo alone.
  server.websocket("/ws", &ws_echo, {.ping_interval = std::chrono::milliseconds(0)});
  server.spin();
}

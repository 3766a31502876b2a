// SPDX-License-Identifier: Apache-2.0
// secure_api: the typical middleware stack in front of a small API, in the recommended order
// (user guide, "The catalogue"): access log, recovery, request id, secure headers, CORS, rate
// limit, compression; per group: authentication, a deadline, ETags.
//
//   secure_api [--port N] [--key KEY] [--access-log FILE]   (defaults: 8891, "k-demo", stderr)
//
//   curl -i localhost:8891/api/orders -H 'Authorization: Bearer k-demo'   # 200, with an X-Request-ID
//   curl -i localhost:8891/api/orders                                     # 401 + WWW-Authenticate
//   curl -i -X OPTIONS localhost:8891/api/orders -H 'Origin: https://app.example' -H 'Access-Control-Request-Method: GET'
//                                                                         # 204: a preflight
//   curl -i -u ann:correct-horse localhost:8891/admin/stats               # basic auth
//   curl -i localhost:8891/boom                                           # 500 from recovery, headers kept
//   curl -i --compressed localhost:8891/api/catalogue -H 'Authorization: Bearer k-demo'
//                                                   # zstd/br/gzip by Accept-Encoding, a weak ETag
//   curl -i localhost:8891/api/slow -H 'Authorization: Bearer k-demo'    # 504 after the deadline
//
// /api/orders asks /internal/stock over HTTP with the khz client: the request id travels with
// the call (the stock answer echoes it), with nothing passed by hand.
#include <khz/app/client.h>
#include <khz/app/server.h>
#include <khz/middleware/access_log.h>
#include <khz/middleware/basic_auth.h>
#include <khz/middleware/compression.h>
#include <khz/middleware/cors.h>
#include <khz/middleware/etag.h>
#include <khz/middleware/key_auth.h>
#include <khz/middleware/rate_limit.h>
#include <khz/middleware/recovery.h>
#include <khz/middleware/request_id.h>
#include <khz/middleware/secure_headers.h>
#include <khz/middleware/timeout.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace mw = khz::middleware;

int main(int argc, char** argv) {
  std::string port = "8891";
  std::string key = "k-demo";
  std::string access_log_file;
  CLI::App app{"secure_api: the typical middleware stack (recovery, request id, secure headers, CORS, key and basic auth) on 127.0.0.1"};
  app.add_option("--port", port, "the port")->capture_default_str();
  app.add_option("--key", key, "the API key the key-auth routes accept")->capture_default_str();
  app.add_option("--access-log", access_log_file, "write the access log (JSON lines) to this file");
  CLI11_PARSE(app, argc, argv);
  khz::Server server({.address = "127.0.0.1:" + port});
  khz::Client client;  // after the server: destroyed first

  // JSON lines with the route pattern (never the raw path), the latency and the request id.
  mw::AccessLog access(server, {
      .format = mw::AccessLogFormat::json,
      .fields = {mw::AccessLogField::time, mw::AccessLogField::remote_addr, mw::AccessLogField::method,
                 mw::AccessLogField::route, mw::AccessLogField::status, mw::AccessLogField::bytes_out,
                 mw::AccessLogField::latency, mw::AccessLogField::request_id},
      .sink = access_log_file.empty() ? mw::AccessLogSink::standard_error() : mw::AccessLogSink::file(access_log_file)});
  server.use(access.middleware(),                                 // sees every final answer
             mw::recovery(),                                      // catches what is inside
             mw::request_id(),                                    // on every answer from here in
             mw::secure_headers(),
             mw::cors({.allow_origins = {"https://app.example", "http://localhost:3000"},
                       .allow_headers = {"Content-Type", "Authorization"},
                       .expose_headers = {"X-Request-ID"}}),
             mw::rate_limit({.rate = 200, .burst = 400}),         // per client IP
             mw::compression({.min_bytes = 256}));                // what answers inside is compressed

  // Reached by /api/orders below, on the same server; echoes the request id it was sent.
  server.get("/internal/stock", [](khz::RequestContext& ctx) {
    ctx.json(200, khz::H{{"apples", 12}, {"seen_request_id", std::string(ctx.header("X-Request-ID"))}});
  });
  server.get("/boom", [](khz::RequestContext&) { throw std::runtime_error("the disk is on fire"); });

  auto api = server.group("/api", mw::key_auth({
      .lookups = {{.from = mw::KeyFrom::header, .name = "Authorization", .scheme = "Bearer"}},
      .keys = {key}}),
      mw::timeout({.after = std::chrono::milliseconds(500)}),   // cancels the handler's calls
      mw::etag());                                              // inside compression: tags the identity body
  api.get("/orders", [&](khz::RequestContext& ctx) -> khz::Task<> {
    const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/internal/stock";
    auto stock = co_await client.get(url);
    if (!stock) {
      ctx.string(502, stock.error().message());
      co_return;
    }
    ctx.data(200, "application/json", "{\"orders\":[],\"stock\":" + std::string(stock->body()) + "}");
  });

  // A JSON document worth compressing, the same on every call: its ETag brings 304s.
  std::string catalogue = "[";
  for (int i = 0; i < 64; ++i) {
    catalogue += (i ? "," : "") + std::string("{\"sku\":\"apple-") + std::to_string(i) + "\",\"price\":" + std::to_string(100 + i) + "}";
  }
  catalogue += "]";
  api.get("/catalogue", [&catalogue](khz::RequestContext& ctx) { ctx.data(200, "application/json", catalogue); });
  // Waits on an upstream that answers after the deadline: the timeout cancels the call (504).
  server.get("/internal/slow", [](khz::RequestContext& ctx) -> khz::Task<> {
    co_await khz::sleep_for(std::chrono::seconds(3));
    ctx.string(200, "late");
  });
  api.get("/slow", [&](khz::RequestContext& ctx) -> khz::Task<> {
    auto r = co_await client.get("http://127.0.0.1:" + std::to_string(server.port()) + "/internal/slow");
    ctx.string(r ? 200 : 502, r ? std::string(r->body()) : r.error().message());
  });

  auto admin = server.group("/admin", mw::basic_auth({.users = {{"ann", "correct-horse"}}}));
  admin.get("/stats", [](khz::RequestContext& ctx) {
    ctx.string(200, "hello " + *ctx.get_as<std::string>("user"));
  });

  std::printf("secure_api on http://127.0.0.1:%s\n", port.c_str());
  std::fflush(stdout);
  server.spin();
}

// SPDX-License-Identifier: Apache-2.0
// secure_api: the typical middleware stack in front of a small API.
//
//   secure_api [--port N] [--key KEY]          (defaults: 8891, "k-demo")
//
//   curl -i localhost:8891/api/orders -H 'Authorization: Bearer k-demo'   # 200, with an X-Request-ID
//   curl -i localhost:8891/api/orders                                     # 401 + WWW-Authenticate
//   curl -i -X OPTIONS localhost:8891/api/orders -H 'Origin: https://app.example' -H 'Access-Control-Request-Method: GET'
//                                                                         # 204: a preflight
//   curl -i -u ann:correct-horse localhost:8891/admin/stats               # basic auth
//   curl -i localhost:8891/boom                                           # 500 from recovery, headers kept
//
// /api/orders asks /internal/stock over HTTP with the khz client: the request id travels with
// the call (the stock answer echoes it), with nothing passed by hand.
#include <khz/app/client.h>
#include <khz/app/server.h>
#include <khz/middleware/basic_auth.h>
#include <khz/middleware/cors.h>
#include <khz/middleware/key_auth.h>
#include <khz/middleware/recovery.h>
#include <khz/middleware/request_id.h>
#include <khz/middleware/secure_headers.h>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace mw = khz::middleware;

int main(int argc, char** argv) {
  std::string port = "8891";
  std::string key = "k-demo";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--port") port = argv[i + 1];
    else if (flag == "--key") key = argv[i + 1];
  }
  khz::Server server({.address = "127.0.0.1:" + port});
  khz::Client client;  // after the server: destroyed first

  server.use(mw::recovery(), mw::request_id(), mw::secure_headers(),
             mw::cors({.allow_origins = {"https://app.example", "http://localhost:3000"},
                       .allow_headers = {"Content-Type", "Authorization"},
                       .expose_headers = {"X-Request-ID"}}));

  // Reached by /api/orders below, on the same server; echoes the request id it was sent.
  server.get("/internal/stock", [](khz::RequestContext& ctx) {
    ctx.json(200, khz::H{{"apples", 12}, {"seen_request_id", std::string(ctx.header("X-Request-ID"))}});
  });
  server.get("/boom", [](khz::RequestContext&) { throw std::runtime_error("the disk is on fire"); });

  auto api = server.group("/api", mw::key_auth({
      .lookups = {{.from = mw::KeyFrom::header, .name = "Authorization", .scheme = "Bearer"}},
      .keys = {key}}));
  api.get("/orders", [&](khz::RequestContext& ctx) -> khz::Task<> {
    const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/internal/stock";
    auto stock = co_await client.get(url);
    if (!stock) {
      ctx.string(502, stock.error().message());
      co_return;
    }
    ctx.data(200, "application/json", "{\"orders\":[],\"stock\":" + std::string(stock->body()) + "}");
  });

  auto admin = server.group("/admin", mw::basic_auth({.users = {{"ann", "correct-horse"}}}));
  admin.get("/stats", [](khz::RequestContext& ctx) {
    ctx.string(200, "hello " + *ctx.get_as<std::string>("user"));
  });

  std::printf("secure_api on http://127.0.0.1:%s\n", port.c_str());
  std::fflush(stdout);
  server.spin();
}

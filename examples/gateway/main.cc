// SPDX-License-Identifier: Apache-2.0
// The gateway: a reverse proxy route (<khz/proxy/reverse_proxy.h>). `/api/*rest` goes to an
// upstream with the /api prefix stripped (`/api/users/7?x=1` -> `/users/7?x=1`, the target
// byte for byte as sent, percent-encoding untouched), with the method, the header fields
// (minus hop-by-hop ones, plus X-Forwarded-For/Proto/Host) and the body; the rest of the
// server is free for routes of its own (here /healthz).
//
//   ./build/bin/gateway [listen address] [upstream host:port]    (127.0.0.1:8080 127.0.0.1:8888)
//   ./build/bin/hello &  ./build/bin/gateway &  curl localhost:8080/api/ping
//
// Both ways stream: the route reads the request body as it arrives (.stream_body(), so the
// downstream client sends only as fast as the upstream takes it), and the upstream's answer
// goes back piece by piece as it arrives. Upstream failures answer 502 (504 on a timeout); an
// upstream that dies mid-body cuts the client's response off rather than ending it cleanly.
// For a gateway without code of your own, see khz-gateway (tools/khz-gateway).
#include <khz/app/server.h>
#include <khz/common/version.h>
#include <khz/proxy/reverse_proxy.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:8080";
  std::string upstream = "127.0.0.1:8888";
  int positional = 0;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::printf("usage: gateway [LISTEN [UPSTREAM]]\n"
                  "  proxies /api/*path on LISTEN (default 127.0.0.1:8080) to UPSTREAM host:port "
                  "(default 127.0.0.1:8888)\n");
      return 0;
    }
    if (arg == "--version") {
      std::printf("gateway (khz %s)\n", khz::version().data());
      return 0;
    }
    if (arg.starts_with("-") || positional == 2) {
      std::fprintf(stderr, "gateway: unexpected argument '%s'\nusage: gateway [LISTEN [UPSTREAM]]\n", argv[i]);
      return 2;
    }
    (positional++ == 0 ? listen : upstream) = arg;
  }
  try {
    khz::Server server({.address = listen});
    khz::proxy::ReverseProxy api({  // after the server: destroyed first, once it has stopped
        .upstreams = {{.url = "http://" + upstream}},
        .strip_prefix = "/api",
        .response_timeout = std::chrono::seconds(10),
    });
    server.get("/healthz", [](khz::RequestContext& ctx) { ctx.string(200, "ok\n"); });
    server.any("/api/*rest", api.handler()).stream_body();
    server.spin();
  } catch (const std::exception& e) {  // a bad address, a port in use
    std::fprintf(stderr, "gateway: %s\n", e.what());
    return 1;
  }
}

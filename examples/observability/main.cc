// SPDX-License-Identifier: Apache-2.0
// The observability example: a small orders service with its metrics on. GET /metrics
// (Prometheus text or OpenMetrics) and GET /debug/khz (live loop statistics, JSON) are served
// on a port of their own, away from the public one.
//
//   ./build/bin/observability [address] [metrics-address]   (127.0.0.1:8888, 127.0.0.1:9464)
//   curl localhost:8888/orders/42; curl -X POST -d '{"item":"tea"}' localhost:8888/orders
//   curl localhost:9464/metrics; curl localhost:9464/debug/khz
#include <khz/app/server.h>

#include <cstdio>
#include <exception>
#include <string>

namespace {

void setup(khz::Server& server, const std::string& metrics_address) {
  server.enable_metrics({.address = metrics_address, .debug_path = "/debug/khz"});

  // The service's own instrument, beside the built-in ones: resolved once, counted per loop.
  auto placed = server.metrics_registry().counter("orders_placed", "Orders placed.", {"channel"}).with({"api"});

  server.get("/orders/:id", [](khz::RequestContext& ctx) {
    ctx.json(200, khz::H{{"id", std::string(ctx.param("id"))}, {"status", "shipped"}});
  });
  server.post("/orders", [placed](khz::RequestContext& ctx) {
    placed.inc();
    ctx.json(201, khz::H{{"accepted", ctx.body().size()}});
  });
}

}  // namespace

int main(int argc, char** argv) {
  const std::string address = argc > 1 ? argv[1] : "127.0.0.1:8888";
  const std::string metrics_address = argc > 2 ? argv[2] : "127.0.0.1:9464";
  try {
    khz::Server server({.address = address});
    setup(server, metrics_address);
    server.spin();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "observability: %s\n", e.what());
    return 1;
  }
}

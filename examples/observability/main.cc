// SPDX-License-Identifier: Apache-2.0
// The observability example: a small orders service with its metrics, traces and logs on.
// GET /metrics (Prometheus text or OpenMetrics) and GET /debug/khz (live loop statistics,
// JSON) are served on a port of their own, away from the public one. With
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set (OpenTelemetry's variable), every request is traced:
// a SERVER span joined to the caller's W3C traceparent, exported over OTLP/HTTP (protobuf, or
// JSON with OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json); the log line a handler writes
// carries the request's trace_id and span_id.
//
//   ./build/bin/observability [address] [metrics-address]   (127.0.0.1:8888, 127.0.0.1:9464)
//   curl localhost:8888/orders/42; curl -X POST -d '{"item":"tea"}' localhost:8888/orders
//   curl localhost:9464/metrics; curl localhost:9464/debug/khz
//   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:4318/v1/traces ./build/bin/observability
#include <khz/app/otlp_exporter.h>
#include <khz/app/server.h>
#include <khz/common/log.h>
#include <khz/middleware/tracing.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>

namespace {

void setup(khz::Server& server, const std::string& metrics_address) {
  server.enable_metrics({.address = metrics_address, .debug_path = "/debug/khz"});

  // The service's own instrument, beside the built-in ones: resolved once, counted per loop.
  auto placed = server.metrics_registry().counter("orders_placed", "Orders placed.", {"channel"}).with({"api"});

  server.get("/orders/:id", [](khz::RequestContext& ctx) {
    KHZ_LOG(info, "order looked up", khz::log::f("order_id", ctx.param("id")));  // + trace_id, span_id
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
    // Declared before the server: it outlives it, and sends what is queued when it goes.
    std::shared_ptr<khz::tracing::OtlpExporter> exporter;
    khz::Server server({.address = address});
    if (const char* endpoint = std::getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); endpoint != nullptr && *endpoint) {
      const char* protocol = std::getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL");
      exporter = khz::tracing::make_otlp_exporter({.endpoint = endpoint,
                                                   .json = protocol != nullptr && std::string(protocol) == "http/json",
                                                   .service_name = "orders"});
      server.use(khz::middleware::tracing({.exporter = exporter}));
    }
    setup(server, metrics_address);
    server.spin();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "observability: %s\n", e.what());
    return 1;
  }
}

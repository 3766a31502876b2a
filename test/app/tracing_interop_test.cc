// SPDX-License-Identifier: Apache-2.0
// Tracing interop with the real OpenTelemetry JS SDK (test/node, installed by
// scripts/install-deps.sh with `npm ci`): a node client with the SDK calls khz; khz's handler
// calls a node upstream traced with the SDK; all three export OTLP/HTTP protobuf to a receiver
// in this test, which decodes with khz's OTLP .proto. One trace id must span the three
// processes, and every parent link must hold:
//   node client (CLIENT) -> khz (SERVER) -> khz (CLIENT) -> node upstream (SERVER)
// and the baggage the node client set must reach the upstream through khz.
#include <khz/app/client.h>
#include <khz/app/otlp_exporter.h>
#include <khz/middleware/tracing.h>

#include <catch2/catch.hpp>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "support/raw_client.h"
#include "support/test_server.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

namespace tr = khz::tracing;
namespace pb = opentelemetry::proto;

namespace {

const std::string node_dir = KHZ_NODE_TEST_DIR;

struct ReceivedSpan {
  std::string service;
  pb::trace::v1::Span span;
};

// The OTLP/HTTP receiver every process exports to.
struct Receiver {
  Receiver() : server(khz::test::transports().front()) {
    server.server.post("/v1/traces", [this](khz::RequestContext& c) {
      pb::collector::trace::v1::ExportTraceServiceRequest req;
      if (!req.ParseFromString(std::string(c.body()))) {
        c.string(400, "not an ExportTraceServiceRequest");
        return;
      }
      std::lock_guard lock(mutex);
      for (const auto& rs : req.resource_spans()) {
        std::string service;
        for (const auto& kv : rs.resource().attributes()) {
          if (kv.key() == "service.name") service = kv.value().string_value();
        }
        for (const auto& ss : rs.scope_spans()) {
          for (const auto& s : ss.spans()) spans.push_back({service, s});
        }
      }
      c.data(200, "application/x-protobuf", "");
    });
    server.start();
  }
  std::vector<ReceivedSpan> snapshot() {
    std::lock_guard lock(mutex);
    return spans;
  }
  khz::test::TestServer server;
  std::mutex mutex;
  std::vector<ReceivedSpan> spans;
};

// `node upstream.js PORT ENDPOINT`, stopped at scope end.
struct NodeUpstream {
  pid_t pid = -1;
  std::uint16_t port = khz::test::unused_port();
  explicit NodeUpstream(const std::string& endpoint) {
    std::string port_text = std::to_string(port);
    std::string script = node_dir + "/upstream.js";
    pid = ::fork();
    if (pid == 0) {
      ::execlp("node", "node", script.c_str(), port_text.c_str(), endpoint.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    khz::test::eventually(
        [&] {
          try {
            ::close(khz::test::connect_loopback(port));
            return true;
          } catch (...) {
            return false;
          }
        },
        std::chrono::seconds(10));
  }
  ~NodeUpstream() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

khz::Task<std::string> call_upstream(khz::Client& client, std::string url) {
  auto r = co_await client.get(std::move(url));
  co_return r ? std::string(r->body()) : "error: " + r.error().message();
}

const ReceivedSpan* find(const std::vector<ReceivedSpan>& spans, std::string_view service, int kind) {
  for (const auto& s : spans) {
    if (s.service == service && s.span.kind() == kind) return &s;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("tracing interop: one trace across the OpenTelemetry JS SDK and khz, both ways") {
  if (!std::filesystem::exists(node_dir + "/node_modules/@opentelemetry/sdk-trace-node")) {
    FAIL("the OpenTelemetry JS SDK is not installed in test/node (scripts/install-deps.sh runs npm ci there)");
  }
  Receiver receiver;
  const std::string endpoint = receiver.server.url("/v1/traces");
  NodeUpstream upstream(endpoint);

  auto exporter = tr::make_otlp_exporter({.endpoint = endpoint, .service_name = "khz-gateway",
                                          .schedule_delay = std::chrono::milliseconds(50)});
  khz::test::TestServer khz_server(khz::test::transports().front());
  khz::Client client;
  khz_server.server.use(khz::middleware::tracing({.exporter = exporter}));
  const std::string upstream_url = "http://127.0.0.1:" + std::to_string(upstream.port) + "/stock";
  khz_server.server.get("/orders/:id", [&](khz::RequestContext& c) -> khz::Task<> {
    c.string(200, co_await call_upstream(client, upstream_url));
  });
  khz_server.start();

  auto run = khz::test::run_command("node " + node_dir + "/client.js " + khz_server.url("/orders/7") + " " + endpoint);
  REQUIRE(run.status == 0);
  CHECK(run.output == R"({"userId":"alice"})");  // the baggage reached the upstream through khz
  REQUIRE(exporter->force_flush());
  REQUIRE(khz::test::eventually([&] { return receiver.snapshot().size() >= 4; }, std::chrono::seconds(10)));
  auto spans = receiver.snapshot();
  REQUIRE(spans.size() == 4);
  using Kind = pb::trace::v1::Span;
  const ReceivedSpan* node_client = find(spans, "node-client", Kind::SPAN_KIND_CLIENT);
  const ReceivedSpan* khz_in = find(spans, "khz-gateway", Kind::SPAN_KIND_SERVER);
  const ReceivedSpan* khz_out = find(spans, "khz-gateway", Kind::SPAN_KIND_CLIENT);
  const ReceivedSpan* node_upstream = find(spans, "node-upstream", Kind::SPAN_KIND_SERVER);
  REQUIRE(node_client != nullptr);
  REQUIRE(khz_in != nullptr);
  REQUIRE(khz_out != nullptr);
  REQUIRE(node_upstream != nullptr);
  const std::string& trace = node_client->span.trace_id();
  CHECK(trace.size() == 16);
  CHECK(khz_in->span.trace_id() == trace);
  CHECK(khz_out->span.trace_id() == trace);
  CHECK(node_upstream->span.trace_id() == trace);
  CHECK(node_client->span.parent_span_id().empty());
  CHECK(khz_in->span.parent_span_id() == node_client->span.span_id());
  CHECK(khz_out->span.parent_span_id() == khz_in->span.span_id());
  CHECK(node_upstream->span.parent_span_id() == khz_out->span.span_id());
  CHECK(khz_in->span.name() == "GET /orders/:id");
  bool baggage_seen = false;
  for (const auto& kv : node_upstream->span.attributes()) {
    if (kv.key() == "baggage.userId") baggage_seen = kv.value().string_value() == "alice";
  }
  CHECK(baggage_seen);
}

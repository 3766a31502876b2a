// SPDX-License-Identifier: Apache-2.0
// <khz/app/otlp_exporter.h>: spans from a traced server reach an OTLP/HTTP receiver (a khz
// server here, decoding with the OTLP .proto), as protobuf and as OTLP/JSON; the bounded queue
// drops and counts; 503 (with Retry-After) and refused connections are retried.
#include <khz/app/otlp_exporter.h>
#include <khz/app/testing.h>
#include <khz/middleware/tracing.h>

#include <catch2/catch.hpp>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "support/test_server.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

using khz::testing::perform_request;
namespace tr = khz::tracing;
namespace pb = opentelemetry::proto;

namespace {

// An OTLP/HTTP receiver: answers `fail_first` POSTs with 503 (Retry-After: `after` seconds),
// then 200.
struct Receiver {
  explicit Receiver(int fail_first = 0, std::string after = "0")
      : server(khz::test::transports().front()), fail(fail_first), retry_after(std::move(after)) {
    server.server.post("/v1/traces", [this](khz::RequestContext& c) {
      std::lock_guard lock(mutex);
      ++posts;
      if (fail > 0) {
        --fail;
        c.set_header("Retry-After", retry_after);
        c.string(503, "busy");
        return;
      }
      content_types.emplace_back(c.header("Content-Type"));
      bodies.emplace_back(c.body());
      c.data(200, "application/x-protobuf", "");
    });
    server.start();
  }
  std::string url() const { return server.url("/v1/traces"); }

  khz::test::TestServer server;
  std::mutex mutex;
  int fail = 0;
  std::string retry_after;
  int posts = 0;
  std::vector<std::string> content_types;
  std::vector<std::string> bodies;
};

std::string hex(const std::string& bytes) {
  std::string s(bytes.size() * 2, '\0');
  khz::protocol::hex_encode(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), s.data());
  return s;
}

tr::SpanData sample_span(int i) {
  tr::SpanData s;
  s.trace_id.fill(0x11);
  s.span_id.fill(static_cast<std::uint8_t>(i + 1));
  s.name = "s" + std::to_string(i);
  s.start_unix_nano = 1;
  s.end_unix_nano = 2;
  return s;
}

}  // namespace

TEST_CASE("otlp exporter: a traced request's spans arrive as an ExportTraceServiceRequest (protobuf)") {
  Receiver receiver;
  auto exporter = tr::make_otlp_exporter({.endpoint = receiver.url(), .service_name = "orders",
                                          .resource_attributes = {{"deployment.environment", "test"}}});
  khz::Engine e;
  e.use(khz::middleware::tracing({.exporter = exporter}));
  e.get("/orders/:id", [](khz::RequestContext& c) -> khz::Task<> {
    tr::Span child = co_await tr::start_span("load");
    child.set_attribute("n", std::int64_t{3});
    child.set_attribute("ok", true);
    child.set_attribute("ratio", 0.5);
    child.add_event("cache miss", {{"key", std::string("o:7")}});
    c.string(500, "no");
  });
  REQUIRE(perform_request(e, "GET", "/orders/7",
                          {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                           {"tracestate", "rojo=1"}})
              .status() == 500);
  REQUIRE(exporter->force_flush());
  auto stats = exporter->stats();
  CHECK(stats.exported == 2);
  CHECK(stats.dropped == 0);
  std::lock_guard lock(receiver.mutex);
  REQUIRE(receiver.bodies.size() == 1);
  CHECK(receiver.content_types[0] == "application/x-protobuf");
  pb::collector::trace::v1::ExportTraceServiceRequest req;
  REQUIRE(req.ParseFromString(receiver.bodies[0]));
  REQUIRE(req.resource_spans_size() == 1);
  const auto& rs = req.resource_spans(0);
  std::map<std::string, std::string> resource;
  for (const auto& kv : rs.resource().attributes()) resource[kv.key()] = kv.value().string_value();
  CHECK(resource["service.name"] == "orders");
  CHECK(resource["telemetry.sdk.name"] == "khz");
  CHECK(resource["deployment.environment"] == "test");
  REQUIRE(rs.scope_spans_size() == 1);
  CHECK(rs.scope_spans(0).scope().name() == "khz");
  REQUIRE(rs.scope_spans(0).spans_size() == 2);
  const auto& load = rs.scope_spans(0).spans(0);
  const auto& server = rs.scope_spans(0).spans(1);
  CHECK(hex(server.trace_id()) == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(hex(server.parent_span_id()) == "00f067aa0ba902b7");
  CHECK(server.trace_state() == "rojo=1");
  CHECK(server.name() == "GET /orders/:id");
  CHECK(server.kind() == pb::trace::v1::Span::SPAN_KIND_SERVER);
  CHECK(server.flags() == 1);
  CHECK(server.status().code() == pb::trace::v1::Status::STATUS_CODE_ERROR);
  CHECK(server.end_time_unix_nano() >= server.start_time_unix_nano());
  bool saw_status = false;
  for (const auto& kv : server.attributes()) {
    if (kv.key() == "http.response.status_code") saw_status = kv.value().int_value() == 500;
  }
  CHECK(saw_status);
  CHECK(load.name() == "load");
  CHECK(load.kind() == pb::trace::v1::Span::SPAN_KIND_INTERNAL);
  CHECK(load.parent_span_id() == server.span_id());
  CHECK(load.trace_id() == server.trace_id());
  REQUIRE(load.attributes_size() == 3);
  CHECK(load.attributes(0).value().int_value() == 3);
  CHECK(load.attributes(1).value().bool_value());
  CHECK(load.attributes(2).value().double_value() == 0.5);
  REQUIRE(load.events_size() == 1);
  CHECK(load.events(0).name() == "cache miss");
  CHECK(load.events(0).attributes(0).value().string_value() == "o:7");
}

TEST_CASE("otlp exporter: the OTLP/JSON option") {
  Receiver receiver;
  tr::OtlpExporter exporter({.endpoint = receiver.url(), .json = true});
  tr::SpanData s = sample_span(0);
  s.parent_span_id.fill(0xab);
  s.attributes.push_back({"quote", std::string("a\"b\n")});
  s.attributes.push_back({"n", std::int64_t{-5}});
  s.kind = tr::SpanKind::client;
  s.status = tr::StatusCode::error;
  s.status_message = "bad";
  exporter.on_end(std::move(s));
  REQUIRE(exporter.force_flush());
  std::lock_guard lock(receiver.mutex);
  REQUIRE(receiver.bodies.size() == 1);
  CHECK(receiver.content_types[0] == "application/json");
  const std::string& body = receiver.bodies[0];
  CHECK(body.find(R"("traceId":"11111111111111111111111111111111")") != std::string::npos);
  CHECK(body.find(R"("spanId":"0101010101010101")") != std::string::npos);
  CHECK(body.find(R"("parentSpanId":"abababababababab")") != std::string::npos);
  CHECK(body.find(R"("kind":3)") != std::string::npos);
  CHECK(body.find(R"({"key":"quote","value":{"stringValue":"a\"b\n"}})") != std::string::npos);
  CHECK(body.find(R"({"key":"n","value":{"intValue":"-5"}})") != std::string::npos);
  CHECK(body.find(R"("status":{"code":2,"message":"bad"})") != std::string::npos);
  CHECK(body.find(R"("startTimeUnixNano":"1")") != std::string::npos);
  CHECK(body.find(R"({"key":"service.name","value":{"stringValue":"khz"}})") != std::string::npos);
}

TEST_CASE("otlp exporter: a full queue drops and counts; batches are cut at max_batch_size") {
  Receiver receiver;
  {
    // Nothing wakes the thread (a batch never fills, the delay is long): 3 fit, 10 are dropped.
    tr::OtlpExporter exporter({.endpoint = receiver.url(), .max_queue_size = 3, .max_batch_size = 100,
                               .schedule_delay = std::chrono::seconds(30)});
    for (int i = 0; i < 13; ++i) exporter.on_end(sample_span(i));
    CHECK(exporter.stats().dropped == 10);
    REQUIRE(exporter.force_flush());
    auto stats = exporter.stats();
    CHECK(stats.exported == 3);
    CHECK(stats.dropped == 10);
    CHECK(stats.failed == 0);
  }
  {
    std::lock_guard lock(receiver.mutex);
    receiver.bodies.clear();
  }
  tr::OtlpExporter batched({.endpoint = receiver.url(), .max_queue_size = 100, .max_batch_size = 4,
                            .schedule_delay = std::chrono::seconds(30)});
  for (int i = 0; i < 10; ++i) batched.on_end(sample_span(i));
  REQUIRE(batched.force_flush());
  CHECK(batched.stats().exported == 10);
  std::lock_guard lock(receiver.mutex);
  CHECK(receiver.bodies.size() >= 3);  // 10 spans, at most 4 a request
  int total = 0;
  for (const auto& body : receiver.bodies) {
    pb::collector::trace::v1::ExportTraceServiceRequest req;
    REQUIRE(req.ParseFromString(body));
    int n = req.resource_spans(0).scope_spans(0).spans_size();
    CHECK(n <= 4);
    total += n;
  }
  CHECK(total == 10);
}

TEST_CASE("otlp exporter: 503 with Retry-After is retried; a refused connection is retried, then counted failed") {
  Receiver receiver(2);
  tr::OtlpExporter exporter({.endpoint = receiver.url(), .max_retries = 3, .initial_backoff = std::chrono::milliseconds(5)});
  exporter.on_end(sample_span(0));
  exporter.on_end(sample_span(1));
  REQUIRE(exporter.force_flush());
  auto stats = exporter.stats();
  CHECK(stats.retries == 2);
  CHECK(stats.exported == 2);
  CHECK(stats.failed == 0);
  {
    std::lock_guard lock(receiver.mutex);
    CHECK(receiver.posts == 3);
  }

  // Retry-After: 1 is waited for, though the backoff would have been 5 ms.
  Receiver slow(1, "1");
  tr::OtlpExporter patient({.endpoint = slow.url(), .initial_backoff = std::chrono::milliseconds(5)});
  auto started = std::chrono::steady_clock::now();
  patient.on_end(sample_span(0));
  REQUIRE(patient.force_flush());
  CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(950));
  CHECK(patient.stats().exported == 1);
  CHECK(patient.stats().retries == 1);

  std::string dead;
  {
    Receiver gone;
    dead = gone.url();
  }  // stopped: its port now refuses
  tr::OtlpExporter lost({.endpoint = dead, .max_retries = 2, .initial_backoff = std::chrono::milliseconds(5)});
  lost.on_end(sample_span(0));
  REQUIRE(lost.force_flush());
  stats = lost.stats();
  CHECK(stats.retries == 2);
  CHECK(stats.failed == 1);
  CHECK(stats.exported == 0);
  CHECK_THROWS_AS(tr::OtlpExporter({.endpoint = "ftp://x/v1/traces"}), std::invalid_argument);
}

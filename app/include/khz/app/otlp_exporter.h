// SPDX-License-Identifier: Apache-2.0
// khz::tracing::OtlpExporter: ships finished spans to an OpenTelemetry collector over OTLP/HTTP
// (POST {endpoint}, default http://127.0.0.1:4318/v1/traces), protobuf
// (application/x-protobuf) or, as an option, OTLP/JSON (application/json).
//
//   auto exporter = khz::tracing::make_otlp_exporter({.endpoint = "http://otel:4318/v1/traces",
//                                                     .service_name = "orders"});
//   server.use(khz::middleware::tracing({.exporter = exporter}));
//   ...
//   exporter->shutdown();   // sends what is queued (also done by the destructor)
//
// The loops never wait for it: on_end (on the loop that ended the span) takes a mutex for a
// push_back and nothing more; a full queue (max_queue_size) drops the span and counts it. One
// background thread takes batches of up to max_batch_size spans, when a batch is full or every
// schedule_delay, and POSTs each with a BlockingClient (khz's client on a loop of its own:
// blocking is what this thread is for). A 429, 502, 503 or 504 answer or a failed connection
// is retried with exponential backoff (initial_backoff doubling up to max_backoff; a
// Retry-After in seconds is honoured up to max_backoff), at most max_retries times; another
// answer (a 400) drops the batch and counts it failed.
// The resource carries service.name (service_name), telemetry.sdk.name "khz" and
// telemetry.sdk.language "cpp", plus resource_attributes; the instrumentation scope is "khz".
// Threading: on_end from any thread; stats(), force_flush() and shutdown() from any thread but
// the exporter's own.
#pragma once

#include <khz/app/tracing.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace khz::tracing {

struct OtlpExporterOptions {
  std::string endpoint = "http://127.0.0.1:4318/v1/traces";
  bool json = false;  // OTLP/JSON instead of protobuf
  std::string service_name = "khz";
  std::vector<std::pair<std::string, std::string>> resource_attributes{};
  std::vector<std::pair<std::string, std::string>> headers{};  // sent with every export
  std::size_t max_queue_size = 2048;
  std::size_t max_batch_size = 512;
  std::chrono::milliseconds schedule_delay{5000};
  std::chrono::milliseconds export_timeout{10000};  // of one POST
  int max_retries = 5;
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
};

struct OtlpExporterStats {
  std::uint64_t exported = 0;  // spans the collector accepted
  std::uint64_t dropped = 0;   // spans refused because the queue was full
  std::uint64_t failed = 0;    // spans given up on (retries exhausted, or a non-retryable answer)
  std::uint64_t retries = 0;   // POSTs repeated
};

class OtlpExporter final : public SpanExporter {
 public:
  // Throws std::invalid_argument for an endpoint that is not an http(s) URL, or a zero size.
  explicit OtlpExporter(OtlpExporterOptions options);
  ~OtlpExporter() override;
  OtlpExporter(const OtlpExporter&) = delete;
  OtlpExporter& operator=(const OtlpExporter&) = delete;

  void on_end(SpanData&& span) noexcept override;
  OtlpExporterStats stats() const noexcept;
  // Sends everything queued now; true when the queue emptied within `timeout`.
  bool force_flush(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Sends what is queued (force_flush), then stops the thread; on_end drops afterwards.
  void shutdown();

  struct State;

 private:
  std::unique_ptr<State> state_;
};

std::shared_ptr<OtlpExporter> make_otlp_exporter(OtlpExporterOptions options);

}  // namespace khz::tracing

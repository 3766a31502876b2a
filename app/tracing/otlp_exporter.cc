// SPDX-License-Identifier: Apache-2.0
// The OTLP/HTTP exporter (otlp_exporter.h): a mutex-guarded queue the loops append to, one
// thread that batches, encodes and POSTs with retries.
#include <khz/app/otlp_exporter.h>

#include <khz/app/client/blocking_client.h>
#include <khz/app/client/url.h>
#include <khz/common/background_thread.h>
#include <khz/common/log.h>

#include "otlp_encode.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace khz::tracing {

struct OtlpExporter::State {
  explicit State(OtlpExporterOptions o)
      : options(std::move(o)), client({.total_timeout = options.export_timeout}),
        resource{options.service_name, options.resource_attributes} {}

  void run();
  void send(const std::vector<SpanData>& batch);
  // Waits up to `d` unless stopping; false when stop cut it short.
  bool pause(std::chrono::milliseconds d);

  OtlpExporterOptions options;
  BlockingClient client;
  otlp::ResourceInfo resource;

  std::mutex mutex;
  std::condition_variable wake;     // the thread: a batch is full, a flush or stop is asked
  std::condition_variable flushed;  // force_flush: the queue is empty and nothing is in flight
  std::deque<SpanData> queue;
  bool stopping = false;
  bool stopped = false;
  std::uint64_t flush_requests = 0;
  bool in_flight = false;

  std::atomic<std::uint64_t> exported{0};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> retries{0};
  std::thread thread;
};

namespace {

bool retryable(int status) { return status == 429 || status == 502 || status == 503 || status == 504; }

// Retry-After as delay-seconds (RFC 9110 §10.2.3); an HTTP-date is not honoured (nullopt).
std::optional<std::chrono::milliseconds> retry_after(std::string_view value) {
  unsigned seconds = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc() || end != value.data() + value.size() || value.empty()) return std::nullopt;
  return std::chrono::seconds(seconds);
}

}  // namespace

bool OtlpExporter::State::pause(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex);
  return !wake.wait_for(lock, d, [&] { return stopping; });
}

void OtlpExporter::State::send(const std::vector<SpanData>& batch) {
  ClientRequest req;
  req.method = "POST";
  req.url = options.endpoint;
  req.body = options.json ? otlp::encode_json(batch, resource) : otlp::encode_protobuf(batch, resource);
  req.headers.set("Content-Type", options.json ? "application/json" : "application/x-protobuf");
  for (const auto& [k, v] : options.headers) req.headers.set(k, v);
  std::chrono::milliseconds backoff = options.initial_backoff;
  for (int attempt = 0;; ++attempt) {
    auto r = client.send(req);
    if (r && r->status() >= 200 && r->status() < 300) {
      exported += batch.size();
      return;
    }
    bool again = !r || retryable(r->status());
    if (!again || attempt >= options.max_retries) {
      KHZ_LOG(warn, "otlp exporter: " << batch.size() << " spans dropped: "
                                      << (r ? "status " + std::to_string(r->status()) : r.error().message()));
      failed += batch.size();
      return;
    }
    std::chrono::milliseconds wait = backoff;
    if (r) {
      if (auto after = retry_after(r->header("Retry-After"))) wait = std::min(*after, options.max_backoff);
    }
    backoff = std::min(backoff * 2, options.max_backoff);
    ++retries;
    if (!pause(wait)) {  // stopping: one last try without waiting, then give up
      auto last = client.send(req);
      if (last && last->status() >= 200 && last->status() < 300) {
        exported += batch.size();
      } else {
        failed += batch.size();
      }
      return;
    }
  }
}

void OtlpExporter::State::run() {
  std::uint64_t flushes_seen = 0;
  while (true) {
    std::vector<SpanData> batch;
    {
      std::unique_lock lock(mutex);
      wake.wait_for(lock, options.schedule_delay, [&] {
        return stopping || queue.size() >= options.max_batch_size || flush_requests != flushes_seen;
      });
      if (queue.empty()) {
        flushes_seen = flush_requests;
        flushed.notify_all();
        if (stopping) break;
        continue;
      }
      std::size_t n = std::min(queue.size(), options.max_batch_size);
      batch.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
      }
      in_flight = true;
    }
    send(batch);
    std::lock_guard lock(mutex);
    in_flight = false;
    if (queue.empty()) flushed.notify_all();
  }
  std::lock_guard lock(mutex);
  stopped = true;
}

OtlpExporter::OtlpExporter(OtlpExporterOptions options) {
  auto url = Url::parse(options.endpoint);
  if (!url || (url->scheme != "http" && url->scheme != "https")) {
    throw std::invalid_argument("OtlpExporterOptions::endpoint: not an http(s) URL: " + options.endpoint);
  }
  if (options.max_queue_size == 0 || options.max_batch_size == 0) {
    throw std::invalid_argument("OtlpExporterOptions: max_queue_size and max_batch_size must be positive");
  }
  state_ = std::make_unique<State>(std::move(options));
  state_->thread = background_thread([s = state_.get()] { s->run(); });
}

OtlpExporter::~OtlpExporter() { shutdown(); }

void OtlpExporter::on_end(SpanData&& span) noexcept {
  State& s = *state_;
  std::lock_guard lock(s.mutex);
  if (s.stopping || s.queue.size() >= s.options.max_queue_size) {
    s.dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  try {
    s.queue.push_back(std::move(span));
  } catch (...) {
    s.dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (s.queue.size() == s.options.max_batch_size) s.wake.notify_one();
}

OtlpExporterStats OtlpExporter::stats() const noexcept {
  const State& s = *state_;
  return {s.exported.load(), s.dropped.load(), s.failed.load(), s.retries.load()};
}

bool OtlpExporter::force_flush(std::chrono::milliseconds timeout) {
  State& s = *state_;
  std::unique_lock lock(s.mutex);
  if (s.stopped) return s.queue.empty();
  ++s.flush_requests;
  s.wake.notify_one();
  return s.flushed.wait_for(lock, timeout, [&] { return s.queue.empty() && !s.in_flight; });
}

void OtlpExporter::shutdown() {
  State& s = *state_;
  if (!s.thread.joinable()) return;
  force_flush(s.options.export_timeout);
  {
    std::lock_guard lock(s.mutex);
    s.stopping = true;
  }
  s.wake.notify_all();
  s.thread.join();
}

std::shared_ptr<OtlpExporter> make_otlp_exporter(OtlpExporterOptions options) {
  return std::make_shared<OtlpExporter>(std::move(options));
}

}  // namespace khz::tracing

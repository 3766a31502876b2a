// SPDX-License-Identifier: Apache-2.0
// tracing_bench: what tracing costs on a loop, without the HTTP path (middleware_bench has the
// per-request rows: "tracing ratio 0", "tracing ratio 1, sink", against "empty chain").
//   span_unsampled          a child span of an unsampled parent: ids, ambient switch, end
//   span_sampled_sink       a sampled span, three attributes, ended into an exporter that frees it
//   span_sampled_otlp_queue the same into the OTLP exporter's queue (its thread ships to a port
//                           that refuses; the loop-side cost is the queue push)
//   await_untraced / await_traced  co_await of a ready child Task without / with an ambient span
//                           (the running-span bookkeeping on start, resume and end)
#include <khz/app/otlp_exporter.h>
#include <khz/app/tracing.h>
#include <khz/common/task.h>

#include <benchmark/benchmark.h>

#include <memory>

namespace tr = khz::tracing;

namespace {

struct SinkExporter final : tr::SpanExporter {
  void on_end(tr::SpanData&& span) noexcept override { benchmark::DoNotOptimize(span.name.data()); }
};

void span_unsampled(benchmark::State& state) {
  tr::Tracer tracer({.sampling_ratio = 0.0});
  tr::Span root(tr::SpanStart{.name = "root", .tracer = &tracer, .use_ambient = false});
  for (auto _ : state) {
    tr::Span child(tr::SpanStart{.name = "child", .parent = &root.context()});
    benchmark::DoNotOptimize(child.context().flags);
  }
}
BENCHMARK(span_unsampled);

void sampled(benchmark::State& state, std::shared_ptr<tr::SpanExporter> exporter) {
  tr::Tracer tracer({.exporter = std::move(exporter)});
  tr::Span root(tr::SpanStart{.name = "root", .tracer = &tracer, .use_ambient = false});
  for (auto _ : state) {
    tr::Span child(tr::SpanStart{.name = "child", .parent = &root.context()});
    child.set_attribute("http.request.method", "GET");
    child.set_attribute("http.response.status_code", 200);
    child.set_attribute("url.path", "/orders/7");
  }
}

void span_sampled_sink(benchmark::State& state) { sampled(state, std::make_shared<SinkExporter>()); }
BENCHMARK(span_sampled_sink);

void span_sampled_otlp_queue(benchmark::State& state) {
  // A big queue, a long delay: the loop side only (drops are counted, not waited for).
  auto exporter = tr::make_otlp_exporter({.endpoint = "http://127.0.0.1:9/v1/traces", .max_queue_size = 1 << 20,
                                          .max_batch_size = 1 << 20, .schedule_delay = std::chrono::hours(1),
                                          .max_retries = 0});
  sampled(state, exporter);
  state.counters["dropped"] = static_cast<double>(exporter->stats().dropped);
}
BENCHMARK(span_sampled_otlp_queue)->Iterations(200000);

khz::Task<int> ready_child() { co_return 1; }

khz::Task<int> await_many(int n) {
  int sum = 0;
  for (int i = 0; i < n; ++i) sum += co_await ready_child();
  co_return sum;
}

void await_loop(benchmark::State& state, const tr::AmbientSpan* span) {
  for (auto _ : state) {
    auto t = await_many(100);
    t.set_trace_span(span);
    t.handle().resume();
    benchmark::DoNotOptimize(t.done());
  }
  state.SetItemsProcessed(state.iterations() * 100);
}

void await_untraced(benchmark::State& state) { await_loop(state, nullptr); }
BENCHMARK(await_untraced);

void await_traced(benchmark::State& state) {
  tr::AmbientSpan span;
  span.set_trace_id({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1});
  span.set_span_id({2, 2, 2, 2, 2, 2, 2, 2});
  await_loop(state, &span);
}
BENCHMARK(await_traced);

}  // namespace

BENCHMARK_MAIN();

// SPDX-License-Identifier: Apache-2.0
// What the built-in server instruments cost per request: Engine::serve driven directly on a
// loop (khz::run_blocking; no socket, no codec) for GET /users/42 (route /users/:id, 200), on a
// khz::Server with metrics off, then on (Server::enable_metrics: request count and duration by
// method x route x status class x protocol, in-flight, body bytes). The summary is the CPU time
// per request on minus off. Counting into a registry directly (a counter, a histogram) has rows
// of its own, and a multi-thread row shows that threads do not slow each other down.
//
//   build/bin/metrics_bench
#include <khz/app/server.h>
#include <khz/common/event_loop.h>
#include <khz/common/metrics.h>

#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>

namespace {

void user(khz::RequestContext& c) { c.string(200, "ok"); }

struct YieldToLoop {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const { khz::EventLoop::current()->post([h] { h.resume(); }); }
  void await_resume() const noexcept {}
};

khz::Task<void> drive(benchmark::State& state, khz::Engine& engine, khz::Exchange& exchange, int& status) {
  std::uint64_t n = 0;
  for (auto _ : state) {
    exchange.response.clear();
    co_await engine.serve(exchange);
    if (++n % 16 == 0) co_await YieldToLoop{};
  }
  status = exchange.response.status();
}

void serve(benchmark::State& state, bool metrics) {
  khz::Server server({.address = "127.0.0.1:0"});
  if (metrics) server.enable_metrics({});
  server.get("/users/:id", user);
  server.get("/other", user);
  khz::Exchange exchange;
  exchange.request.set_method("GET");
  exchange.request.set_target("/users/42");
  exchange.request.headers().add("Host", "localhost");
  exchange.peer_address = "192.0.2.1:40000";
  int status = 0;
  khz::run_blocking(drive(state, server, exchange, status));
  if (status != 200) state.SkipWithError(("status " + std::to_string(status)).c_str());
}

void BM_serve_metrics_off(benchmark::State& state) { serve(state, false); }
void BM_serve_metrics_on(benchmark::State& state) { serve(state, true); }
BENCHMARK(BM_serve_metrics_off);
BENCHMARK(BM_serve_metrics_on);

khz::metrics::Registry& registry() {
  static khz::metrics::Registry r;
  return r;
}

void BM_counter_inc(benchmark::State& state) {
  static auto c = registry().counter("bench_hits", "Hits.", {"k"}).with({"v"});
  for (auto _ : state) c.inc();
}
BENCHMARK(BM_counter_inc)->ThreadRange(1, 2);

void BM_histogram_observe(benchmark::State& state) {
  static auto h = registry().histogram("bench_seconds", "Time.").with({});
  double v = 0.0001;
  for (auto _ : state) {
    h.observe(v);
    v = v < 20 ? v * 1.7 : 0.0001;
  }
}
BENCHMARK(BM_histogram_observe);

class Summary : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (!r.error_occurred) ns_[r.benchmark_name()] = r.GetAdjustedCPUTime();
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    auto off = ns_.find("BM_serve_metrics_off");
    auto on = ns_.find("BM_serve_metrics_on");
    if (off == ns_.end() || on == ns_.end()) return;
    std::printf("\nper request (CPU time): metrics off %.0f ns, on %.0f ns: %+.0f ns for the instruments\n",
                off->second, on->second, on->second - off->second);
  }

 private:
  std::map<std::string, double> ns_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  Summary summary;
  benchmark::RunSpecifiedBenchmarks(&summary);
  benchmark::Shutdown();
}

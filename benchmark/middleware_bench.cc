// SPDX-License-Identifier: Apache-2.0
// What each middleware of the catalogue costs per request: Engine::serve driven directly on a
// loop (khz::run_blocking; no socket, no codec), a GET /x whose handler answers "ok", behind
// one middleware, against the same request through an empty chain. Every 16 requests the
// driver lets the loop run its posted jobs, as a serving loop does between I/O batches (the
// same for every row). The summary printed at the end is each row's CPU time minus the
// empty chain's (CPU time: wall time on a shared machine counts other processes): the
// middleware's own cost. Each row's first request goes through
// khz::testing::perform_request and must get the row's status.
//
//   build/bin/middleware_bench                                  # every row
//   build/bin/middleware_bench --benchmark_filter='cors|empty'  # Google Benchmark flags
//
// A middleware adds its row in one line to kRows: a name, how to make it, and the request it
// should pass (or answer, for a preflight) with the status expected; a row whose status is not
// that fails instead of measuring the wrong path.
#include <khz/app/testing.h>
#include <khz/common/event_loop.h>
#include <khz/middleware/access_log.h>
#include <khz/middleware/adaptive_limit.h>
#include <khz/middleware/basic_auth.h>
#include <khz/middleware/compression.h>
#include <khz/middleware/cors.h>
#include <khz/middleware/csrf.h>
#include <khz/middleware/etag.h>
#include <khz/middleware/host_redirect.h>
#include <khz/middleware/jwt.h>
#include <khz/middleware/key_auth.h>
#include <khz/middleware/rate_limit.h>
#include <khz/middleware/recovery.h>
#include <khz/middleware/request_id.h>
#include <khz/middleware/secure_headers.h>
#include <khz/middleware/session.h>
#include <khz/middleware/timeout.h>
#include <khz/middleware/tracing.h>
#include <khz/middleware/trailing_slash.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mw = khz::middleware;
using khz::testing::Header;

namespace {

struct Row {
  const char* name;
  std::function<std::vector<khz::Handler>()> make;  // empty: the empty chain
  const char* method;
  std::vector<Header> headers;
  int status;
};

const Header kOrigin{"Origin", "https://app.example"};

// The access log as khz-bench-server --middleware configures it, to a sink that drops the lines
// on the writer thread: the row measures what the serving loop pays (formatting and hand-off).
mw::AccessLog& access_log() {
  static mw::AccessLog log({.format = mw::AccessLogFormat::json,
                            .fields = {mw::AccessLogField::time, mw::AccessLogField::remote_addr, mw::AccessLogField::method,
                                       mw::AccessLogField::route, mw::AccessLogField::status, mw::AccessLogField::bytes_out,
                                       mw::AccessLogField::latency, mw::AccessLogField::request_id},
                            .sink = mw::AccessLogSink::callback([](std::string_view) {})});
  return log;
}

// khz-bench-server --middleware's stack (add_middleware_stack there), in its order.
std::vector<khz::Handler> bench_server_stack() {
  std::vector<khz::Handler> out;
  out.push_back(access_log().middleware());
  out.push_back(mw::recovery({.stack_trace = false}));
  out.push_back(mw::request_id());
  out.push_back(mw::cors({.allow_origins = {"*"}}));
  out.push_back(mw::secure_headers());
  out.push_back(mw::rate_limit({.rate = 1e12, .burst = 4'000'000'000u}));
  out.push_back(mw::compression());
  return out;
}

template <class... H>
std::vector<khz::Handler> chain(H... h) {
  std::vector<khz::Handler> out;
  (out.push_back(std::move(h)), ...);
  return out;
}
// A span exporter that takes each finished span and frees it (the loop-side cost only).
struct SinkExporter final : khz::tracing::SpanExporter {
  void on_end(khz::tracing::SpanData&& span) noexcept override { benchmark::DoNotOptimize(span.name.data()); }
};

// One line per middleware.
const std::vector<Row> kRows = {
    {"empty chain", [] { return std::vector<khz::Handler>{}; }, "GET", {}, 200},
    {"recovery", [] { return chain(mw::recovery()); }, "GET", {}, 200},
    {"request_id", [] { return chain(mw::request_id()); }, "GET", {}, 200},
    {"cors simple", [] { return chain(mw::cors({.allow_origins = {"https://app.example"}})); }, "GET", {kOrigin}, 200},
    {"cors preflight", [] { return chain(mw::cors({.allow_origins = {"https://app.example"}})); }, "OPTIONS",
     {kOrigin, {"Access-Control-Request-Method", "PUT"}, {"Access-Control-Request-Headers", "content-type"}}, 204},
    {"secure_headers", [] { return chain(mw::secure_headers()); }, "GET", {}, 200},
    {"basic_auth", [] { return chain(mw::basic_auth({.users = {{"ann", "correct horse"}}})); }, "GET",
     {{"Authorization", "Basic YW5uOmNvcnJlY3QgaG9yc2U="}}, 200},
    {"key_auth", [] { return chain(mw::key_auth({.keys = {"k-2f9c5e1d", "k-77ab03f4"}})); }, "GET", {{"X-API-Key", "k-77ab03f4"}}, 200},
    {"trailing_slash", [] { return chain(mw::trailing_slash()); }, "GET", {}, 200},
    {"host_redirect", [] { return chain(mw::host_redirect({.host = "localhost"})); }, "GET", {}, 200},
    {"rate_limit", [] { return chain(mw::rate_limit({.rate = 1e12, .burst = 4'000'000'000u})); }, "GET", {}, 200},
    {"adaptive_limit", [] { return chain(mw::adaptive_limit()); }, "GET", {}, 200},
    {"compression declines", [] { return chain(mw::compression()); }, "GET", {}, 200},
    {"etag", [] { return chain(mw::etag()); }, "GET", {}, 200},
    {"timeout", [] { return chain(mw::timeout({.after = std::chrono::seconds(5)})); }, "GET", {}, 200},
    {"csrf safe GET", [] { return chain(mw::csrf({.secret = std::string(32, 's')})); }, "GET", {}, 200},
    {"session unchanged", [] { return chain(mw::session({.store = mw::cookie_store({.keys = {std::string(32, 'k')}})})); },
     "GET", {}, 200},
    {"jwt HS256", [] {
       mw::JwtOptions options;
       options.keys.push_back({.algorithms = {mw::JwtAlg::hs256}, .secret = "bench-secret-0123456789abcdef0123"});
       return chain(mw::jwt(std::move(options)));
     }, "GET",
     {{"Authorization", "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbm4iLCJleHAiOjQxMDI0NDQ4MDB9."
                        "3wtdak15-mB-fOaeYnlBxS9xfHo6NOVhd-9cYWeYY1w"}}, 200},
    {"access_log json", [] { return chain(access_log().middleware()); }, "GET", {}, 200},
    {"bench server stack", bench_server_stack, "GET", {}, 200},
    {"tracing ratio 0", [] { return chain(mw::tracing({.sampling_ratio = 0.0})); }, "GET", {}, 200},
    {"tracing ratio 1, sink", [] { return chain(mw::tracing({.exporter = std::make_shared<SinkExporter>()})); }, "GET", {}, 200},
    {"tracing joins traceparent", [] { return chain(mw::tracing({.exporter = std::make_shared<SinkExporter>()})); }, "GET",
     {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}, 200},
};

void ok(khz::RequestContext& c) { c.string(200, "ok"); }

// co_await yield_to_loop(): resumes through the loop's queue, after the jobs posted before.
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

void run_row(benchmark::State& state, const Row* row) {
  khz::Engine engine;
  for (khz::Handler& m : row->make()) engine.use(std::move(m));
  engine.get("/x", ok);
  engine.options("/x", ok);
  const auto first = khz::testing::perform_request(engine, row->method, "/x", row->headers);
  if (first.status() != row->status) {
    state.SkipWithError(("status " + std::to_string(first.status()) + ", not " + std::to_string(row->status)).c_str());
    return;
  }
  khz::Exchange exchange;
  exchange.request.set_method(row->method);
  exchange.request.set_target("/x");
  exchange.request.headers().add("Host", "localhost");
  for (const Header& h : row->headers) exchange.request.headers().add(h.name, h.value);
  exchange.peer_address = "192.0.2.1:40000";
  int status = 0;
  khz::run_blocking(drive(state, engine, exchange, status));
  if (status != row->status) state.SkipWithError(("status " + std::to_string(status) + " in the loop").c_str());
}

// The console report, then each row over the empty chain.
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
    const auto base = ns_.find("empty chain");
    if (base == ns_.end()) return;
    std::printf("\nown CPU cost per request (row - empty chain %.0f ns of CPU time):\n", base->second);
    for (const Row& row : kRows) {
      auto it = ns_.find(row.name);
      if (it == ns_.end() || it == base) continue;
      std::printf("  %-16s %+8.0f ns\n", row.name, it->second - base->second);
    }
  }

 private:
  std::map<std::string, double> ns_;
};

}  // namespace

int main(int argc, char** argv) {
  for (const Row& row : kRows) benchmark::RegisterBenchmark(row.name, run_row, &row);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  Summary summary;
  benchmark::RunSpecifiedBenchmarks(&summary);
  benchmark::Shutdown();
}

// SPDX-License-Identifier: Apache-2.0
//
// Compression micro benchmarks: the content codings (<khz/protocol/content_coding.h>) on a
// 16 KiB JSON body, one response each (encoder made, fed, finished), in MB/s of input with the
// compressed size as a counter; and what khz::middleware::compression costs a request when it
// declines (no Accept-Encoding, an image type), against the same Engine without it. The Engine
// is driven in process (Engine::serve on a prepared Exchange), so the figures are the
// middleware's and the body filter's own, without sockets.
//
//   cmake --build build --target compression_bench && build/bin/compression_bench
#include <khz/app/engine.h>
#include <khz/app/request_context.h>
#include <khz/middleware/compression.h>
#include <khz/protocol/content_coding.h>

#include <benchmark/benchmark.h>

#include <string>

namespace {

using khz::protocol::ContentCoding;

std::string json_body(std::size_t bytes) {
  std::string s = "[";
  for (int i = 0; s.size() < bytes; ++i) {
    s += "{\"id\":" + std::to_string(i) + ",\"name\":\"user " + std::to_string(i * 7919 % 1000) +
         "\",\"email\":\"user" + std::to_string(i) + "@example.com\",\"active\":" + (i % 3 ? "true" : "false") +
         ",\"score\":" + std::to_string(i * 31 % 997) + "},";
  }
  s.resize(bytes - 1);
  s += "]";
  return s;
}

const std::string kBody = json_body(16 * 1024);

void encode(benchmark::State& state, ContentCoding coding, int level) {
  std::string out;
  for (auto _ : state) {
    auto enc = khz::protocol::ContentEncoder::create(coding, level);
    out.clear();
    enc->feed(kBody, out);
    enc->finish(out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBody.size()));
  state.counters["out_bytes"] = static_cast<double>(out.size());
}

void decode(benchmark::State& state, ContentCoding coding) {
  auto enc = khz::protocol::ContentEncoder::create(coding, 0);
  std::string wire;
  enc->feed(kBody, wire);
  enc->finish(wire);
  std::string out;
  for (auto _ : state) {
    auto dec = khz::protocol::ContentDecoder::create(coding, 1 << 20);
    out.clear();
    if (dec->feed(wire, out) || dec->finish()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBody.size()));
}

BENCHMARK_CAPTURE(encode, gzip_1, ContentCoding::gzip, 1);
BENCHMARK_CAPTURE(encode, gzip_6, ContentCoding::gzip, 6);
BENCHMARK_CAPTURE(encode, zstd_1, ContentCoding::zstd, 1);
BENCHMARK_CAPTURE(encode, zstd_3, ContentCoding::zstd, 3);
BENCHMARK_CAPTURE(encode, br_1, ContentCoding::br, 1);
BENCHMARK_CAPTURE(encode, br_2, ContentCoding::br, 2);
BENCHMARK_CAPTURE(encode, br_3, ContentCoding::br, 3);
BENCHMARK_CAPTURE(encode, br_4, ContentCoding::br, 4);
BENCHMARK_CAPTURE(decode, gzip, ContentCoding::gzip);
BENCHMARK_CAPTURE(decode, zstd, ContentCoding::zstd);
BENCHMARK_CAPTURE(decode, br, ContentCoding::br);

// ---- the middleware's cost when it declines

khz::Task<void> serve_once(khz::Engine* engine, khz::Exchange* exchange) { co_await engine->serve(*exchange); }

void serve(benchmark::State& state, bool with_middleware, const char* path, const char* accept) {
  khz::Engine engine;
  if (with_middleware) engine.use(khz::middleware::compression());
  engine.get("/json", [](khz::RequestContext& c) { c.data(200, "application/json", kBody); });
  engine.get("/png", [](khz::RequestContext& c) { c.data(200, "image/png", kBody); });
  khz::Exchange exchange;
  for (auto _ : state) {
    exchange.clear();
    exchange.request.set_method("GET");
    exchange.request.set_target(path);
    if (*accept != '\0') exchange.request.headers().add("Accept-Encoding", accept);
    khz::Task<void> task = serve_once(&engine, &exchange);
    khz::spawn(std::move(task));  // plain handlers: runs to the end here
    benchmark::DoNotOptimize(exchange.response.body().data());
  }
  if (exchange.response.status() != 200) state.SkipWithError("the request failed");
}

BENCHMARK_CAPTURE(serve, plain_json, false, "/json", "");
BENCHMARK_CAPTURE(serve, declines_no_accept_encoding, true, "/json", "");
BENCHMARK_CAPTURE(serve, plain_png, false, "/png", "gzip, br");
BENCHMARK_CAPTURE(serve, declines_image_type, true, "/png", "gzip, br");
BENCHMARK_CAPTURE(serve, compresses_zstd, true, "/json", "gzip, br, zstd");

}  // namespace

BENCHMARK_MAIN();

// SPDX-License-Identifier: Apache-2.0
// Micro benchmarks: LinkedBuffer as a connection uses it (read a request into a node, write a
// response, release), peeks that straddle nodes, and appending a large body.
#include <khz/common/linked_buffer.h>

#include <benchmark/benchmark.h>

#include <cstring>
#include <string>

namespace {

const std::string kRequest = "GET /plaintext HTTP/1.1\r\nHost: server\r\n\r\n";
const std::string kResponse =
    "HTTP/1.1 200 OK\r\nServer: khz\r\nDate: Tue, 24 Nov 2026 19:36:26 GMT\r\nContent-Type: text/plain\r\n"
    "Content-Length: 13\r\n\r\nHello, World!";

// One keep-alive exchange: reserve+commit the request, skip it, append the response, drain it,
// shrink both (an idle connection holds no node; the pool makes that free).
void BM_ExchangeCycle(benchmark::State& state) {
  khz::LinkedBuffer in;
  khz::LinkedBuffer out;
  for (auto _ : state) {
    auto room = in.reserve(kRequest.size());
    std::memcpy(room.data(), kRequest.data(), kRequest.size());
    in.commit(kRequest.size());
    benchmark::DoNotOptimize(in.segment(0));
    in.skip(in.size());
    in.release();
    out.append(kResponse);
    std::size_t n = 0;
    out.for_each_segment([&](std::string_view s) { n += s.size(); });
    out.skip(n);
    out.release();
    in.shrink();
    out.shrink();
  }
}

void BM_PeekStraddling(benchmark::State& state) {
  khz::LinkedBuffer b;
  std::string data(2 * khz::LinkedBuffer::kDefaultNodeSize, 'x');
  b.append(data);
  b.skip(khz::LinkedBuffer::kDefaultNodeSize - 32);
  for (auto _ : state) benchmark::DoNotOptimize(b.peek(64));
}

void BM_AppendBody(benchmark::State& state) {
  std::string body(static_cast<std::size_t>(state.range(0)), 'b');
  khz::LinkedBuffer b;
  for (auto _ : state) {
    b.append(body);
    b.skip(b.size());
    b.release();
    b.shrink();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}

void BM_AppendRefBody(benchmark::State& state) {
  std::string body(static_cast<std::size_t>(state.range(0)), 'b');
  khz::LinkedBuffer b;
  for (auto _ : state) {
    b.append_ref(body);
    b.skip(b.size());
    b.release();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}

BENCHMARK(BM_ExchangeCycle);
BENCHMARK(BM_PeekStraddling);
BENCHMARK(BM_AppendBody)->Arg(1024)->Arg(16 * 1024)->Arg(1 << 20);
BENCHMARK(BM_AppendRefBody)->Arg(1024)->Arg(16 * 1024)->Arg(1 << 20);

}  // namespace

BENCHMARK_MAIN();

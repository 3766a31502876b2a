// SPDX-License-Identifier: Apache-2.0
// Micro benchmarks: the HTTP/1.1 request parser on typical requests, whole and split in two
// separately stored pieces (the arena path), and pipelined.
#include "http1/request_parser.h"
#include "http1_requests.h"

#include <benchmark/benchmark.h>

#include <memory>
#include <string>

namespace {

using namespace khz::bench;

void parse_whole(benchmark::State& state, const std::string& msg) {
  khz::protocol::http1::RequestParser parser(kLimits);
  khz::Request request;
  for (auto _ : state) {
    parser.start(request);
    std::size_t n = parser.feed(msg);
    // A body follows: take it whole, as the server does after its decision.
    if (parser.needs_body_decision()) {
      parser.configure_body(false, kLimits.max_body_bytes);
      n += parser.feed(std::string_view(msg).substr(n));
    }
    benchmark::DoNotOptimize(n);
    if (!parser.done()) state.SkipWithError("not parsed");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * msg.size()));
}

void BM_ParseSmallGet(benchmark::State& s) { parse_whole(s, kSmall); }
void BM_ParseBrowserGet(benchmark::State& s) { parse_whole(s, kBrowser); }
void BM_ParsePostJson(benchmark::State& s) { parse_whole(s, kPost); }

// The browser request split inside the Cookie value, in two buffers: one token is copied.
void BM_ParseBrowserGetSplit(benchmark::State& state) {
  std::size_t cut = kBrowser.find("session=") + 12;
  auto a = std::make_unique<std::string>(kBrowser.substr(0, cut));
  auto b = std::make_unique<std::string>(kBrowser.substr(cut));
  khz::protocol::http1::RequestParser parser(kLimits);
  khz::Request request;
  for (auto _ : state) {
    parser.start(request);
    parser.feed(*a);
    parser.feed(*b);
    if (!parser.done()) state.SkipWithError("not parsed");
  }
}

// 16 pipelined requests in one buffer, parsed message by message.
void BM_ParsePipelined16(benchmark::State& state) {
  std::string all;
  for (int i = 0; i < 16; ++i) all += kSmall;
  khz::protocol::http1::RequestParser parser(kLimits);
  khz::Request request;
  for (auto _ : state) {
    std::string_view rest(all);
    while (!rest.empty()) {
      parser.start(request);
      rest.remove_prefix(parser.feed(rest));
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 16));
}

BENCHMARK(BM_ParseSmallGet);
BENCHMARK(BM_ParseBrowserGet);
BENCHMARK(BM_ParsePostJson);
BENCHMARK(BM_ParseBrowserGetSplit);
BENCHMARK(BM_ParsePipelined16);

}  // namespace

BENCHMARK_MAIN();

// SPDX-License-Identifier: Apache-2.0
// Micro benchmarks of khz::log: a call below the threshold (nothing evaluated), a line with
// fields to the JSON file sink as the caller pays for it (format + append to its buffer; the
// writer thread does the disk), and the writer's throughput (lines appended and written out).
//
//   build/bin/log_bench --benchmark_min_time=0.2
#include <khz/common/line_writer.h>
#include <khz/common/log.h>
#include <khz/common/log_sink.h>

#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <string>

#include <unistd.h>

namespace {

std::string temp_path(const char* name) { return std::string("/tmp/khz-log-bench-") + name + "-" + std::to_string(::getpid()); }

void BM_DisabledCall(benchmark::State& state) {
  khz::log::set_level(khz::log::Level::info);
  std::int64_t id = 0;
  for (auto _ : state) {
    KHZ_LOG(debug, "order " << id << " placed", khz::log::f("order_id", id), khz::log::f("user", "ann"));
    ++id;
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_DisabledCall);

// A line as a handler would write it: a short streamed message and three fields.
void BM_FileSinkLine(benchmark::State& state) {
  const std::string path = temp_path("sink");
  khz::log::set_level(khz::log::Level::info);
  khz::log::set_sink_level(khz::log::standard_error_sink, khz::log::Level::off);
  auto file = khz::log::FileSink::open({.path = path, .max_bytes = 256 << 20, .keep = 1, .flush_interval = std::chrono::milliseconds(100),
                                        .max_buffer_bytes = 64 << 20});
  const auto id = khz::log::add_sink(file, khz::log::Level::info);
  std::int64_t n = 0;
  for (auto _ : state) {
    KHZ_LOG(info, "order placed", khz::log::f("order_id", n), khz::log::f("user", "ann"),
            khz::log::f("total", 12.5));
    ++n;
  }
  khz::log::flush();
  state.counters["dropped"] = static_cast<double>(file->dropped());
  khz::log::remove_sink(id);
  khz::log::set_sink_level(khz::log::standard_error_sink, khz::log::Level::trace);
  std::remove(path.c_str());
  std::remove((path + ".1").c_str());
}
BENCHMARK(BM_FileSinkLine);

// The same line through KHZ_LOG with a streamed message (the existing call sites' form).
void BM_FileSinkStreamedLine(benchmark::State& state) {
  const std::string path = temp_path("stream");
  khz::log::set_level(khz::log::Level::info);
  khz::log::set_sink_level(khz::log::standard_error_sink, khz::log::Level::off);
  auto file = khz::log::FileSink::open({.path = path, .max_bytes = 256 << 20, .keep = 1, .flush_interval = std::chrono::milliseconds(100),
                                        .max_buffer_bytes = 64 << 20});
  const auto id = khz::log::add_sink(file, khz::log::Level::info);
  std::int64_t n = 0;
  const std::string peer = "10.0.0.7:51234";
  for (auto _ : state) {
    KHZ_LOG(info, "closing " << peer << ": idle for " << n << " ms");
    ++n;
  }
  khz::log::flush();
  state.counters["dropped"] = static_cast<double>(file->dropped());
  khz::log::remove_sink(id);
  khz::log::set_sink_level(khz::log::standard_error_sink, khz::log::Level::trace);
  std::remove(path.c_str());
  std::remove((path + ".1").c_str());
}
BENCHMARK(BM_FileSinkStreamedLine);

// The writer thread's rate: 100k JSON-sized lines appended, then flush() (written to a file);
// wall-clock time, since the writing happens on the writer thread.
void BM_WriterThroughput(benchmark::State& state) {
  const std::string path = temp_path("writer");
  const std::string line =
      "{\"time\":\"2026-12-05T16:33:43.123Z\",\"level\":\"info\",\"msg\":\"order placed\",\"order_id\":12345,"
      "\"user\":\"ann\",\"total\":12.5}\n";
  constexpr int kLines = 100000;
  khz::LineWriter writer({.name = "bench", .max_buffer_bytes = 64 << 20},
                         std::make_unique<khz::FileLineOutput>(khz::FileOutputOptions{.path = path, .max_bytes = 64 << 20, .keep = 1}));
  for (auto _ : state) {
    for (int i = 0; i < kLines; ++i) writer.append(line);
    writer.flush();
  }
  state.SetItemsProcessed(state.iterations() * kLines);
  state.SetBytesProcessed(state.iterations() * kLines * static_cast<std::int64_t>(line.size()));
  state.counters["dropped"] = static_cast<double>(writer.dropped());
  std::remove(path.c_str());
  std::remove((path + ".1").c_str());
}
BENCHMARK(BM_WriterThroughput)->Unit(benchmark::kMillisecond)->UseRealTime();  // the work is on the writer thread

}  // namespace

BENCHMARK_MAIN();

// SPDX-License-Identifier: Apache-2.0
// khz::metrics: counters, gauges and histograms with labels, counted per thread and merged when
// scraped, so that counting on the request path takes no lock, no shared atomic and no
// allocation. Any layer may count (common has no khz dependency); <khz/common/metrics_text.h>
// renders a registry as Prometheus or OpenMetrics text.
//
//   khz::metrics::Registry registry;
//   auto requests = registry.counter("app_jobs", "Jobs run.", {"kind"});   // exposed as app_jobs_total
//   khz::metrics::Counter batch = requests.with({"batch"});                 // resolve once (locks)
//   batch.inc();                                                           // then: per-thread cell
//   auto latency = registry.histogram("app_job_duration_seconds", "Job time.", {});
//   latency.with({}).observe(0.042);
//
// How it stays cheap and race-free (why ThreadSanitizer has nothing to report):
//
//   series ──> cell index (fixed when the series is first resolved: a counter or gauge takes
//              1 cell, a histogram buckets+2: one per bucket, +Inf, the sum)
//
//   thread A's shard:  [chunk 0: 1024 cells][chunk 1][ null ]...   written by A only
//   thread B's shard:  [chunk 0: 1024 cells][ null ]...            written by B only
//   retired totals:    what exited threads had counted (under the registry's mutex)
//
// - A cell is a std::atomic<uint64_t> that only its owner thread writes: inc() is a relaxed
//   load, an add and a relaxed store (no read-modify-write, no lock prefix, no contention).
//   Histogram sums keep a double's bits in the cell the same way.
// - A scrape takes the registry's mutex and reads every shard's cells with relaxed loads: it
//   may see a count a moment old, never a torn one, and each cell is a single word.
// - A shard grows a chunk at a time (allocated zeroed, published with a release store of the
//   chunk pointer; the scrape loads it with acquire); chunks never move, so a reader never sees
//   freed memory. Growing happens once per 1024 cells per thread, never per request once a
//   series has been seen.
// - A thread finds its shard through a small thread-local table (one compare in the usual
//   case of one registry); its first use of a registry makes the shard under the mutex.
// - When a thread exits, its shards are folded into the retired totals and freed, under the
//   mutex: counts survive their threads, and a scrape sees each count exactly once.
// - Gauges are per-thread deltas (add/sub) summed at scrape: an up-down count such as requests
//   in flight may rise on one thread and fall on another. Values that live elsewhere (pool
//   sizes, open connections) are read at scrape time by a callback (Registry::callback).
//
// Threading: a Registry is safe from any thread. Resolving a series (with()) locks; the
// handles it returns are trivially copyable and used from any thread, each thread counting in
// its own cells. Counting into a destroyed registry is a bug. Names and label names follow
// Prometheus ([a-zA-Z_:][a-zA-Z0-9_:]*; bad ones throw std::invalid_argument); label values are
// any UTF-8 and are escaped on output.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace khz::metrics {

// OpenTelemetry's advice for http.server.request.duration, in seconds.
inline constexpr double http_duration_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                                   0.5,   0.75, 1,     2.5,  5,     7.5, 10};

enum class Kind : std::uint8_t { counter, gauge, histogram };

namespace detail {
struct Core;
// The calling thread's cell `index` of `core`'s registry (made on first use).
std::atomic<std::uint64_t>& cell(Core& core, std::uint32_t index);
inline void add_u64(std::atomic<std::uint64_t>& c, std::uint64_t n) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);  // owner-only writer
}
}  // namespace detail

// A series' cells on the calling thread, found once (Counter::for_this_thread() and the like):
// counting through one is a store into that thread's own cells, with no lookup at all. For a
// path that keeps per-thread state already (a LoopLocal): resolve once on each thread, then
// count. Use one only on the thread that made it, while its registry lives. Default-constructed:
// counts nothing.
class ThreadCounter {
 public:
  ThreadCounter() = default;
  void inc(std::uint64_t n = 1) const noexcept {
    if (cell_ != nullptr) detail::add_u64(*cell_, n);
  }

 private:
  friend class Counter;
  explicit ThreadCounter(std::atomic<std::uint64_t>* cell) noexcept : cell_(cell) {}
  std::atomic<std::uint64_t>* cell_ = nullptr;
};

class ThreadGauge {
 public:
  ThreadGauge() = default;
  void add(std::int64_t n) const noexcept {
    if (cell_ != nullptr) detail::add_u64(*cell_, static_cast<std::uint64_t>(n));
  }
  void inc() const noexcept { add(1); }
  void dec() const noexcept { add(-1); }
  // What this thread has added (the series' value is the sum over threads).
  std::int64_t local_value() const noexcept {
    return cell_ == nullptr ? 0 : static_cast<std::int64_t>(cell_->load(std::memory_order_relaxed));
  }

 private:
  friend class Gauge;
  explicit ThreadGauge(std::atomic<std::uint64_t>* cell) noexcept : cell_(cell) {}
  std::atomic<std::uint64_t>* cell_ = nullptr;
};

class ThreadHistogram {
 public:
  ThreadHistogram() = default;
  void observe(double value) const noexcept;

 private:
  friend class Histogram;
  ThreadHistogram(std::atomic<std::uint64_t>* cells, const double* bounds, std::uint32_t n) noexcept
      : cells_(cells), bounds_(bounds), bucket_count_(n) {}
  std::atomic<std::uint64_t>* cells_ = nullptr;  // buckets, +Inf, the sum: contiguous
  const double* bounds_ = nullptr;
  std::uint32_t bucket_count_ = 0;
};

// A counter series. Default-constructed: counts nothing (a null check is the only cost).
class Counter {
 public:
  Counter() = default;
  void inc(std::uint64_t n = 1) const {
    if (core_ != nullptr) detail::add_u64(detail::cell(*core_, index_), n);
  }
  // This series' cell on the calling thread (see ThreadCounter).
  ThreadCounter for_this_thread() const {
    return ThreadCounter(core_ == nullptr ? nullptr : &detail::cell(*core_, index_));
  }
  explicit operator bool() const noexcept { return core_ != nullptr; }

 private:
  friend class Registry;
  template <class S> friend class Family;
  Counter(detail::Core* core, std::uint32_t index) : core_(core), index_(index) {}
  detail::Core* core_ = nullptr;
  std::uint32_t index_ = 0;
};

// A gauge series: the sum over threads of what each added.
class Gauge {
 public:
  Gauge() = default;
  void add(std::int64_t n) const {
    if (core_ != nullptr) detail::add_u64(detail::cell(*core_, index_), static_cast<std::uint64_t>(n));
  }
  void inc() const { add(1); }
  void dec() const { add(-1); }
  ThreadGauge for_this_thread() const {
    return ThreadGauge(core_ == nullptr ? nullptr : &detail::cell(*core_, index_));
  }
  explicit operator bool() const noexcept { return core_ != nullptr; }

 private:
  friend class Registry;
  template <class S> friend class Family;
  Gauge(detail::Core* core, std::uint32_t index) : core_(core), index_(index) {}
  detail::Core* core_ = nullptr;
  std::uint32_t index_ = 0;
};

// A histogram series: cumulative buckets (upper bounds, ascending), count and sum.
class Histogram {
 public:
  Histogram() = default;
  void observe(double value) const;
  ThreadHistogram for_this_thread() const {
    return core_ == nullptr ? ThreadHistogram() : ThreadHistogram(&detail::cell(*core_, index_), bounds_, bucket_count_);
  }
  explicit operator bool() const noexcept { return core_ != nullptr; }

 private:
  friend class Registry;
  template <class S> friend class Family;
  Histogram(detail::Core* core, std::uint32_t index, const double* bounds, std::uint32_t n)
      : core_(core), index_(index), bounds_(bounds), bucket_count_(n) {}
  detail::Core* core_ = nullptr;
  std::uint32_t index_ = 0;       // first bucket's cell (not cumulative); then +Inf, the sum (one chunk)
  const double* bounds_ = nullptr;  // owned by the family (stable)
  std::uint32_t bucket_count_ = 0;
};

class Registry;

// A family's handle: resolves label values to a series. with() locks the registry and
// allocates the first time a combination is seen; keep the handle it returns.
template <class Series>
class Family {
 public:
  Family() = default;
  // Values in the order of the family's label names; a wrong count throws std::invalid_argument.
  Series with(std::initializer_list<std::string_view> values) const;
  Series with(std::span<const std::string_view> values) const;

 private:
  friend class Registry;
  Family(Registry* r, std::uint32_t f) : registry_(r), family_(f) {}
  Registry* registry_ = nullptr;
  std::uint32_t family_ = 0;
};

// What a callback reports at scrape time: one value per label combination.
class CallbackSink {
 public:
  virtual ~CallbackSink() = default;
  virtual void value(std::initializer_list<std::string_view> label_values, double v) = 0;
};

// One series as a scrape sees it (Registry::collect).
struct Sample {
  std::vector<std::string> label_values;
  double value = 0;                    // counter, gauge
  std::vector<std::uint64_t> buckets;  // histogram: cumulative counts per bound, then +Inf
  std::uint64_t count = 0;             // histogram
  double sum = 0;                      // histogram
};

struct FamilySnapshot {
  std::string name;  // a counter's without "_total"
  std::string help;
  Kind kind = Kind::counter;
  std::vector<std::string> label_names;
  std::vector<double> bounds;  // histogram
  std::vector<Sample> samples;  // in the order first resolved
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // A counter family. `name` without "_total" (the exposition adds it; a trailing "_total" is
  // dropped). Registering a name twice with the same kind and labels returns the same family;
  // with different ones, std::invalid_argument.
  Family<Counter> counter(std::string_view name, std::string_view help, std::vector<std::string> label_names = {});
  Family<Gauge> gauge(std::string_view name, std::string_view help, std::vector<std::string> label_names = {});
  // `bounds`: bucket upper bounds, strictly ascending, finite (+Inf is implied), at most 1000.
  Family<Histogram> histogram(std::string_view name, std::string_view help, std::vector<std::string> label_names = {},
                              std::span<const double> bounds = http_duration_buckets);
  // A counter or gauge family whose values are read at scrape time: `fn` reports them through
  // the sink. It runs on the scraping thread with the registry locked: it must not use this
  // registry, and should be quick. Registering the name again (same kind and labels) adds a
  // callback to the family (samples reported with the same label values add up). Returns an id for
  // remove_callback.
  std::uint64_t callback(std::string_view name, std::string_view help, Kind kind, std::vector<std::string> label_names,
                         std::function<void(CallbackSink&)> fn);
  void remove_callback(std::uint64_t id);

  // Every family with its merged values (cells of live threads plus retired totals).
  std::vector<FamilySnapshot> collect() const;

  // Threads that have counted here and not exited (for tests).
  std::size_t live_threads() const;

 private:
  template <class S> friend class Family;
  std::uint32_t resolve(std::uint32_t family, std::span<const std::string_view> values);
  std::uint32_t add_family(std::string_view name, std::string_view help, Kind kind,
                           std::vector<std::string> label_names, std::span<const double> bounds);
  const double* bounds_of(std::uint32_t family) const;
  std::uint32_t bucket_count_of(std::uint32_t family) const;
  detail::Core* core() const noexcept;

  std::shared_ptr<detail::Core> core_;
};

template <class Series>
Series Family<Series>::with(std::initializer_list<std::string_view> values) const {
  return with(std::span<const std::string_view>(values.begin(), values.size()));
}

template <>
Counter Family<Counter>::with(std::span<const std::string_view> values) const;
template <>
Gauge Family<Gauge>::with(std::span<const std::string_view> values) const;
template <>
Histogram Family<Histogram>::with(std::span<const std::string_view> values) const;

}  // namespace khz::metrics

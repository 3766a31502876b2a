// SPDX-License-Identifier: Apache-2.0
// The registry behind <khz/common/metrics.h>: families, series, per-thread shards, the merge.
#include <khz/common/metrics.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <map>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

namespace khz::metrics {

namespace detail {
namespace {

constexpr std::uint32_t chunk_cells = 1024;
constexpr std::uint32_t max_chunks = 4096;  // 4M cells per registry
constexpr std::size_t max_bounds = 1000;     // a histogram's cells (bounds + 2) fit in a chunk

struct Shard {
  // chunks[i] is written (once, release) by the owner thread only; read (acquire) by scrapes.
  std::array<std::atomic<std::atomic<std::uint64_t>*>, max_chunks> chunks{};
  ~Shard() {
    for (auto& c : chunks) delete[] c.load(std::memory_order_relaxed);
  }
};

struct SeriesEntry {
  std::vector<std::string> values;
  std::uint32_t index;
};

struct FamilyEntry {
  std::string name;
  std::string help;
  Kind kind;
  std::vector<std::string> label_names;
  std::vector<double> bounds;
  std::vector<SeriesEntry> series;
  std::unordered_map<std::string, std::uint32_t> by_key;  // joined values -> series position
  // A scrape-time family (Registry::callback): no cells; one callback per registration (two
  // servers sharing a registry each report theirs under one family).
  bool scrape_time = false;
  std::vector<std::pair<std::uint64_t, std::function<void(CallbackSink&)>>> callbacks;
};

std::atomic<std::uint64_t> next_core_id{1};

bool valid_name(std::string_view s, bool colon_ok) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':') ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

}  // namespace

struct Core {
  const std::uint64_t id = next_core_id.fetch_add(1, std::memory_order_relaxed);
  mutable std::mutex mutex;
  std::vector<std::unique_ptr<FamilyEntry>> families;
  std::vector<Shard*> shards;              // live threads' (owned by their ThreadShards entries)
  std::vector<std::uint64_t> retired;      // exited threads' totals, by cell
  std::vector<bool> is_double;             // cells holding a double's bits (histogram sums)
  std::uint32_t next_cell = 0;
  std::uint64_t next_callback = 1;
  std::weak_ptr<Core> self;  // set once by the Registry, before any thread counts

  // Folds `shard` into `retired` and forgets it. Locked by the caller.
  void retire(Shard* shard) {
    if (retired.size() < next_cell) retired.resize(next_cell, 0);
    for (std::uint32_t c = 0; c < max_chunks; ++c) {
      auto* chunk = shard->chunks[c].load(std::memory_order_acquire);
      if (chunk == nullptr) continue;
      for (std::uint32_t i = 0; i < chunk_cells; ++i) {
        const std::uint32_t index = c * chunk_cells + i;
        if (index >= next_cell) break;
        const std::uint64_t v = chunk[i].load(std::memory_order_relaxed);
        if (is_double[index]) {
          retired[index] = std::bit_cast<std::uint64_t>(std::bit_cast<double>(retired[index]) + std::bit_cast<double>(v));
        } else {
          retired[index] += v;
        }
      }
    }
    std::erase(shards, shard);
  }

  // The merged value of cell `index`, as raw bits: an integer sum, or a double sum's bits.
  std::uint64_t merged(std::uint32_t index) const {
    const bool dbl = is_double[index];
    double d = 0;
    std::uint64_t u = 0;
    auto add = [&](std::uint64_t v) {
      if (dbl) d += std::bit_cast<double>(v); else u += v;
    };
    if (index < retired.size()) add(retired[index]);
    const std::uint32_t c = index / chunk_cells;
    for (const Shard* s : shards) {
      auto* chunk = s->chunks[c].load(std::memory_order_acquire);
      if (chunk != nullptr) add(chunk[index % chunk_cells].load(std::memory_order_relaxed));
    }
    return dbl ? std::bit_cast<std::uint64_t>(d) : u;
  }
};

namespace {

// The calling thread's shards, one per registry it has counted into. The destructor (thread
// exit) retires each into its registry, if that still exists.
struct ThreadShards {
  struct Entry {
    std::uint64_t core_id;
    Core* core;
    std::weak_ptr<Core> alive;
    std::unique_ptr<Shard> shard;
  };
  std::vector<Entry> entries;

  ~ThreadShards();
};

// The shard this thread counted into last, and its registry's id (0: none): constant-initialised
// and trivially destructible, so the hot path reads it without the guard every access to
// thread_shards (a thread_local with a destructor) goes through. Ids are never reused, so a
// registry gone since never matches.
struct LastShard {
  std::uint64_t core_id = 0;
  Shard* shard = nullptr;
};
constinit thread_local LastShard last_shard;

ThreadShards::~ThreadShards() {
    for (auto& e : entries) {
      if (auto core = e.alive.lock()) {
        std::lock_guard lock(core->mutex);
        core->retire(e.shard.get());
      }
    }
    last_shard = {};  // its shard is gone with the thread's entries
  }

thread_local ThreadShards thread_shards;

Shard& shard_slow(Core& core) {
  auto& ts = thread_shards;
  for (auto& e : ts.entries) {
    if (e.core_id == core.id) {
      last_shard = {e.core_id, e.shard.get()};
      return *e.shard;
    }
  }
  // Entries of registries gone since: drop (their shards were freed with nothing to fold into).
  std::erase_if(ts.entries, [](const ThreadShards::Entry& e) { return e.alive.expired(); });
  std::weak_ptr<Core> alive = core.self;
  auto shard = std::make_unique<Shard>();
  {
    std::lock_guard lock(core.mutex);
    core.shards.push_back(shard.get());
  }
  Shard& made = *shard;
  ts.entries.push_back({core.id, &core, std::move(alive), std::move(shard)});
  last_shard = {core.id, &made};
  return made;
}

[[gnu::noinline]] std::atomic<std::uint64_t>* grow(Shard& shard, std::uint32_t chunk) {
  if (chunk >= max_chunks) throw std::length_error("khz::metrics: too many series");
  auto* cells = new std::atomic<std::uint64_t>[chunk_cells];
  for (std::uint32_t i = 0; i < chunk_cells; ++i) cells[i].store(0, std::memory_order_relaxed);
  shard.chunks[chunk].store(cells, std::memory_order_release);
  return cells;
}

}  // namespace

std::atomic<std::uint64_t>& cell(Core& core, std::uint32_t index) {
  const LastShard last = last_shard;
  Shard& shard = last.core_id == core.id ? *last.shard : shard_slow(core);
  const std::uint32_t c = index / chunk_cells;
  auto* chunk = shard.chunks[c].load(std::memory_order_relaxed);  // this thread's own store
  if (chunk == nullptr) [[unlikely]] chunk = grow(shard, c);
  return chunk[index % chunk_cells];
}

}  // namespace detail

using detail::Core;
using detail::FamilyEntry;
using detail::SeriesEntry;

void Histogram::observe(double value) const {
  if (core_ != nullptr) for_this_thread().observe(value);
}

void ThreadHistogram::observe(double value) const noexcept {
  if (cells_ == nullptr) return;
  std::uint32_t i = 0;
  while (i < bucket_count_ && value > bounds_[i]) ++i;  // le: value <= bound
  detail::add_u64(cells_[i], 1);
  auto& sum = cells_[bucket_count_ + 1];
  sum.store(std::bit_cast<std::uint64_t>(std::bit_cast<double>(sum.load(std::memory_order_relaxed)) + value),
            std::memory_order_relaxed);
}

Registry::Registry() : core_(std::make_shared<Core>()) { core_->self = core_; }

Registry::~Registry() = default;

Core* Registry::core() const noexcept { return core_.get(); }

std::uint32_t Registry::add_family(std::string_view name, std::string_view help, Kind kind,
                                   std::vector<std::string> label_names, std::span<const double> bounds) {
  if (kind == Kind::counter && name.ends_with("_total")) name.remove_suffix(6);
  if (!detail::valid_name(name, true)) {
    throw std::invalid_argument("khz::metrics: bad metric name '" + std::string(name) + "'");
  }
  for (const auto& l : label_names) {
    if (!detail::valid_name(l, false) || l.starts_with("__") || (kind == Kind::histogram && l == "le")) {
      throw std::invalid_argument("khz::metrics: bad label name '" + l + "' for " + std::string(name));
    }
  }
  if (bounds.size() > detail::max_bounds) {
    throw std::invalid_argument("khz::metrics: " + std::string(name) + ": more than " +
                                std::to_string(detail::max_bounds) + " bucket bounds");
  }
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      throw std::invalid_argument("khz::metrics: " + std::string(name) +
                                  ": bucket bounds must be finite and strictly ascending");
    }
  }
  std::lock_guard lock(core_->mutex);
  for (std::uint32_t f = 0; f < core_->families.size(); ++f) {
    auto& fam = *core_->families[f];
    if (fam.name != name) continue;
    const bool same = fam.kind == kind && fam.label_names == label_names && !fam.scrape_time &&
                      std::equal(fam.bounds.begin(), fam.bounds.end(), bounds.begin(), bounds.end());
    if (!same) {
      throw std::invalid_argument("khz::metrics: '" + std::string(name) + "' registered twice, differently");
    }
    return f;
  }
  auto fam = std::make_unique<FamilyEntry>();
  fam->name = name;
  fam->help = help;
  fam->kind = kind;
  fam->label_names = std::move(label_names);
  if (kind == Kind::histogram) fam->bounds.assign(bounds.begin(), bounds.end());
  core_->families.push_back(std::move(fam));
  return static_cast<std::uint32_t>(core_->families.size() - 1);
}

Family<Counter> Registry::counter(std::string_view name, std::string_view help, std::vector<std::string> label_names) {
  return {this, add_family(name, help, Kind::counter, std::move(label_names), {})};
}
Family<Gauge> Registry::gauge(std::string_view name, std::string_view help, std::vector<std::string> label_names) {
  return {this, add_family(name, help, Kind::gauge, std::move(label_names), {})};
}
Family<Histogram> Registry::histogram(std::string_view name, std::string_view help,
                                      std::vector<std::string> label_names, std::span<const double> bounds) {
  return {this, add_family(name, help, Kind::histogram, std::move(label_names), bounds)};
}

std::uint64_t Registry::callback(std::string_view name, std::string_view help, Kind kind,
                                 std::vector<std::string> label_names, std::function<void(CallbackSink&)> fn) {
  if (kind == Kind::histogram) throw std::invalid_argument("khz::metrics: a callback family is a counter or a gauge");
  if (kind == Kind::counter && name.ends_with("_total")) name.remove_suffix(6);
  if (!detail::valid_name(name, true)) {
    throw std::invalid_argument("khz::metrics: bad metric name '" + std::string(name) + "'");
  }
  for (const auto& l : label_names) {
    if (!detail::valid_name(l, false) || l.starts_with("__")) {
      throw std::invalid_argument("khz::metrics: bad label name '" + l + "' for " + std::string(name));
    }
  }
  std::lock_guard lock(core_->mutex);
  const auto id = core_->next_callback++;
  for (auto& fam : core_->families) {
    if (fam->name != name) continue;
    if (!fam->scrape_time || fam->kind != kind || fam->label_names != label_names) {
      throw std::invalid_argument("khz::metrics: '" + std::string(name) + "' registered twice, differently");
    }
    fam->callbacks.emplace_back(id, std::move(fn));
    return id;
  }
  auto fam = std::make_unique<FamilyEntry>();
  fam->name = name;
  fam->help = help;
  fam->kind = kind;
  fam->label_names = std::move(label_names);
  fam->scrape_time = true;
  fam->callbacks.emplace_back(id, std::move(fn));
  core_->families.push_back(std::move(fam));
  return id;
}

void Registry::remove_callback(std::uint64_t id) {
  std::lock_guard lock(core_->mutex);
  // Families are addressed by position: a family whose last callback goes stays, empty, and
  // is left out of scrapes.
  for (auto& fam : core_->families) {
    std::erase_if(fam->callbacks, [id](const auto& c) { return c.first == id; });
  }
}

std::uint32_t Registry::resolve(std::uint32_t family, std::span<const std::string_view> values) {
  std::lock_guard lock(core_->mutex);
  auto& fam = *core_->families.at(family);
  if (values.size() != fam.label_names.size()) {
    throw std::invalid_argument("khz::metrics: " + fam.name + " takes " + std::to_string(fam.label_names.size()) +
                                " label values, got " + std::to_string(values.size()));
  }
  std::string key;
  for (auto v : values) {
    key += v;
    key.push_back('\xff');  // never in UTF-8
  }
  if (auto it = fam.by_key.find(key); it != fam.by_key.end()) return fam.series[it->second].index;
  const std::uint32_t width = fam.kind == Kind::histogram ? static_cast<std::uint32_t>(fam.bounds.size()) + 2 : 1;
  // A series' cells share a chunk (ThreadHistogram addresses them from the first): one that
  // would straddle two starts the next chunk instead (the cells skipped stay zero, unused).
  std::uint32_t index = core_->next_cell;
  if (index % detail::chunk_cells + width > detail::chunk_cells) index += detail::chunk_cells - index % detail::chunk_cells;
  if (static_cast<std::uint64_t>(index) + width > std::uint64_t{detail::chunk_cells} * detail::max_chunks) {
    throw std::length_error("khz::metrics: too many series");
  }
  core_->next_cell = index + width;
  core_->is_double.resize(core_->next_cell, false);
  if (fam.kind == Kind::histogram) core_->is_double[index + width - 1] = true;
  SeriesEntry entry{{}, index};
  for (auto v : values) entry.values.emplace_back(v);
  fam.series.push_back(std::move(entry));
  fam.by_key.emplace(std::move(key), static_cast<std::uint32_t>(fam.series.size() - 1));
  return index;
}

const double* Registry::bounds_of(std::uint32_t family) const {
  std::lock_guard lock(core_->mutex);
  return core_->families.at(family)->bounds.data();  // never changes after registration
}

std::uint32_t Registry::bucket_count_of(std::uint32_t family) const {
  std::lock_guard lock(core_->mutex);
  return static_cast<std::uint32_t>(core_->families.at(family)->bounds.size());
}

template <>
Counter Family<Counter>::with(std::span<const std::string_view> values) const {
  if (registry_ == nullptr) return {};
  return Counter(registry_->core(), registry_->resolve(family_, values));
}
template <>
Gauge Family<Gauge>::with(std::span<const std::string_view> values) const {
  if (registry_ == nullptr) return {};
  return Gauge(registry_->core(), registry_->resolve(family_, values));
}
template <>
Histogram Family<Histogram>::with(std::span<const std::string_view> values) const {
  if (registry_ == nullptr) return {};
  const auto index = registry_->resolve(family_, values);
  return Histogram(registry_->core(), index, registry_->bounds_of(family_), registry_->bucket_count_of(family_));
}

namespace {
struct CollectSink final : CallbackSink {
  FamilySnapshot* out;
  std::size_t labels;
  void value(std::initializer_list<std::string_view> label_values, double v) override {
    if (label_values.size() != labels) return;  // a mismatched report is dropped, not guessed at
    for (auto& seen : out->samples) {  // several callbacks (servers sharing a registry): one sum
      if (std::equal(seen.label_values.begin(), seen.label_values.end(), label_values.begin(), label_values.end())) {
        seen.value += v;
        return;
      }
    }
    Sample s;
    for (auto l : label_values) s.label_values.emplace_back(l);
    s.value = v;
    out->samples.push_back(std::move(s));
  }
};
}  // namespace

std::vector<FamilySnapshot> Registry::collect() const {
  std::lock_guard lock(core_->mutex);
  std::vector<FamilySnapshot> out;
  out.reserve(core_->families.size());
  for (const auto& fam : core_->families) {
    FamilySnapshot snap{fam->name, fam->help, fam->kind, fam->label_names, fam->bounds, {}};
    if (fam->scrape_time) {
      if (fam->callbacks.empty()) continue;  // every callback removed
      CollectSink sink;
      sink.out = &snap;
      sink.labels = fam->label_names.size();
      for (const auto& [id, fn] : fam->callbacks) fn(sink);
      out.push_back(std::move(snap));
      continue;
    }
    for (const auto& series : fam->series) {
      Sample s;
      s.label_values = series.values;
      if (fam->kind == Kind::histogram) {
        const auto n = static_cast<std::uint32_t>(fam->bounds.size());
        std::uint64_t running = 0;
        for (std::uint32_t i = 0; i <= n; ++i) {
          running += core_->merged(series.index + i);
          s.buckets.push_back(running);
        }
        s.count = running;
        s.sum = std::bit_cast<double>(core_->merged(series.index + n + 1));
      } else if (fam->kind == Kind::gauge) {
        s.value = static_cast<double>(static_cast<std::int64_t>(core_->merged(series.index)));
      } else {
        s.value = static_cast<double>(core_->merged(series.index));
      }
      snap.samples.push_back(std::move(s));
    }
    out.push_back(std::move(snap));
  }
  return out;
}

std::size_t Registry::live_threads() const {
  std::lock_guard lock(core_->mutex);
  return core_->shards.size();
}

}  // namespace khz::metrics

// SPDX-License-Identifier: Apache-2.0
// metrics::Registry: series by label values, per-thread cells merged exactly (live threads,
// exited ones, both while counting goes on), histogram buckets, gauges that rise on one thread
// and fall on another, scrape-time callbacks, and the setup errors.
#include <khz/common/metrics.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

namespace metrics = khz::metrics;

namespace {
const metrics::FamilySnapshot& family(const std::vector<metrics::FamilySnapshot>& all, std::string_view name) {
  for (const auto& f : all) {
    if (f.name == name) return f;
  }
  FAIL("no family " << name);
  throw 0;
}
const metrics::Sample* sample(const metrics::FamilySnapshot& f, std::vector<std::string> values) {
  for (const auto& s : f.samples) {
    if (s.label_values == values) return &s;
  }
  return nullptr;
}
}  // namespace

TEST_CASE("metrics: a counter series per label combination, resolved once") {
  metrics::Registry r;
  auto fam = r.counter("jobs_total", "Jobs.", {"kind"});
  auto a = fam.with({"a"});
  auto a2 = fam.with({"a"});
  auto b = fam.with({"b"});
  a.inc();
  a2.inc(2);
  b.inc(5);
  auto all = r.collect();
  const auto& f = family(all, "jobs");  // "_total" is the exposition's
  REQUIRE(f.kind == metrics::Kind::counter);
  REQUIRE(f.samples.size() == 2);
  REQUIRE(sample(f, {"a"})->value == 3);
  REQUIRE(sample(f, {"b"})->value == 5);
  REQUIRE_THROWS_AS(fam.with({"a", "b"}), std::invalid_argument);
  REQUIRE_FALSE(metrics::Counter{});
  metrics::Counter{}.inc();  // a null handle counts nothing, safely
}

TEST_CASE("metrics: many threads' counts merge exactly, live and exited") {
  metrics::Registry r;
  auto c = r.counter("hits", "Hits.", {"t"}).with({"x"});
  auto g = r.gauge("level", "Level.").with({});
  auto h = r.histogram("lat", "Latency.", {}, std::vector<double>{1, 2}).with({});
  constexpr int threads = 8;
  constexpr int per_thread = 100000;
  std::atomic<bool> stop{false};
  // A scraper running all along: every count it sees is a prefix of the final one.
  std::uint64_t scrapes = 0;
  double last_seen = 0;
  bool monotonic = true;
  std::thread scraper([&] {
    while (!stop.load()) {
      auto all = r.collect();
      const double v = family(all, "hits").samples.at(0).value;
      if (v < last_seen) monotonic = false;
      last_seen = v;
      ++scrapes;
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        c.inc();
        h.observe(i % 3 == 0 ? 0.5 : (i % 3 == 1 ? 1.5 : 2.5));
        g.inc();
      }
      // Half the gauge goes back down on another thread below.
      (void)t;
    });
  }
  for (auto& w : workers) w.join();  // these threads' shards are retired now
  REQUIRE(r.live_threads() <= 2);    // the scraper's shard, if any; never a joined worker's
  std::thread down([&] {
    for (int i = 0; i < threads * per_thread / 2; ++i) g.dec();
  });
  down.join();
  c.inc(7);  // and one live thread (this one)
  stop = true;
  scraper.join();
  REQUIRE(monotonic);
  REQUIRE(scrapes > 0);
  auto all = r.collect();
  REQUIRE(family(all, "hits").samples.at(0).value == threads * per_thread + 7);
  REQUIRE(family(all, "level").samples.at(0).value == threads * per_thread / 2);
  const auto& hs = family(all, "lat").samples.at(0);
  REQUIRE(hs.count == std::uint64_t{threads} * per_thread);
  REQUIRE(hs.buckets.size() == 3);
  // i % 3: 0 -> le 1, 1 -> le 2, 2 -> +Inf; 100000 = 33334 + 33333 + 33333 per thread.
  REQUIRE(hs.buckets[0] == 33334ull * threads);
  REQUIRE(hs.buckets[1] == (33334ull + 33333) * threads);
  REQUIRE(hs.buckets[2] == 100000ull * threads);
  REQUIRE(hs.sum == Approx((33334 * 0.5 + 33333 * 1.5 + 33333 * 2.5) * threads));
}

TEST_CASE("metrics: histogram buckets are upper bounds, inclusive") {
  metrics::Registry r;
  auto h = r.histogram("d", "D.", {"route"}, std::vector<double>{0.1, 1}).with({"/a"});
  h.observe(0.1);   // le 0.1
  h.observe(0.11);  // le 1
  h.observe(1);     // le 1
  h.observe(50);    // +Inf
  auto all = r.collect();
  const auto& s = family(all, "d").samples.at(0);
  REQUIRE(s.buckets == std::vector<std::uint64_t>{1, 3, 4});
  REQUIRE(s.count == 4);
  REQUIRE(s.sum == Approx(51.21));
}

TEST_CASE("metrics: the default buckets are OpenTelemetry's HTTP duration buckets") {
  metrics::Registry r;
  r.histogram("d", "D.").with({}).observe(0.2);
  auto all = r.collect();
  const auto& f = family(all, "d");
  REQUIRE(f.bounds == std::vector<double>{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10});
  REQUIRE(f.samples.at(0).buckets.at(5) == 0);  // le 0.1
  REQUIRE(f.samples.at(0).buckets.at(6) == 1);  // le 0.25
}

TEST_CASE("metrics: callbacks report at scrape time") {
  metrics::Registry r;
  int pool = 3;
  auto id = r.callback("pool_connections", "Pool.", metrics::Kind::gauge, {"state"}, [&](metrics::CallbackSink& s) {
    s.value({"idle"}, pool);
    s.value({"active"}, 1);
    s.value({"too", "many"}, 9);  // dropped
  });
  auto all = r.collect();
  const auto& f = family(all, "pool_connections");
  REQUIRE(f.samples.size() == 2);
  REQUIRE(sample(f, {"idle"})->value == 3);
  pool = 4;
  REQUIRE(sample(family(r.collect(), "pool_connections"), {"idle"})->value == 4);
  // A second registration (another server sharing the registry) reports in the same family.
  auto id2 = r.callback("pool_connections", "Pool.", metrics::Kind::gauge, {"state"},
                        [](metrics::CallbackSink& s) { s.value({"other"}, 7); });
  REQUIRE(family(r.collect(), "pool_connections").samples.size() == 3);
  REQUIRE_THROWS_AS(r.callback("pool_connections", "Pool.", metrics::Kind::counter, {"state"}, nullptr),
                    std::invalid_argument);
  r.remove_callback(id);
  REQUIRE(family(r.collect(), "pool_connections").samples.size() == 1);
  r.remove_callback(id2);
  for (const auto& fam : r.collect()) REQUIRE(fam.name != "pool_connections");
}

TEST_CASE("metrics: setup errors") {
  metrics::Registry r;
  REQUIRE_THROWS_AS(r.counter("bad name", "x"), std::invalid_argument);
  REQUIRE_THROWS_AS(r.counter("9lives", "x"), std::invalid_argument);
  REQUIRE_THROWS_AS(r.counter("ok", "x", {"bad-label"}), std::invalid_argument);
  REQUIRE_THROWS_AS(r.counter("ok", "x", {"__reserved"}), std::invalid_argument);
  REQUIRE_THROWS_AS(r.histogram("h", "x", {"le"}), std::invalid_argument);
  REQUIRE_THROWS_AS(r.histogram("h", "x", {}, std::vector<double>{1, 1}), std::invalid_argument);
  r.counter("twice", "x", {"a"});
  REQUIRE_NOTHROW(r.counter("twice", "x", {"a"}));  // the same family again
  REQUIRE_THROWS_AS(r.counter("twice", "x", {"b"}), std::invalid_argument);
  REQUIRE_THROWS_AS(r.gauge("twice", "x", {"a"}), std::invalid_argument);
}

TEST_CASE("metrics: a thread outliving its registry, and a new registry, count apart") {
  auto r = std::make_unique<metrics::Registry>();
  r->counter("c", "C.").with({}).inc(3);
  r.reset();
  metrics::Registry r2;
  auto c = r2.counter("c", "C.").with({});
  c.inc();
  REQUIRE(r2.collect().at(0).samples.at(0).value == 1);
}

TEST_CASE("metrics: two live registries counted into in turn on one thread keep their counts apart") {
  metrics::Registry a, b;
  auto ca = a.counter("c", "C.").with({});
  auto cb = b.counter("c", "C.").with({});
  for (int i = 0; i < 10; ++i) {  // each switch changes the thread's cached shard
    ca.inc();
    cb.inc(2);
  }
  CHECK(a.collect().at(0).samples.at(0).value == 10);
  CHECK(b.collect().at(0).samples.at(0).value == 20);
}

TEST_CASE("metrics: a series' cells on this thread count into the same series, from their own thread") {
  metrics::Registry r;
  auto c = r.counter("c", "C.", {"k"}).with({"x"});
  auto g = r.gauge("g", "G.").with({});
  auto h = r.histogram("h", "H.", {}, std::vector<double>{1, 2}).with({});
  const metrics::ThreadCounter tc = c.for_this_thread();
  const metrics::ThreadGauge tg = g.for_this_thread();
  const metrics::ThreadHistogram th = h.for_this_thread();
  c.inc();
  tc.inc(2);
  tg.add(5);
  g.dec();
  REQUIRE(tg.local_value() == 4);
  th.observe(0.5);
  th.observe(1.5);
  h.observe(3);
  std::thread other([&] {  // another thread's handles: cells of its own, merged at scrape
    c.for_this_thread().inc(10);
    g.for_this_thread().dec();
    h.for_this_thread().observe(1.5);
  });
  other.join();
  auto all = r.collect();
  REQUIRE(family(all, "c").samples.at(0).value == 13);
  REQUIRE(family(all, "g").samples.at(0).value == 3);
  const auto& hs = family(all, "h").samples.at(0);
  REQUIRE(hs.buckets == std::vector<std::uint64_t>{1, 3, 4});
  REQUIRE(hs.sum == Approx(6.5));
  metrics::ThreadCounter{}.inc();  // null handles count nothing, safely
  metrics::ThreadHistogram{}.observe(1);
  REQUIRE(metrics::ThreadGauge{}.local_value() == 0);
  metrics::Counter{}.for_this_thread().inc();
}

TEST_CASE("metrics: a histogram whose cells would straddle two chunks starts the next, and counts right") {
  // 1024 cells to a chunk: 100 histograms of 12 cells (10 bounds) cross the first boundary at
  // the 86th, which must not share a chunk with the 85th's cells nor lose counts.
  metrics::Registry r;
  std::vector<double> bounds;
  for (int i = 1; i <= 10; ++i) bounds.push_back(i);
  auto fam = r.histogram("h", "H.", {"n"}, bounds);
  std::vector<metrics::ThreadHistogram> local;
  for (int n = 0; n < 100; ++n) local.push_back(fam.with({std::to_string(n)}).for_this_thread());
  for (int n = 0; n < 100; ++n) {
    for (int k = 0; k <= n % 12; ++k) local[n].observe(static_cast<double>(k));  // k in bucket le k (k>=1), k=0 le 1
  }
  std::thread other([&] { fam.with({"85"}).for_this_thread().observe(100); });
  other.join();
  auto all = r.collect();
  const auto& f = family(all, "h");
  REQUIRE(f.samples.size() == 100);
  for (int n = 0; n < 100; ++n) {
    const auto* s = sample(f, {std::to_string(n)});
    REQUIRE(s != nullptr);
    const std::uint64_t observed = static_cast<std::uint64_t>(n % 12 + 1) + (n == 85 ? 1 : 0);
    INFO("series " << n);
    REQUIRE(s->count == observed);
    double sum = 0;
    for (int k = 0; k <= n % 12; ++k) sum += k;
    REQUIRE(s->sum == Approx(sum + (n == 85 ? 100 : 0)));
    REQUIRE(s->buckets.back() == observed);  // +Inf is every observation
  }
  std::vector<double> many(1001);
  for (std::size_t i = 0; i < many.size(); ++i) many[i] = static_cast<double>(i);
  REQUIRE_THROWS_AS(r.histogram("too_many", "T.", {}, many), std::invalid_argument);
  many.pop_back();  // 1000 bounds: 1002 cells, still one chunk
  auto big = r.histogram("most", "M.", {}, many).with({}).for_this_thread();
  big.observe(999.5);
  auto again = r.collect();
  REQUIRE(family(again, "most").samples.at(0).buckets.at(999) == 0);
  REQUIRE(family(again, "most").samples.at(0).buckets.at(1000) == 1);
}

TEST_CASE("metrics: callbacks reporting the same label values add up to one sample") {
  metrics::Registry r;
  auto a = r.callback("open", "Open.", metrics::Kind::gauge, {"kind"}, [](metrics::CallbackSink& s) {
    s.value({"x"}, 2);
    s.value({"y"}, 1);
  });
  r.callback("open", "Open.", metrics::Kind::gauge, {"kind"}, [](metrics::CallbackSink& s) { s.value({"x"}, 3); });
  auto all = r.collect();
  const auto& f = family(all, "open");
  REQUIRE(f.samples.size() == 2);
  REQUIRE(sample(f, {"x"})->value == 5);
  REQUIRE(sample(f, {"y"})->value == 1);
  r.remove_callback(a);
  all = r.collect();
  REQUIRE(family(all, "open").samples.size() == 1);
  REQUIRE(sample(family(all, "open"), {"x"})->value == 3);
}

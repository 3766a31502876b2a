// SPDX-License-Identifier: Apache-2.0
#include <khz/middleware/adaptive_limit.h>

#include <khz/app/request_context.h>
#include <khz/common/log.h>
#include <khz/common/loop_delay.h>
#include <khz/common/loop_local.h>

#include <time.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

namespace khz::middleware {
namespace {

using Clock = std::chrono::steady_clock;
constexpr Clock::duration kBucket = std::chrono::milliseconds(100);
constexpr std::size_t kBuckets = 10;  // one second of history
constexpr Clock::duration kCpuPeriod = std::chrono::milliseconds(100);
constexpr Clock::duration kCoolDown = std::chrono::seconds(1);

double process_cpu_seconds() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Completions and the shortest response time per 100 ms bucket, over the last second.
struct Window {
  struct Bucket {
    std::int64_t index = -1;  // which 100 ms slot of the clock it holds
    std::uint64_t passed = 0;
    Clock::duration min_rt = Clock::duration::max();
  };
  std::array<Bucket, kBuckets> buckets{};

  static std::int64_t slot(Clock::time_point t) noexcept { return t.time_since_epoch() / kBucket; }

  void add(Clock::time_point now, Clock::duration rt) noexcept {
    const std::int64_t i = slot(now);
    Bucket& b = buckets[static_cast<std::size_t>(i) % kBuckets];
    if (b.index != i) b = Bucket{i};
    ++b.passed;
    b.min_rt = std::min(b.min_rt, rt);
  }
  // BBR's in-flight bound: max completions per second × min RT in seconds, or -1 with less
  // than a full second of history (the current bucket excluded: it is still filling).
  double limit(Clock::time_point now) const noexcept {
    const std::int64_t cur = slot(now);
    std::uint64_t max_pass = 0;
    Clock::duration min_rt = Clock::duration::max();
    std::size_t seen = 0;
    for (const Bucket& b : buckets) {
      if (b.index < 0 || b.index >= cur || b.index < cur - static_cast<std::int64_t>(kBuckets)) continue;
      ++seen;
      max_pass = std::max(max_pass, b.passed);
      min_rt = std::min(min_rt, b.min_rt);
    }
    if (seen == 0 || min_rt == Clock::duration::max()) return -1;
    const double per_second = static_cast<double>(max_pass) * (1.0 / std::chrono::duration<double>(kBucket).count());
    return std::max(1.0, per_second * std::chrono::duration<double>(min_rt).count());
  }
};

struct Shard {
  explicit Shard(Clock::duration probe_interval) : delay(probe_interval) {}
  LoopDelay delay;
  Window window;
  std::int64_t in_flight = 0;
  // CPU sampling
  Clock::time_point cpu_at{};
  double cpu_seconds = 0;
  double cpu = 0;
  Clock::time_point last_shed{};
  bool shed_once = false;
  // log throttle
  Clock::time_point logged_at{};
  bool logged = false;
  std::uint64_t unlogged = 0;
};

struct State {
  explicit State(Clock::duration probe_interval)
      : shards([probe_interval] { return std::make_unique<Shard>(probe_interval); }) {}
  LoopLocal<Shard> shards;
  Clock::duration max_delay{};
  double max_cpu = 0;
  std::string retry_after;
  Clock::duration log_interval{};
  std::function<double()> cpu_usage;
  unsigned cores = 1;
};

void finished(RequestContext&, const CompletedResponse& done, void* data) {
  auto* shard = static_cast<Shard*>(data);
  --shard->in_flight;
  shard->window.add(Clock::now(), done.elapsed);
}

double cpu_share(const State& s, Shard& shard, Clock::time_point now) {
  if (s.cpu_usage) return s.cpu_usage();
  if (shard.cpu_at == Clock::time_point{} || now - shard.cpu_at >= kCpuPeriod) {
    const double used = process_cpu_seconds();
    if (shard.cpu_at != Clock::time_point{}) {
      const double wall = std::chrono::duration<double>(now - shard.cpu_at).count();
      shard.cpu = (used - shard.cpu_seconds) / (wall * s.cores);
    }
    shard.cpu_at = now;
    shard.cpu_seconds = used;
  }
  return shard.cpu;
}

struct AdaptiveLimit {
  std::shared_ptr<State> state;

  void operator()(RequestContext& ctx) const {
    State& s = *state;
    Shard& shard = s.shards.get();
    const Clock::time_point now = Clock::now();
    std::string why;
    if (s.max_delay > Clock::duration::zero()) {
      shard.delay.sample(now);
      const auto late = shard.delay.current(now);
      if (late > s.max_delay) {
        why = "loop delay " + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(late).count()) +
              " ms > " + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(s.max_delay).count()) + " ms";
      }
    }
    if (why.empty() && s.max_cpu > 0) {
      const double cpu = cpu_share(s, shard, now);
      const bool hot = cpu > s.max_cpu || (shard.shed_once && now - shard.last_shed < kCoolDown);
      const double limit = hot ? shard.window.limit(now) : -1;
      if (limit > 0 && static_cast<double>(shard.in_flight + 1) > limit) {
        why = "cpu " + std::to_string(static_cast<int>(cpu * 100)) + "% > " +
              std::to_string(static_cast<int>(s.max_cpu * 100)) + "%, " + std::to_string(shard.in_flight) +
              " in flight > " + std::to_string(static_cast<long long>(std::ceil(limit))) + " (max pass × min RT)";
      }
    }
    if (why.empty()) {
      ++shard.in_flight;
      ctx.after_response(&finished, &shard);
      return;
    }
    shard.last_shed = now;
    shard.shed_once = true;
    if (!shard.logged || now - shard.logged_at >= s.log_interval) {
      std::string more;
      if (shard.unlogged != 0) more = " (" + std::to_string(shard.unlogged) + " more since the last line)";
      KHZ_LOG(info, "adaptive_limit: " << ctx.method() << " " << ctx.path() << ": shedding (" << why << "); 503" << more);
      shard.logged = true;
      shard.logged_at = now;
      shard.unlogged = 0;
    } else {
      ++shard.unlogged;
    }
    ctx.discard_response(503);
    ctx.set_header("Retry-After", s.retry_after);
    ctx.string(503, "503 service unavailable");
    ctx.abort();
  }
};

}  // namespace

Handler adaptive_limit(AdaptiveLimitOptions o) {
  if (o.max_delay < Clock::duration::zero()) throw std::invalid_argument("AdaptiveLimitOptions::max_delay: negative");
  if (!(o.max_cpu >= 0 && o.max_cpu <= 1)) throw std::invalid_argument("AdaptiveLimitOptions::max_cpu: outside [0, 1]");
  if (o.max_delay == Clock::duration::zero() && o.max_cpu == 0) {
    throw std::invalid_argument("AdaptiveLimitOptions: both triggers off (max_delay 0 and max_cpu 0)");
  }
  if (o.retry_after < std::chrono::seconds(1)) throw std::invalid_argument("AdaptiveLimitOptions::retry_after: under 1 s");
  if (o.probe_interval <= Clock::duration::zero()) throw std::invalid_argument("AdaptiveLimitOptions::probe_interval: not above 0");
  auto s = std::make_shared<State>(o.probe_interval);
  s->max_delay = o.max_delay;
  s->max_cpu = o.max_cpu;
  s->retry_after = std::to_string(o.retry_after.count());
  s->log_interval = o.log_interval;
  s->cpu_usage = std::move(o.cpu_usage);
  s->cores = std::max(1u, std::thread::hardware_concurrency());
  return Handler("khz::middleware::adaptive_limit", AdaptiveLimit{std::move(s)});
}

}  // namespace khz::middleware

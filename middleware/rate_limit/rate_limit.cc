// SPDX-License-Identifier: Apache-2.0
#include <khz/middleware/rate_limit.h>

#include <khz/app/request_context.h>
#include <khz/common/coarse_clock.h>
#include <khz/common/log.h>
#include <khz/common/loop_local.h>

#include "bucket_table.h"
#include "client_ip.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace khz::middleware {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxKeyBytes = 256;
constexpr std::size_t kMaxPolicy = 64;  // bytes of RateLimitOptions::policy

// At most one log line per interval; counts what it held back.
struct LogThrottle {
  Clock::time_point last{};
  bool logged = false;
  std::uint64_t unlogged = 0;  // held back since the last line

  // True when a line may go out now; else counts one more held back.
  bool allow(Clock::time_point now, Clock::duration interval) noexcept {
    if (logged && now - last < interval) {
      ++unlogged;
      return false;
    }
    return true;
  }
  void wrote(Clock::time_point now) noexcept {
    logged = true;
    last = now;
    unlogged = 0;
  }
};

// One loop's share: its buckets and its log throttles.
struct Shard {
  Shard(double rate, double burst, std::size_t max_keys) : buckets(rate, burst, max_keys) {}
  detail::BucketTable buckets;
  LogThrottle refusals;
  LogThrottle malformed;  // forwarded entries that are no address
  std::string hashed;     // scratch for a long key
};

struct State {
  State(const RateLimitOptions& o, double loop_rate, double loop_burst)
      : proxies(o.trusted_proxies),
        shards([loop_rate, loop_burst, max_keys = o.max_keys] {
          return std::make_unique<Shard>(loop_rate, loop_burst, max_keys);
        }) {}
  detail::ProxySet proxies;
  LoopLocal<Shard> shards;
  RateKeyFrom key_from = RateKeyFrom::client_ip;
  std::string key_header;
  std::function<std::string(RequestContext&)> key;
  detail::ForwardedKind forwarded = detail::ForwardedKind::x_forwarded_for;
  std::string policy_field;  // RateLimit-Policy, the same on every answer
  std::string field_prefix;  // RateLimit's start: "<policy>";r=
  std::string policy;
  double rate = 0;   // the configured (whole) limit, for the log line
  unsigned burst = 0;
  bool headers = true;
  Clock::duration log_interval{};
  std::function<Clock::time_point()> clock;
};

long long ceil_seconds(Clock::duration d) noexcept {
  const double s = std::chrono::duration<double>(d).count();
  return static_cast<long long>(std::ceil(s - 1e-9));
}

std::string_view shorten(Shard& shard, std::string_view key) {
  if (key.size() <= kMaxKeyBytes) return key;
  // "\x01#<hash>": no header value holds \x01, so a short key cannot pose as a hashed one.
  char buf[32];
  const int n = std::snprintf(buf, sizeof buf, "\x01#%016zx", std::hash<std::string_view>{}(key));
  shard.hashed.assign(buf, static_cast<std::size_t>(n));
  return shard.hashed;
}

void log_refusal(const State& s, Shard& shard, RequestContext& ctx, std::string_view key, Clock::time_point now) {
  if (!shard.refusals.allow(now, s.log_interval)) return;
  std::string more;
  if (shard.refusals.unlogged != 0) {
    more = " (" + std::to_string(shard.refusals.unlogged) + " more refused since the last line)";
  }
  KHZ_LOG(info, "rate_limit: " << ctx.method() << " " << ctx.path() << ": key " << key << " over " << s.rate
                               << "/s (burst " << s.burst << "); 429" << more);
  shard.refusals.wrote(now);
}

void log_malformed(const State& s, Shard& shard, RequestContext& ctx, std::string_view used, Clock::time_point now) {
  if (!shard.malformed.allow(now, s.log_interval)) return;
  std::string more;
  if (shard.malformed.unlogged != 0) {
    more = " (" + std::to_string(shard.malformed.unlogged) + " more since the last line)";
  }
  KHZ_LOG(info, "rate_limit: " << ctx.method() << " " << ctx.path() << ": a malformed entry in "
                               << (s.forwarded == detail::ForwardedKind::forwarded ? "Forwarded" : "X-Forwarded-For")
                               << " from trusted proxy " << detail::strip_port(ctx.peer_address()) << "; keyed by " << used << more);
  shard.malformed.wrote(now);
}

struct RateLimit {
  std::shared_ptr<State> state;

  void operator()(RequestContext& ctx) const {
    State& s = *state;
    Shard& shard = s.shards.get();
    const Clock::time_point now = s.clock ? s.clock() : coarse_steady_now();  // a tick's precision will do
    std::string owned;  // a key from the function
    std::string_view key;
    bool keyed = false;
    if (s.key_from == RateKeyFrom::function) {
      owned = s.key(ctx);
      if (owned.empty()) return;  // exempt
      key = owned;
      keyed = true;
    } else if (s.key_from == RateKeyFrom::header) {
      const HeaderMap& in = ctx.request().headers();
      key = in.get(s.key_header);
      keyed = !key.empty();
    }
    if (!keyed) {
      const auto ip = detail::client_ip(ctx.peer_address(), ctx.request().headers(), s.proxies, s.forwarded);
      key = ip.address;
      if (ip.malformed) log_malformed(s, shard, ctx, key, now);
    }
    key = shorten(shard, key);
    const auto v = shard.buckets.take(key, now);
    if (s.headers) {
      // Linked, not copied: the policy lives in the state, which outlives every response.
      ctx.response().headers().set_ref("RateLimit-Policy", s.policy_field);
      // "<policy>";r=<remaining>;t=<seconds> on the stack (the policy is at most kMaxPolicy).
      char field[kMaxPolicy + 64];
      const std::size_t prefix = std::min(s.field_prefix.size(), kMaxPolicy + 5);  // '"' policy '";r='
      std::memcpy(field, s.field_prefix.data(), prefix);
      char* p = std::to_chars(field + prefix, field + prefix + 24, static_cast<long long>(std::floor(v.tokens))).ptr;
      std::memcpy(p, ";t=", 3);
      p = std::to_chars(p + 3, p + 3 + 24, ceil_seconds(v.full_in)).ptr;
      ctx.set_header("RateLimit", std::string_view(field, static_cast<std::size_t>(p - field)));
    }
    if (v.allowed) return;
    log_refusal(s, shard, ctx, key, now);
    ctx.discard_response(429);
    ctx.set_header("Retry-After", std::to_string(std::max(1LL, ceil_seconds(v.retry_after))));
    ctx.string(429, "429 too many requests");
    ctx.abort();
  }
};

bool is_policy_name(std::string_view s) noexcept {  // letters, digits, "-", "_", "."
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

}  // namespace

Handler rate_limit(RateLimitOptions o) {
  if (!(o.rate > 0) || !std::isfinite(o.rate)) throw std::invalid_argument("RateLimitOptions::rate: must be above 0");
  if (o.burst == 0) throw std::invalid_argument("RateLimitOptions::burst: 0");
  if (o.max_keys == 0) throw std::invalid_argument("RateLimitOptions::max_keys: 0");
  if (o.split_over_loops == 0) throw std::invalid_argument("RateLimitOptions::split_over_loops: 0");
  if (o.key_from == RateKeyFrom::header && o.key_header.empty()) {
    throw std::invalid_argument("RateLimitOptions::key_header: empty with key_from = header");
  }
  if (o.key_from == RateKeyFrom::function && !o.key) {
    throw std::invalid_argument("RateLimitOptions::key: none with key_from = function");
  }
  if (!is_policy_name(o.policy) || o.policy.size() > kMaxPolicy) {
    throw std::invalid_argument("RateLimitOptions::policy: not a token (letters, digits, -_.) of at most 64 bytes");
  }
  detail::ForwardedKind forwarded;
  if (iequals(o.forwarded_header, "X-Forwarded-For")) {
    forwarded = detail::ForwardedKind::x_forwarded_for;
  } else if (iequals(o.forwarded_header, "Forwarded")) {
    forwarded = detail::ForwardedKind::forwarded;
  } else {
    throw std::invalid_argument("RateLimitOptions::forwarded_header: \"X-Forwarded-For\" or \"Forwarded\"");
  }
  const double loop_rate = o.rate / o.split_over_loops;
  const double loop_burst = std::max(1.0, std::floor(static_cast<double>(o.burst) / o.split_over_loops));
  auto s = std::make_shared<State>(o, loop_rate, loop_burst);  // throws for a bad trusted proxy
  s->key_from = o.key_from;
  s->key_header = std::move(o.key_header);
  s->key = std::move(o.key);
  s->forwarded = forwarded;
  s->policy = std::move(o.policy);
  const auto window = static_cast<long long>(std::ceil(loop_burst / loop_rate - 1e-9));
  s->field_prefix = "\"" + s->policy + "\";r=";
  s->policy_field = "\"" + s->policy + "\";q=" + std::to_string(static_cast<long long>(loop_burst)) +
                    ";w=" + std::to_string(std::max(1LL, window));
  s->rate = o.rate;
  s->burst = o.burst;
  s->headers = o.headers;
  s->log_interval = o.log_interval;
  s->clock = std::move(o.clock);
  return Handler("khz::middleware::rate_limit", RateLimit{std::move(s)});
}

}  // namespace khz::middleware

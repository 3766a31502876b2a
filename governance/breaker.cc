// SPDX-License-Identifier: Apache-2.0
// Circuit breakers: the state machine, the per-instance balancer and the per-service middleware.
#include <khz/governance/breaker.h>

#include <khz/app/client/url.h>
#include <khz/common/log.h>
#include <khz/governance/errors.h>

#include <vector>

namespace khz::governance {

// ---- CircuitBreaker

void CircuitBreaker::roll(Clock::time_point now) {
  const auto length = std::max<std::int64_t>(1, options_.window.count() * 1000 / kBuckets);  // µs
  const std::int64_t index = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() / length;
  for (std::int64_t i = bucket_ + 1; i <= index && i <= bucket_ + kBuckets; ++i) {
    calls_[i % kBuckets] = 0;
    failures_[i % kBuckets] = 0;
  }
  if (index > bucket_) bucket_ = index;
}

void CircuitBreaker::open(Clock::time_point now) {
  state_ = BreakerState::open;
  opened_at_ = now;
  consecutive_ = 0;
  probes_out_ = probes_ok_ = 0;
  for (int i = 0; i < kBuckets; ++i) calls_[i] = failures_[i] = 0;
}

bool CircuitBreaker::available() {
  std::lock_guard lock(mutex_);
  switch (state_) {
    case BreakerState::closed: return true;
    case BreakerState::open: return Clock::now() - opened_at_ >= options_.open_for;
    case BreakerState::half_open: return probes_out_ < options_.probes;
  }
  return true;
}

bool CircuitBreaker::try_acquire() {
  std::lock_guard lock(mutex_);
  if (state_ == BreakerState::open) {
    if (Clock::now() - opened_at_ < options_.open_for) return false;
    state_ = BreakerState::half_open;
    probes_out_ = probes_ok_ = 0;
  }
  if (state_ == BreakerState::half_open) {
    if (probes_out_ >= options_.probes) return false;
    ++probes_out_;
  }
  return true;
}

void CircuitBreaker::record(bool ok) {
  std::lock_guard lock(mutex_);
  const auto now = Clock::now();
  if (state_ == BreakerState::half_open) {
    if (!ok) {
      open(now);
      return;
    }
    if (++probes_ok_ >= options_.probes) {
      state_ = BreakerState::closed;
      consecutive_ = 0;
      probes_out_ = probes_ok_ = 0;
    }
    return;
  }
  if (state_ == BreakerState::open) return;  // a call that started before it opened
  roll(now);
  ++calls_[bucket_ % kBuckets];
  if (ok) {
    consecutive_ = 0;
    return;
  }
  ++failures_[bucket_ % kBuckets];
  ++consecutive_;
  int calls = 0, failures = 0;
  for (int i = 0; i < kBuckets; ++i) calls += calls_[i], failures += failures_[i];
  if ((options_.consecutive_failures > 0 && consecutive_ >= options_.consecutive_failures) ||
      (calls >= options_.min_calls && failures >= options_.error_rate * calls)) {
    open(now);
  }
}

BreakerState CircuitBreaker::state() {
  std::lock_guard lock(mutex_);
  if (state_ == BreakerState::open && Clock::now() - opened_at_ >= options_.open_for) return BreakerState::half_open;
  return state_;
}

// ---- BreakerBalancer

namespace {

std::string key_of(const Endpoint& e) { return e.host + ":" + std::to_string(e.port); }

}  // namespace

BreakerBalancer::BreakerBalancer(std::shared_ptr<Balancer> inner, BreakerOptions options)
    : inner_(inner ? std::move(inner) : std::make_shared<RoundRobinBalancer>()), options_(options) {}

CircuitBreaker& BreakerBalancer::breaker(const Endpoint& endpoint) {
  std::lock_guard lock(mutex_);
  auto& slot = breakers_[key_of(endpoint)];
  if (!slot) slot = std::make_unique<CircuitBreaker>(options_);
  return *slot;
}

std::size_t BreakerBalancer::pick(std::span<const Endpoint> endpoints) { return pick_with(endpoints, nullptr); }

std::size_t BreakerBalancer::pick(std::span<const Endpoint> endpoints, const HeaderMap& headers) {
  return pick_with(endpoints, &headers);
}

std::size_t BreakerBalancer::pick_with(std::span<const Endpoint> endpoints, const HeaderMap* headers) {
  // The closed (or probe-ready) ones; all of them when none is.
  std::vector<Endpoint> usable;
  std::vector<std::size_t> index;
  for (std::size_t k = 0; k < endpoints.size(); ++k) {
    if (breaker(endpoints[k]).available()) {
      usable.push_back(endpoints[k]);
      index.push_back(k);
    }
  }
  auto inner_pick = [&](std::span<const Endpoint> among) {
    return headers != nullptr ? inner_->pick(among, *headers) : inner_->pick(among);
  };
  if (usable.empty() || usable.size() == endpoints.size()) {
    std::size_t k = inner_pick(endpoints);
    breaker(endpoints[k]).try_acquire();
    return k;
  }
  std::size_t k = index[inner_pick(usable)];
  breaker(endpoints[k]).try_acquire();
  return k;
}

void BreakerBalancer::started(const Endpoint& endpoint) noexcept {
  if (inner_->wants_feedback()) inner_->started(endpoint);
}

void BreakerBalancer::finished(const Endpoint& endpoint, bool ok) noexcept {
  if (inner_->wants_feedback()) inner_->finished(endpoint, ok);
  try {
    breaker(endpoint).record(ok);
  } catch (...) {
  }
}

// ---- service_breaker

namespace {

struct ServiceBreakers {
  BreakerOptions options;
  std::mutex mutex;
  std::unordered_map<std::string, std::unique_ptr<CircuitBreaker>> by_host;

  CircuitBreaker& of(std::string_view host) {
    std::lock_guard lock(mutex);
    auto& slot = by_host[std::string(host)];
    if (!slot) slot = std::make_unique<CircuitBreaker>(options);
    return *slot;
  }
};

// The URL's host ("" when it does not parse: no breaker).
std::string_view host_of(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  url.remove_prefix(scheme + 3);
  url = url.substr(0, url.find_first_of("/?#"));
  if (auto at = url.rfind('@'); at != std::string_view::npos) url.remove_prefix(at + 1);
  if (!url.empty() && url.front() == '[') return url.substr(0, url.find(']') + 1);
  return url.substr(0, url.find(':'));
}

Task<void> guard(std::shared_ptr<ServiceBreakers> breakers, ClientContext& ctx) {
  std::string_view host = host_of(ctx.request().url);
  if (host.empty()) {
    co_await ctx.next();
    co_return;
  }
  CircuitBreaker& breaker = breakers->of(host);
  if (!breaker.try_acquire()) {
    KHZ_LOG(debug, "governance: " << host << ": circuit open; call not made");
    ctx.fail(errc::circuit_open);
    co_return;
  }
  co_await ctx.next();
  breaker.record(!ctx.error() && ctx.response().status() < 500);
}

}  // namespace

ClientMiddleware service_breaker(BreakerOptions options) {
  auto breakers = std::make_shared<ServiceBreakers>();
  breakers->options = options;
  return [breakers](ClientContext& ctx) { return guard(breakers, ctx); };
}

}  // namespace khz::governance

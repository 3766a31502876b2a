// SPDX-License-Identifier: Apache-2.0
// The client's adaptive concurrency limit: AIMD on latency, per host.
#include <khz/governance/concurrency.h>

#include <khz/common/log.h>
#include <khz/governance/errors.h>

#include <algorithm>

namespace khz::governance {

ConcurrencyLimiter::ConcurrencyLimiter(ConcurrencyOptions options)
    : options_(options), limit_(std::clamp(options.initial, options.min, options.max)) {}

bool ConcurrencyLimiter::try_acquire() {
  std::lock_guard lock(mutex_);
  if (in_flight_ >= static_cast<int>(limit_)) return false;
  ++in_flight_;
  return true;
}

void ConcurrencyLimiter::release(Clock::duration latency, bool ok) {
  std::lock_guard lock(mutex_);
  const auto now = Clock::now();
  const int used = in_flight_;
  if (in_flight_ > 0) --in_flight_;
  if (now - baseline_since_ > options_.baseline_window) {  // forget an old baseline
    baseline_ = Clock::duration::max();
    baseline_since_ = now;
  }
  if (ok && latency < baseline_) baseline_ = latency;
  const bool slow = baseline_ != Clock::duration::max() &&
                    latency > std::chrono::duration_cast<Clock::duration>(baseline_ * options_.tolerance);
  if (!ok || slow) {
    const auto spacing = baseline_ == Clock::duration::max() ? latency : baseline_;
    if (now - last_decrease_ >= spacing) {
      limit_ = std::max<double>(options_.min, limit_ * options_.backoff);
      last_decrease_ = now;
    }
    return;
  }
  if (used * 2 >= static_cast<int>(limit_)) limit_ = std::min<double>(options_.max, limit_ + 1);
}

int ConcurrencyLimiter::limit() {
  std::lock_guard lock(mutex_);
  return static_cast<int>(limit_);
}

int ConcurrencyLimiter::in_flight() {
  std::lock_guard lock(mutex_);
  return in_flight_;
}

ConcurrencyLimiter& ConcurrencyLimits::of(std::string_view host) {
  std::lock_guard lock(mutex_);
  auto& slot = by_host_[std::string(host)];
  if (!slot) slot = std::make_unique<ConcurrencyLimiter>(options_);
  return *slot;
}

namespace {

// The URL's host:port ("" when it does not parse).
std::string_view authority_of(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  url.remove_prefix(scheme + 3);
  return url.substr(0, url.find_first_of("/?#"));
}

Task<void> limited(std::shared_ptr<ConcurrencyLimits> limits, ClientContext& ctx) {
  std::string_view host = authority_of(ctx.request().url);
  if (host.empty()) {
    co_await ctx.next();
    co_return;
  }
  ConcurrencyLimiter& limiter = limits->of(host);
  if (!limiter.try_acquire()) {
    KHZ_LOG(debug, "governance: " << host << ": concurrency limit reached; call not made");
    ctx.fail(errc::concurrency_limited);
    co_return;
  }
  const auto start = ConcurrencyLimiter::Clock::now();
  co_await ctx.next();
  limiter.release(ConcurrencyLimiter::Clock::now() - start, !ctx.error() && ctx.response().status() < 500);
}

}  // namespace

ClientMiddleware adaptive_concurrency(std::shared_ptr<ConcurrencyLimits> limits) {
  if (!limits) limits = std::make_shared<ConcurrencyLimits>();
  return [limits](ClientContext& ctx) { return limited(limits, ctx); };
}

}  // namespace khz::governance

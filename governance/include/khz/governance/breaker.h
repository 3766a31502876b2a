// SPDX-License-Identifier: Apache-2.0
// khz/governance/breaker.h: circuit breakers, per instance (a Balancer that routes around the
// instances whose breaker is open) and per service (a client middleware that fails calls to a
// service fast while its breaker is open).
//
//   auto breakers = std::make_shared<khz::governance::BreakerBalancer>(
//       std::make_shared<khz::RoundRobinBalancer>(), khz::governance::BreakerOptions{});
//   khz::Client client({.resolver = resolver, .balancer = breakers});
//   client.use(khz::governance::service_breaker({.consecutive_failures = 20}));
//
// A breaker (Sentinel's and Envoy's model):
//   closed     every call passes; it opens after `consecutive_failures` failures in a row, or
//              when at least `min_calls` calls of the last `window` failed at `error_rate` or
//              more;
//   open       no call passes for `open_for`; then
//   half-open  `probes` calls pass (one at a time by default); as many successes close it, a
//              failure opens it again (for open_for again).
// A failure is a call that ended in an error (connect refused, reset, timeout) or a status of 500
// or more. BreakerBalancer: an instance whose breaker is open is left out of the pick; when
// every instance's is, the pick is among all of them (better a try than nothing; the service
// breaker is the one that stops calling). service_breaker: a call to an open service ends at
// once with governance::errc::circuit_open; the breakers are by the URL's host.
// Threading: thread-safe; each breaker has a mutex of its own, taken once per call.
#pragma once

#include <khz/app/client/client.h>
#include <khz/app/client/discovery.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace khz::governance {

struct BreakerOptions {
  int consecutive_failures = 5;
  double error_rate = 0.5;   // of the window's calls, once there are min_calls
  int min_calls = 20;
  std::chrono::milliseconds window{10000};
  std::chrono::milliseconds open_for{5000};
  int probes = 1;            // calls let through half-open
};

enum class BreakerState { closed, open, half_open };

// One breaker.
class CircuitBreaker {
 public:
  explicit CircuitBreaker(BreakerOptions options = {}) : options_(options) {}
  // Whether a call may go now; a half-open breaker hands out its probes here.
  bool try_acquire();
  // Whether a call could go now (nothing handed out).
  bool available();
  void record(bool ok);
  BreakerState state();

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr int kBuckets = 10;
  void open(Clock::time_point now);
  void roll(Clock::time_point now);

  BreakerOptions options_;
  std::mutex mutex_;
  BreakerState state_ = BreakerState::closed;
  int consecutive_ = 0;
  int probes_out_ = 0;
  int probes_ok_ = 0;
  Clock::time_point opened_at_{};
  // The window: kBuckets buckets of window/kBuckets, calls and failures each.
  int calls_[kBuckets] = {};
  int failures_[kBuckets] = {};
  std::int64_t bucket_ = 0;  // the index (time / bucket length) of the newest bucket
};

// Routes around instances whose breaker is open; picks with `inner` among the others.
class BreakerBalancer final : public Balancer {
 public:
  BreakerBalancer(std::shared_ptr<Balancer> inner, BreakerOptions options = {});
  std::size_t pick(std::span<const Endpoint> endpoints) override;
  std::size_t pick(std::span<const Endpoint> endpoints, const HeaderMap& headers) override;
  bool wants_feedback() const noexcept override { return true; }
  void started(const Endpoint& endpoint) noexcept override;
  void finished(const Endpoint& endpoint, bool ok) noexcept override;
  // The breaker of an endpoint (made on first use).
  CircuitBreaker& breaker(const Endpoint& endpoint);

 private:
  std::size_t pick_with(std::span<const Endpoint> endpoints, const HeaderMap* headers);

  std::shared_ptr<Balancer> inner_;
  BreakerOptions options_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::unique_ptr<CircuitBreaker>> breakers_;
};

// A client middleware: one breaker per host of the URL.
ClientMiddleware service_breaker(BreakerOptions options = {});

}  // namespace khz::governance

// SPDX-License-Identifier: Apache-2.0
// khz/governance/concurrency.h: an adaptive concurrency limit on the client side, per service
// (per URL host): calls beyond the limit fail at once instead of queueing on an upstream that
// is already slowing down, and the limit follows what the upstream shows it can take (AIMD on
// latency, after Netflix's concurrency-limits).
//
//   auto limits = std::make_shared<khz::governance::ConcurrencyLimits>(
//       khz::governance::ConcurrencyOptions{.initial = 20, .max = 200});
//   client.use(khz::governance::adaptive_concurrency(limits));   // share `limits` between clients
//
// Per host: at most limit() calls in flight; one more ends with governance::errc::
// concurrency_limited (not sent). Each call that ends adjusts the limit: its latency against
// the lowest latency seen lately (the no-queue baseline, forgotten every `baseline_window` so a
// slower steady state is learnt):
//   - a failure (an error or a 5xx) or a latency above tolerance x baseline: limit x backoff
//     (multiplicative decrease; at most once per baseline latency, so one burst of slow answers
//     counts once);
//   - otherwise, when the calls in flight used at least half the limit: limit + 1.
// Bounded by [min, max]. Threading: thread-safe (a mutex per host, taken twice per call).
#pragma once

#include <khz/app/client/client.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace khz::governance {

struct ConcurrencyOptions {
  int initial = 20;
  int min = 1;
  int max = 1000;
  double tolerance = 2.0;  // latency above tolerance x baseline: too slow
  double backoff = 0.9;    // multiplicative decrease
  std::chrono::milliseconds baseline_window{std::chrono::seconds(10)};
};

// One host's limit.
class ConcurrencyLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit ConcurrencyLimiter(ConcurrencyOptions options = {});
  // A slot for one call, or false when limit() are in flight.
  bool try_acquire();
  // The call ended after `latency`; ok: no error and a status below 500.
  void release(Clock::duration latency, bool ok);
  int limit();
  int in_flight();

 private:
  ConcurrencyOptions options_;
  std::mutex mutex_;
  double limit_;
  int in_flight_ = 0;
  Clock::duration baseline_ = Clock::duration::max();
  Clock::time_point baseline_since_{};
  Clock::time_point last_decrease_{};
};

// The limiters of every host a client calls.
class ConcurrencyLimits {
 public:
  explicit ConcurrencyLimits(ConcurrencyOptions options = {}) : options_(options) {}
  ConcurrencyLimiter& of(std::string_view host);

 private:
  ConcurrencyOptions options_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::unique_ptr<ConcurrencyLimiter>> by_host_;
};

ClientMiddleware adaptive_concurrency(std::shared_ptr<ConcurrencyLimits> limits);

}  // namespace khz::governance

// SPDX-License-Identifier: Apache-2.0
// with_retries: attempts, backoff + jitter, and which failures are worth another attempt.
#include "retry.h"

#include <khz/app/client/errors.h>
#include <khz/common/event_loop.h>
#include <khz/common/log.h>
#include <khz/protocol/error.h>
#include <khz/transport/error.h>

#include "exchange.h"
#include "impl.h"
#include "random.h"

#include <algorithm>
#include <string_view>

namespace khz::client {
namespace {

// RFC 9110 §9.2.2.
bool is_idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" || method == "PUT" ||
         method == "DELETE";
}

bool retryable_error(const RetryPolicy& p, const Attempt& a) {
  if (a.ec == client::errc::cancelled || a.ec == client::errc::pool_timeout ||
      a.ec == client::errc::certificate_verify_failed || a.ec == client::errc::proxy_refused) {
    return false;
  }
  if (a.connect_failed) return p.on_connect_error;
  if (a.ec == transport::errc::timed_out) return p.on_timeout;
  if (a.ec == protocol::errc::malformed_response || a.ec == protocol::errc::header_too_large ||
      a.ec == protocol::errc::response_too_large) {
    return false;
  }
  return p.on_connection_error;
}

std::chrono::milliseconds backoff_for(const RetryPolicy& p, int attempt) {
  double d = static_cast<double>(p.backoff.count());
  for (int i = 1; i < attempt; ++i) d *= 2;
  d = std::min(d, static_cast<double>(p.max_backoff.count()));
  if (p.jitter > 0) d *= std::uniform_real_distribution<double>(1.0 - p.jitter, 1.0 + p.jitter)(rng());
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(d, 0.0)));
}

// The retry budget's view of one call: counted in flight while it runs, and as retrying from
// its first retry on.
class BudgetSlot {
 public:
  BudgetSlot(Client::Impl& impl, const RetryPolicy& p) : impl_(p.budget > 0 ? &impl : nullptr), policy_(p) {
    if (impl_ != nullptr) impl_->calls_in_flight.fetch_add(1, std::memory_order_relaxed);
  }
  ~BudgetSlot() {
    if (impl_ == nullptr) return;
    impl_->calls_in_flight.fetch_sub(1, std::memory_order_relaxed);
    if (retrying_) impl_->retries_in_flight.fetch_sub(1, std::memory_order_relaxed);
  }
  BudgetSlot(const BudgetSlot&) = delete;
  BudgetSlot& operator=(const BudgetSlot&) = delete;
  // Whether this call may retry now (and, the first time, counts it as retrying).
  bool allow() {
    if (impl_ == nullptr || retrying_) return true;
    const int calls = impl_->calls_in_flight.load(std::memory_order_relaxed);
    const int allowed = std::max(policy_.min_retries_in_flight, static_cast<int>(policy_.budget * calls));
    if (impl_->retries_in_flight.load(std::memory_order_relaxed) >= allowed) return false;
    impl_->retries_in_flight.fetch_add(1, std::memory_order_relaxed);
    retrying_ = true;
    return true;
  }

 private:
  Client::Impl* impl_;
  const RetryPolicy& policy_;
  bool retrying_ = false;
};

}  // namespace

Task<std::error_code> with_retries(CallState& call, const ClientRequest& req, const Url& url, Response& resp) {
  const RetryPolicy& policy = call.options.retry;
  const bool idempotent = is_idempotent(req.method) || req.idempotent || policy.non_idempotent;
  const bool replayable = !req.body_source;
  bool stale_retry_used = false;
  int refused_retries = 0;
  BudgetSlot budget(call.impl, policy);
  for (int attempt = 1;; ++attempt) {
    if (req.cancel.cancelled()) co_return client::errc::cancelled;
    const bool can_retry = idempotent && replayable && attempt < policy.max_attempts;
    Attempt a = co_await exchange(call, req, url, resp, /*keep_for_retry=*/false);
    if (call.feedback != nullptr) {
      call.feedback->finished(call.picked, !a.ec && resp.status() < 500);
      call.feedback = nullptr;
    }
    if (!a.ec) {
      const bool bad_status =
          std::find(policy.statuses.begin(), policy.statuses.end(), resp.status()) != policy.statuses.end();
      if (!a.streamed && bad_status && can_retry && Clock::now() < call.deadline && budget.allow()) {
        auto wait = backoff_for(policy, attempt);
        KHZ_LOG(debug, "client: " << url.str() << " answered " << resp.status() << "; retrying in " << wait.count() << " ms");
        co_await sleep_for(wait);
        continue;
      }
      co_return std::error_code();
    }
    // Sent again as it was: a buffered body or a file, or a body_source not yet asked for bytes
    // (the attempt ended before its body began: refused while it waited for a stream slot).
    const bool resendable = replayable || !a.body_consumed;
    if (a.refused && resendable && refused_retries < 5 && Clock::now() < call.deadline) {
      // HTTP/2: the server never processed it (RFC 9113 §8.7): send it again, any method.
      ++refused_retries;
      --attempt;
      KHZ_LOG(debug, "client: " << url.str() << ": " << a.ec.message() << "; sending it again");
      continue;
    }
    if (a.stale && idempotent && resendable && !stale_retry_used) {
      // RFC 9112 §9.3.1.1: the server closed an idle connection as we reused it.
      stale_retry_used = true;
      --attempt;
      continue;
    }
    if (can_retry && retryable_error(policy, a) && Clock::now() < call.deadline && budget.allow()) {
      auto wait = backoff_for(policy, attempt);
      if (call.deadline != kNever) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(call.deadline - Clock::now());
        if (wait > left) co_return a.ec;
      }
      KHZ_LOG(debug, "client: " << url.str() << ": " << a.ec.message() << "; retrying in " << wait.count() << " ms");
      co_await sleep_for(wait);
      continue;
    }
    co_return a.ec;
  }
}

}  // namespace khz::client

// SPDX-License-Identifier: Apache-2.0
// Active health checks of the proxy's upstreams (health_check.h).
#include "health_check.h"

#include <khz/app/client/blocking_client.h>
#include <khz/common/background_thread.h>
#include <khz/common/log.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace khz::proxy::detail {

HealthChecker::HealthChecker(UpstreamPool& pool, const HealthCheck& check, const ReverseProxyOptions& options)
    : pool_(pool), check_(check), passes_(pool.size(), 0), failures_(pool.size(), 0) {
  if (check_.path.empty() || check_.path.front() != '/') {
    throw std::invalid_argument("proxy: health_check.path '" + check_.path + "' does not start with '/'");
  }
  if (check_.interval.count() <= 0 || check_.timeout.count() <= 0 || check_.unhealthy_after < 1 ||
      check_.healthy_after < 1) {
    throw std::invalid_argument("proxy: health_check needs a positive interval and timeout and thresholds of 1 or more");
  }
  ClientOptions c;
  c.dial_timeout = check_.timeout;
  c.total_timeout = check_.timeout;
  c.max_redirects = 0;
  c.proxy_from_environment = false;
  c.insecure_skip_verify = options.insecure_skip_verify;
  c.tls_ca_file = options.tls_ca_file;
  c.max_connections_per_host = 1;
  thread_ = khz::background_thread([this, c = std::move(c)]() mutable { run(std::move(c)); });
}

HealthChecker::~HealthChecker() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void HealthChecker::run(ClientOptions client_options) {
  BlockingClient client(std::move(client_options));
  for (;;) {
    for (std::size_t i = 0; i < pool_.size(); ++i) {
      {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
      }
      Target& t = pool_.target(i);
      auto r = client.get(t.origin + t.base_path + check_.path);
      if (!r) {
        record(t, i, false, r.error().message());
      } else {
        const int status = r->status();
        record(t, i, status >= 200 && status < 400, "status " + std::to_string(status));
      }
    }
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, check_.interval, [this] { return stopping_; })) return;
  }
}

void HealthChecker::record(Target& t, std::size_t i, bool passed, const std::string& why) {
  const bool down = t.down.load(std::memory_order_relaxed);
  if (passed) {
    failures_[i] = 0;
    if (down && ++passes_[i] >= check_.healthy_after) {
      t.down.store(false, std::memory_order_relaxed);
      passes_[i] = 0;
      KHZ_LOG(info, "proxy: upstream " << t.origin << t.base_path << " is up again (health check " << check_.path
                                       << ": " << why << ")");
    }
    return;
  }
  passes_[i] = 0;
  if (!down && ++failures_[i] >= check_.unhealthy_after) {
    t.down.store(true, std::memory_order_relaxed);
    failures_[i] = 0;
    KHZ_LOG(warn, "proxy: upstream " << t.origin << t.base_path << " is down after " << check_.unhealthy_after
                                     << " failed health checks (" << check_.path << ": " << why << ")");
  }
}

}  // namespace khz::proxy::detail

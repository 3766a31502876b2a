// SPDX-License-Identifier: Apache-2.0
// Private to proxy/: active health checks of a pool's upstreams (ReverseProxyOptions::
// health_check). A thread of its own probes each upstream in turn with a blocking client and
// sets Target::down, which the pool's pick() honours; the destructor stops it promptly (a
// probe in flight ends within its timeout).
#pragma once

#include "upstream_pool.h"

#include <khz/app/client/options.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace khz::proxy::detail {

class HealthChecker {
 public:
  // Starts checking at once. `pool` must outlive the checker.
  HealthChecker(UpstreamPool& pool, const HealthCheck& check, const ReverseProxyOptions& options);
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

 private:
  void run(ClientOptions client_options);
  // One probe's verdict on `target` (counts in a row, the change of state, its log line).
  void record(Target& target, std::size_t i, bool passed, const std::string& why);

  UpstreamPool& pool_;
  HealthCheck check_;
  std::vector<int> passes_, failures_;  // in a row, per target (the checker's thread only)
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace khz::proxy::detail

// SPDX-License-Identifier: Apache-2.0
// Private to app/client: Client::Impl, what one Client owns, composed of its parts: the
// middleware list, Routing (proxy, resolver, balancer: route.h) and Pools (every loop's
// connection pools and the Dialer that fills them: pool.h).
#pragma once

#include <khz/app/client/client.h>
#include <khz/app/client/options.h>

#include "instruments.h"
#include "pool.h"
#include "route.h"

#include <atomic>
#include <vector>

namespace khz {

// Made with the Client (a bad proxy URL or TLS file throws std::invalid_argument, the proxy
// first). Middleware is set before the first request; the rest is used from every loop.
struct Client::Impl {
  explicit Impl(const ClientOptions& options) : routing(options), pools(options) {}

  std::vector<ClientMiddleware> middleware;
  std::unique_ptr<ClientInstruments> instruments;  // null: ClientOptions::metrics unset
  client::Routing routing;
  client::Pools pools;
  // The retry budget's counters (RetryPolicy::budget > 0 only): calls in with_retries, and of
  // them those retrying.
  std::atomic<int> calls_in_flight{0};
  std::atomic<int> retries_in_flight{0};
};

}  // namespace khz

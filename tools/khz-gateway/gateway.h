// SPDX-License-Identifier: Apache-2.0
// khz-gateway's routing: a GatewayConfig (config.h) turned into routes on a khz::Server, each
// route a middleware chain in front of a khz::proxy::ReverseProxy.
//
//   khz::Server server(khz::gateway::server_options(config));
//   khz::gateway::Gateway gateway(server, config);   // after the server: destroyed first
//   server.spin();
//
// A request goes to the route that takes its host and has the longest path prefix; among
// routes with the same prefix, one naming the host wins over a wildcard, a wildcard over one
// for any host. No route: 404. The top-level middleware run for every request that has a
// route, then the chosen route's own; a route's middleware never run for another route's
// requests. Each route has its own proxy (balancer state and ejections are per route).
#pragma once

#include "config.h"

#include <khz/app/server.h>

#include <memory>
#include <vector>

namespace khz::gateway {

// The server options a configuration asks for (listen address, loops, transport, TLS).
ServerOptions server_options(const GatewayConfig& config);

class Gateway {
 public:
  // Registers the routes. Throws std::invalid_argument for options a middleware or the proxy
  // refuses (a bad CORS origin pattern, an upstream URL it cannot use...).
  Gateway(Server& server, const GatewayConfig& config);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  struct Route;

 private:
  std::vector<std::unique_ptr<Route>> routes_;
};

}  // namespace khz::gateway

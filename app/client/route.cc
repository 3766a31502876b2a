// SPDX-License-Identifier: Apache-2.0
// Routing: a request's destination (proxy, discovered endpoint or the URL's host).
#include "route.h"

namespace khz::client {

Routing::Routing(const ClientOptions& o)
    : balancer_(o.balancer ? o.balancer : std::make_shared<RoundRobinBalancer>()),
      resolver_(o.resolver),
      proxy_(o) {}

Route Routing::route(const Url& url, const HeaderMap* headers) {
  // https through a proxy tunnels (CONNECT); http through one uses the absolute form.
  Route r;
  r.tls = url.scheme == "https";
  const ProxyEndpoint* proxy = proxy_.for_url(url);
  r.via_proxy = proxy != nullptr && !r.tls;
  r.host = url.host;
  r.port = url.port;
  if (proxy != nullptr) {
    r.host = proxy->host;
    r.port = proxy->port;
  } else if (resolver_) {
    auto endpoints = headers != nullptr ? resolver_->resolve(url.host, url.port, *headers)
                                         : resolver_->resolve(url.host, url.port);
    if (!endpoints.empty()) {
      const Endpoint& e = endpoints[headers != nullptr ? balancer_->pick(endpoints, *headers) : balancer_->pick(endpoints)];
      r.endpoint = &e;
      r.host = e.host;
      r.port = e.port != 0 ? e.port : url.port;
    }
  }
  if (r.tls) {
    r.server_name = url.host;
    if (proxy != nullptr) {
      r.tunnel_host = url.host;
      r.tunnel_port = url.port;
    }
  }
  return r;
}

}  // namespace khz::client

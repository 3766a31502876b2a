// SPDX-License-Identifier: Apache-2.0
// Private to app/client: the first step of an exchange, where a request goes. Routing picks,
// for a URL, a proxy (http: absolute form; https: a CONNECT tunnel), else an endpoint the
// Resolver found and the Balancer picked, else the URL's own host; a Route names the pool.
#pragma once

#include <khz/app/client/discovery.h>
#include <khz/app/client/options.h>
#include <khz/app/client/url.h>

#include "proxy.h"

#include <cstdint>
#include <memory>
#include <string_view>

namespace khz::client {

// Where one request goes. The views point into the Url, the ProxyConfig or the Resolver's
// answer: valid until the next route() on this thread and while the Url lives; use them
// before any co_await.
struct Route {
  std::string_view host;         // dialled: the URL's host, a discovered endpoint, or the proxy
  std::uint16_t port = 0;
  bool tls = false;              // https
  bool via_proxy = false;        // http through a proxy: the request goes in absolute form
  std::string_view server_name;  // https: SNI and the name the certificate must carry
  std::string_view tunnel_host;  // https through a proxy: CONNECT to tunnel_host:tunnel_port
  std::uint16_t tunnel_port = 0;
  const Endpoint* endpoint = nullptr;  // the discovered endpoint picked (null: none)
};

// Made once per Client; used from every loop (the Resolver and Balancer are thread-safe).
class Routing {
 public:
  // Throws std::invalid_argument for a bad proxy URL (ProxyConfig).
  explicit Routing(const ClientOptions& options);

  // `headers`: the request's, for a Resolver that routes by them (null: none).
  Route route(const Url& url, const HeaderMap* headers = nullptr);
  // The balancer, when it wants feedback on the endpoints it picked; else null.
  Balancer* feedback() const noexcept { return balancer_->wants_feedback() ? balancer_.get() : nullptr; }

 private:
  std::shared_ptr<Balancer> balancer_;  // options.balancer, or round robin
  std::shared_ptr<Resolver> resolver_;  // may be null: no discovery
  ProxyConfig proxy_;
};

}  // namespace khz::client

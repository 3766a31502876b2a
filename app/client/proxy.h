// SPDX-License-Identifier: Apache-2.0
// Private to app/client: proxies. ProxyConfig is what ClientOptions (or the environment:
// HTTP_PROXY, HTTPS_PROXY, NO_PROXY) say about them, and which proxy a URL goes through;
// open_tunnel() asks a proxy for a CONNECT tunnel (https through a proxy).
#pragma once

#include <khz/app/client/options.h>
#include <khz/app/client/url.h>
#include <khz/common/result.h>
#include <khz/common/task.h>
#include <khz/protocol/http1_client.h>
#include <khz/transport/connection.h>

#include "deadline.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace khz::client {

struct HostPool;

struct ProxyEndpoint {
  bool enabled = false;
  std::string host;
  std::uint16_t port = 0;
};

// Made once per Client. Read-only afterwards: used from every loop without a lock.
class ProxyConfig {
 public:
  // ClientOptions::proxy for both schemes, else (proxy_from_environment) the environment's.
  // Throws std::invalid_argument for a proxy URL that is not http://host[:port].
  explicit ProxyConfig(const ClientOptions& options);

  // The proxy for this URL's scheme, or nullptr (none, or the host is in NO_PROXY).
  const ProxyEndpoint* for_url(const Url& url) const;

 private:
  ProxyEndpoint http_;                 // absolute-form requests
  ProxyEndpoint https_;                // CONNECT tunnels
  std::vector<std::string> no_proxy_;  // suffixes; "*" = all
};

// Asks the proxy at the other end of `raw` for a tunnel to pool.tunnel ("host:port", RFC 9110
// §9.3.6) within `deadline`, and returns the connection that now carries raw bytes to it (any
// bytes the proxy sent after its head stay in its input). Errors: the CONNECT exchange's
// (transport, protocol::errc), client::errc::proxy_refused for a non-2xx answer; the
// connection is closed then.
Task<Result<std::unique_ptr<transport::Connection>>> open_tunnel(std::unique_ptr<transport::Connection> raw,
                                                                 const HostPool& pool,
                                                                 const Http1ClientOptions& http1,
                                                                 Clock::time_point deadline);

}  // namespace khz::client

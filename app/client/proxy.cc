// SPDX-License-Identifier: Apache-2.0
// Proxies: parsing ClientOptions::proxy and the environment (HTTP_PROXY, HTTPS_PROXY,
// NO_PROXY), the NO_PROXY match, and the CONNECT tunnel for https through a proxy.
#include "proxy.h"

#include <khz/common/log.h>

#include "pool.h"

#include <cstdlib>
#include <stdexcept>
#include <string_view>

namespace khz::client {
namespace {

ProxyEndpoint parse_proxy(std::string proxy_url) {
  ProxyEndpoint out;
  if (proxy_url.empty()) return out;
  if (proxy_url.find("://") == std::string::npos) proxy_url = "http://" + proxy_url;
  auto u = Url::parse(proxy_url);
  if (!u || u->scheme != "http") throw std::invalid_argument("bad proxy URL '" + proxy_url + "'");
  out.enabled = true;
  out.host = u->host;
  out.port = u->port;
  return out;
}

std::string env(const char* a, const char* b) {
  const char* v = std::getenv(a);
  if (v == nullptr || *v == '\0') v = std::getenv(b);
  return v != nullptr ? v : "";
}

}  // namespace

ProxyConfig::ProxyConfig(const ClientOptions& o) {
  std::string no_proxy;
  if (!o.proxy.empty()) {
    http_ = parse_proxy(o.proxy);
    https_ = http_;
  } else if (o.proxy_from_environment) {
    http_ = parse_proxy(env("HTTP_PROXY", "http_proxy"));
    https_ = parse_proxy(env("HTTPS_PROXY", "https_proxy"));
    no_proxy = env("NO_PROXY", "no_proxy");
  }
  std::string_view list = no_proxy;
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty() && item.front() == '.') item.remove_prefix(1);
    if (!item.empty()) no_proxy_.emplace_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

const ProxyEndpoint* ProxyConfig::for_url(const Url& url) const {
  const ProxyEndpoint& p = url.scheme == "https" ? https_ : http_;
  if (!p.enabled) return nullptr;
  for (const auto& np : no_proxy_) {
    if (np == "*") return nullptr;
    if (url.host == np) return nullptr;
    if (url.host.size() > np.size() && url.host.ends_with(np) && url.host[url.host.size() - np.size() - 1] == '.') {
      return nullptr;
    }
  }
  return &p;
}

Task<Result<std::unique_ptr<transport::Connection>>> open_tunnel(std::unique_ptr<transport::Connection> raw,
                                                                 const HostPool& pool,
                                                                 const Http1ClientOptions& http1,
                                                                 Clock::time_point deadline) {
  Http1ClientConnection proxy_conn(std::move(raw), http1);
  Response answer;
  if (auto ec = co_await proxy_conn.connect_tunnel(pool.tunnel, answer, deadline)) {
    proxy_conn.close();
    co_return ec;
  }
  if (answer.status() < 200 || answer.status() > 299) {
    KHZ_LOG(debug, "client: proxy " << pool.host << ":" << pool.port << " answered CONNECT " << pool.tunnel
                                    << " with " << answer.status());
    proxy_conn.close();
    co_return std::error_code(client::errc::proxy_refused);
  }
  co_return proxy_conn.take_transport();
}

}  // namespace khz::client

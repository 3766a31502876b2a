// SPDX-License-Identifier: Apache-2.0
// khz-gateway's routes on a server (gateway.h).
#include "gateway.h"

#include "middleware_config.h"

#include <khz/app/request_context.h>
#include <khz/proxy/reverse_proxy.h>

#include <algorithm>
#include <set>
#include <string>
#include <utility>

namespace khz::gateway {

struct Gateway::Route {
  RouteConfig config;
  std::string prefix;  // path_prefix without a trailing '/' ("/" stays)
  std::unique_ptr<proxy::ReverseProxy> proxy;
  std::vector<Handler> middleware;  // made once: copies share their state (buckets, log writers)
};

namespace {

std::string normalised_prefix(std::string_view p) {
  if (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  return std::string(p);
}

// 2: a named host, 1: a wildcard, 0: any host.
int host_rank(const std::string& host) { return host.empty() ? 0 : host.starts_with("*.") ? 1 : 2; }

proxy::Balance balance_of(std::string_view name) {
  if (name == "weighted_round_robin") return proxy::Balance::weighted_round_robin;
  if (name == "least_request") return proxy::Balance::least_request;
  if (name == "consistent_hash") return proxy::Balance::consistent_hash;
  return proxy::Balance::round_robin;
}

proxy::ReverseProxyOptions proxy_options(const RouteConfig& r, const UpstreamConfig& u) {
  proxy::ReverseProxyOptions o;
  for (const auto& t : u.targets) o.upstreams.push_back({.url = t.url, .weight = t.weight});
  o.balance = balance_of(u.balance);
  using Source = proxy::HashKey::Source;
  o.hash_key.source = u.hash_key.source == "header"   ? Source::header
                      : u.hash_key.source == "cookie" ? Source::cookie
                      : u.hash_key.source == "path"   ? Source::path
                                                      : Source::client_ip;
  o.hash_key.name = u.hash_key.name;
  if (r.strip_prefix && r.path_prefix != "/") o.strip_prefix = normalised_prefix(r.path_prefix);
  o.preserve_host = r.preserve_host;
  o.forwarded = r.forwarded == "rfc7239" ? proxy::ForwardedFields::rfc7239
                : r.forwarded == "none"  ? proxy::ForwardedFields::none
                                         : proxy::ForwardedFields::x_forwarded;
  o.trusted_proxies = r.trusted_proxies;
  o.via = r.via;
  o.connect_timeout = u.connect_timeout;
  o.response_timeout = u.response_timeout;
  o.read_timeout = u.read_timeout;
  o.total_timeout = u.total_timeout;
  o.max_attempts = u.max_attempts;
  o.retry_budget = u.retry_budget;
  o.eject_after = u.eject_after;
  o.eject_time = u.eject_time;
  o.max_eject_time = u.max_eject_time;
  o.tls_ca_file = u.tls_ca_file;
  o.upstream_h2c = u.h2c;
  o.insecure_skip_verify = u.insecure_skip_verify;
  if (u.health_check) {
    o.health_check = {.path = u.health_check->path,
                      .interval = u.health_check->interval,
                      .timeout = u.health_check->timeout,
                      .unhealthy_after = u.health_check->unhealthy_after,
                      .healthy_after = u.health_check->healthy_after};
  }
  return o;
}

// The route a request belongs to among those its router entry knows (in choosing order), or
// null. Asked again by each middleware and the forwarder instead of stored on the request: a
// few host comparisons cost less than a per-request value.
const Gateway::Route* select(const std::vector<const Gateway::Route*>& candidates, RequestContext& ctx) {
  const std::string_view host = ctx.header("Host");  // HTTP/2: :authority (the server sets Host from it)
  for (const Gateway::Route* r : candidates) {
    if (host_matches(r->config.host, host)) return r;
  }
  return nullptr;
}

}  // namespace

ServerOptions server_options(const GatewayConfig& config) {
  ServerOptions o;
  o.address = config.listen;
  if (config.loops > 0) o.loops = static_cast<decltype(o.loops)>(config.loops);
  o.transport = config.transport;
  if (config.tls) {
    o.tls_cert_file = config.tls->cert_file;
    o.tls_key_file = config.tls->key_file;
    o.tls_client_ca_file = config.tls->client_ca_file;
  }
  return o;
}

Gateway::Gateway(Server& server, const GatewayConfig& config) {
  for (const RouteConfig& r : config.routes) {
    auto route = std::make_unique<Route>();
    route->config = r;
    route->prefix = normalised_prefix(r.path_prefix);
    route->proxy = std::make_unique<proxy::ReverseProxy>(proxy_options(r, config.upstreams.at(r.upstream)));
    for (const auto& m : r.middleware) route->middleware.push_back(make_middleware(m, server));
    routes_.push_back(std::move(route));
  }
  // The order a request's route is chosen in: longest prefix first, then the most specific host.
  std::vector<const Route*> order;
  for (const auto& r : routes_) order.push_back(r.get());
  std::stable_sort(order.begin(), order.end(), [](const Route* a, const Route* b) {
    if (a->prefix.size() != b->prefix.size()) return a->prefix.size() > b->prefix.size();
    return host_rank(a->config.host) > host_rank(b->config.host);
  });
  std::vector<Handler> shared;
  for (const auto& m : config.middleware) shared.push_back(make_middleware(m, server));

  // One router entry per prefix; a request the router sends there may belong to a route with
  // that prefix or a shorter one (another host's), so each entry knows all of those.
  std::set<std::string> prefixes;
  for (const auto& r : routes_) prefixes.insert(r->prefix);
  for (const std::string& prefix : prefixes) {
    std::vector<const Route*> candidates;
    for (const Route* r : order) {
      if (prefix_matches(r->prefix, prefix)) candidates.push_back(r);
    }
    RouteGroup group = server.group("");
    group.use(Handler("khz::gateway::route", [candidates](RequestContext& ctx) {
      if (select(candidates, ctx) == nullptr) {
        ctx.string(404, "no route for this host and path\n");
        ctx.abort();
      }
    }));
    for (const Handler& h : shared) group.use(h);
    for (const Route* r : candidates) {
      for (const Handler& h : r->middleware) {
        group.use(only_when([r, candidates](RequestContext& ctx) { return select(candidates, ctx) == r; }, h));
      }
    }
    Handler forward("khz::gateway::forward", [candidates](RequestContext& ctx) -> Task<void> {
      return select(candidates, ctx)->proxy->serve(ctx);
    });
    if (prefix == "/") {
      group.any("/", forward).stream_body();
      group.any("/*khz_gateway_path", forward).stream_body();
    } else {
      group.any(prefix, forward).stream_body();
      group.any(prefix + "/*khz_gateway_path", forward).stream_body();
    }
  }
}

Gateway::~Gateway() = default;

}  // namespace khz::gateway

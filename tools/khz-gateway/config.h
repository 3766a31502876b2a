// SPDX-License-Identifier: Apache-2.0
// khz-gateway's configuration file: its model and its reader. The file is JSON, bound with
// khz's own field lists (<khz/app/bind.h>) with unknown keys rejected, so a misspelt key is an
// error naming its path, not a silently ignored setting. docs/gateway.md is its manual.
//
//   {
//     "listen": "0.0.0.0:8080",
//     "upstreams": {"users": {"targets": [{"url": "http://10.0.0.7:9000"}], "balance": "least_request"}},
//     "routes": [{"path_prefix": "/api/users", "strip_prefix": true, "upstream": "users",
//                 "middleware": [{"cors": {"allow_origins": ["https://app.example"]}}]}]
//   }
//
//   auto config = khz::gateway::load_config_file("gateway.json");   // throws ConfigError
#pragma once

#include <khz/app/fields.h>

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace khz::gateway {

// Every problem found in a configuration, one per line ("routes[1].upstream: no upstream
// group \"userz\"").
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // set: clients must present a certificate chaining to these CAs
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("cert_file", &TlsConfig::cert_file).required(),
        khz::field("key_file", &TlsConfig::key_file).required(),
        khz::field("client_ca_file", &TlsConfig::client_ca_file),
    };
  }
};

struct TargetConfig {
  std::string url;
  int weight = 1;
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("url", &TargetConfig::url).required().pattern("https?://.+"),
        khz::field("weight", &TargetConfig::weight).range(1, 1000000),
    };
  }
};

struct HashKeyConfig {
  std::string source = "client_ip";
  std::string name;  // the header's or the cookie's
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("source", &HashKeyConfig::source).one_of("client_ip|header|cookie|path"),
        khz::field("name", &HashKeyConfig::name),
        khz::check<HashKeyConfig>(
            "name", [](const HashKeyConfig& k) { return !k.name.empty() || k.source == "client_ip" || k.source == "path"; },
            "is required for a header or cookie key"),
    };
  }
};

// Active health checks of a group's targets (ReverseProxyOptions::health_check).
struct HealthCheckConfig {
  std::string path;
  std::chrono::milliseconds interval{std::chrono::seconds(5)};
  std::chrono::milliseconds timeout{std::chrono::seconds(2)};
  int unhealthy_after = 3;
  int healthy_after = 2;
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("path", &HealthCheckConfig::path).required().pattern("/[^\\s]*"),
        khz::field("interval", &HealthCheckConfig::interval),
        khz::field("timeout", &HealthCheckConfig::timeout),
        khz::field("unhealthy_after", &HealthCheckConfig::unhealthy_after).range(1, 100),
        khz::field("healthy_after", &HealthCheckConfig::healthy_after).range(1, 100),
        khz::check<HealthCheckConfig>(
            "interval", [](const HealthCheckConfig& h) { return h.interval.count() > 0 && h.timeout.count() > 0; },
            "interval and timeout must be positive"),
    };
  }
};

// An upstream group: its targets and how requests are spread over them (ReverseProxyOptions).
struct UpstreamConfig {
  std::vector<TargetConfig> targets;
  std::string balance = "round_robin";
  HashKeyConfig hash_key;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};
  std::chrono::milliseconds response_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds read_timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds total_timeout{0};
  int max_attempts = 2;
  double retry_budget = 0.2;
  int eject_after = 5;
  std::chrono::milliseconds eject_time{std::chrono::seconds(10)};
  std::chrono::milliseconds max_eject_time{std::chrono::seconds(300)};
  bool h2c = false;  // http:// targets in HTTP/2 with prior knowledge (gRPC servers)
  std::string tls_ca_file;
  bool insecure_skip_verify = false;
  std::optional<HealthCheckConfig> health_check;
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("targets", &UpstreamConfig::targets).required(),
        khz::field("health_check", &UpstreamConfig::health_check),
        khz::field("balance", &UpstreamConfig::balance)
            .one_of("round_robin|weighted_round_robin|least_request|consistent_hash"),
        khz::field("hash_key", &UpstreamConfig::hash_key),
        khz::field("connect_timeout", &UpstreamConfig::connect_timeout),
        khz::field("response_timeout", &UpstreamConfig::response_timeout),
        khz::field("read_timeout", &UpstreamConfig::read_timeout),
        khz::field("total_timeout", &UpstreamConfig::total_timeout),
        khz::field("max_attempts", &UpstreamConfig::max_attempts).range(1, 10),
        khz::field("retry_budget", &UpstreamConfig::retry_budget).range(0, 1),
        khz::field("eject_after", &UpstreamConfig::eject_after).range(0, 1000),
        khz::field("eject_time", &UpstreamConfig::eject_time),
        khz::field("max_eject_time", &UpstreamConfig::max_eject_time),
        khz::field("h2c", &UpstreamConfig::h2c),
        khz::field("tls_ca_file", &UpstreamConfig::tls_ca_file),
        khz::field("insecure_skip_verify", &UpstreamConfig::insecure_skip_verify),
    };
  }
};

// ---- middleware, each entry of a "middleware" list naming exactly one

struct RequestIdConfig {
  std::string header = "X-Request-ID";
  bool accept_incoming = true;
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("header", &RequestIdConfig::header).required(),
        khz::field("accept_incoming", &RequestIdConfig::accept_incoming),
    };
  }
};

struct AccessLogConfig {
  std::string format = "combined";
  std::string path;  // "": standard error
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("format", &AccessLogConfig::format).one_of("combined|json"),
        khz::field("path", &AccessLogConfig::path),
    };
  }
};

struct CorsConfig {
  std::vector<std::string> allow_origins;
  std::optional<std::vector<std::string>> allow_methods;  // unset: the middleware's defaults
  std::optional<std::vector<std::string>> allow_headers;
  std::vector<std::string> expose_headers;
  bool allow_credentials = false;
  std::chrono::seconds max_age{0};
  bool allow_private_network = false;
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("allow_origins", &CorsConfig::allow_origins).required(),
        khz::field("allow_methods", &CorsConfig::allow_methods),
        khz::field("allow_headers", &CorsConfig::allow_headers),
        khz::field("expose_headers", &CorsConfig::expose_headers),
        khz::field("allow_credentials", &CorsConfig::allow_credentials),
        khz::field("max_age", &CorsConfig::max_age),
        khz::field("allow_private_network", &CorsConfig::allow_private_network),
    };
  }
};

struct CompressionConfig {
  std::vector<std::string> codings{"zstd", "br", "gzip"};
  std::size_t min_bytes = 1024;
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("codings", &CompressionConfig::codings),
        khz::field("min_bytes", &CompressionConfig::min_bytes),
    };
  }
};

struct DecompressionConfig {
  std::size_t max_bytes = 8 << 20;
  static constexpr auto khz_fields() {
    return std::tuple{khz::field("max_bytes", &DecompressionConfig::max_bytes).min(1)};
  }
};

struct RateLimitConfig {
  double rate = 10;
  unsigned burst = 20;
  std::string key_header;  // set: the key is this request field's value; else the client's address
  std::vector<std::string> trusted_proxies;
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("rate", &RateLimitConfig::rate).min(0.001),
        khz::field("burst", &RateLimitConfig::burst).min(1),
        khz::field("key_header", &RateLimitConfig::key_header),
        khz::field("trusted_proxies", &RateLimitConfig::trusted_proxies),
    };
  }
};

struct BasicAuthConfig {
  std::map<std::string, std::string> users;  // user -> password
  std::string realm = "Restricted";
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("users", &BasicAuthConfig::users).required(),
        khz::field("realm", &BasicAuthConfig::realm),
    };
  }
};

struct KeyAuthConfig {
  std::vector<std::string> keys;
  std::string header = "X-API-Key";
  std::string query;   // set: also looked for in this query parameter
  std::string cookie;  // set: also looked for in this cookie
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("keys", &KeyAuthConfig::keys).required(),
        khz::field("header", &KeyAuthConfig::header),
        khz::field("query", &KeyAuthConfig::query),
        khz::field("cookie", &KeyAuthConfig::cookie),
    };
  }
};

struct SecureHeadersConfig {
  std::chrono::seconds hsts_max_age{std::chrono::hours(24 * 365)};
  std::optional<std::string> content_security_policy;  // unset: the middleware's default; "": none
  std::string frame_options = "SAMEORIGIN";
  std::string referrer_policy = "no-referrer";
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("hsts_max_age", &SecureHeadersConfig::hsts_max_age),
        khz::field("content_security_policy", &SecureHeadersConfig::content_security_policy),
        khz::field("frame_options", &SecureHeadersConfig::frame_options),
        khz::field("referrer_policy", &SecureHeadersConfig::referrer_policy),
    };
  }
};

struct TimeoutConfig {
  std::chrono::milliseconds after{0};
  static constexpr auto khz_fields() {
    return std::tuple{khz::field("after", &TimeoutConfig::after).required()};
  }
};

struct EmptyConfig {  // a middleware without settings: {"recovery": {}}
  static constexpr auto khz_fields() { return std::tuple{}; }
};

struct MiddlewareConfig {
  std::optional<EmptyConfig> recovery;
  std::optional<RequestIdConfig> request_id;
  std::optional<AccessLogConfig> access_log;
  std::optional<CorsConfig> cors;
  std::optional<CompressionConfig> compression;
  std::optional<DecompressionConfig> decompression;
  std::optional<RateLimitConfig> rate_limit;
  std::optional<BasicAuthConfig> basic_auth;
  std::optional<KeyAuthConfig> key_auth;
  std::optional<SecureHeadersConfig> secure_headers;
  std::optional<TimeoutConfig> timeout;
  // How many middleware the entry names (exactly one is valid).
  int named() const noexcept {
    return recovery.has_value() + request_id.has_value() + access_log.has_value() + cors.has_value() +
           compression.has_value() + decompression.has_value() + rate_limit.has_value() + basic_auth.has_value() +
           key_auth.has_value() + secure_headers.has_value() + timeout.has_value();
  }
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("recovery", &MiddlewareConfig::recovery),
        khz::field("request_id", &MiddlewareConfig::request_id),
        khz::field("access_log", &MiddlewareConfig::access_log),
        khz::field("cors", &MiddlewareConfig::cors),
        khz::field("compression", &MiddlewareConfig::compression),
        khz::field("decompression", &MiddlewareConfig::decompression),
        khz::field("rate_limit", &MiddlewareConfig::rate_limit),
        khz::field("basic_auth", &MiddlewareConfig::basic_auth),
        khz::field("key_auth", &MiddlewareConfig::key_auth),
        khz::field("secure_headers", &MiddlewareConfig::secure_headers),
        khz::field("timeout", &MiddlewareConfig::timeout),
        khz::check<MiddlewareConfig>("", [](const MiddlewareConfig& m) { return m.named() == 1; },
                                     "must name exactly one middleware"),
    };
  }
};

// A route: the requests it takes (host and path prefix) and where they go.
struct RouteConfig {
  std::string host;         // "api.example.com", "*.example.com" (one label or more); "": any
  std::string path_prefix = "/";  // at a segment boundary: "/api" takes /api and /api/..., not /apix
  std::string upstream;     // a key of "upstreams"
  bool strip_prefix = false;  // true: path_prefix is removed before forwarding
  bool preserve_host = true;  // false: Host is the upstream's authority
  std::string forwarded = "x_forwarded";
  std::vector<std::string> trusted_proxies;
  std::string via;
  std::vector<MiddlewareConfig> middleware;   // after the top-level list, in order
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("host", &RouteConfig::host).pattern("(\\*\\.)?[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*"),
        khz::field("path_prefix", &RouteConfig::path_prefix).pattern("/[^?#\\s]*"),
        khz::field("upstream", &RouteConfig::upstream).required(),
        khz::field("strip_prefix", &RouteConfig::strip_prefix),
        khz::field("preserve_host", &RouteConfig::preserve_host),
        khz::field("forwarded", &RouteConfig::forwarded).one_of("x_forwarded|rfc7239|none"),
        khz::field("trusted_proxies", &RouteConfig::trusted_proxies),
        khz::field("via", &RouteConfig::via),
        khz::field("middleware", &RouteConfig::middleware),
    };
  }
};

struct GatewayConfig {
  std::string listen = "127.0.0.1:8080";
  int loops = 0;           // 0: one per core
  std::string transport;   // "": $KHZ_TRANSPORT, else the default backend
  std::optional<TlsConfig> tls;
  std::vector<MiddlewareConfig> middleware;  // every route's, before its own
  std::map<std::string, UpstreamConfig> upstreams;
  std::vector<RouteConfig> routes;
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("listen", &GatewayConfig::listen).required(),
        khz::field("loops", &GatewayConfig::loops).range(0, 1024),
        khz::field("transport", &GatewayConfig::transport),
        khz::field("tls", &GatewayConfig::tls),
        khz::field("middleware", &GatewayConfig::middleware),
        khz::field("upstreams", &GatewayConfig::upstreams).required(),
        khz::field("routes", &GatewayConfig::routes).required(),
    };
  }
};

// Reads a configuration from JSON text, checks every rule and every cross reference (a
// route's upstream group exists; no two routes take the same host and prefix). Throws
// ConfigError listing every problem.
GatewayConfig parse_config(std::string_view json);
// The same from a file (ConfigError also when it cannot be read).
GatewayConfig load_config_file(const std::string& path);

// Does `route_host` (RouteConfig::host) take a request for `host` (its Host field or
// :authority, port and all)? Case-insensitive; "" takes every host.
bool host_matches(std::string_view route_host, std::string_view host) noexcept;
// Does `prefix` (RouteConfig::path_prefix) take `path`, at a segment boundary?
bool prefix_matches(std::string_view prefix, std::string_view path) noexcept;

}  // namespace khz::gateway

// SPDX-License-Identifier: Apache-2.0
// khz/app/client/options.h: ClientOptions, everything a Client is configured with (timeouts,
// pools, retries, redirects, proxy, TLS, HTTP/2, discovery, cookies), and RetryPolicy. A plain struct,
// set with designated initializers; read once, when the Client is made.
//
//   khz::Client client({.total_timeout = std::chrono::seconds(3),
//                       .max_connections_per_host = 16,
//                       .retry = {.max_attempts = 3, .on_timeout = true},
//                       .tls_ca_file = "corp-ca.pem"});
//
// Timeouts: dial (per connect, resolution included) · TLS handshake (cut to what is left of the
// total) · write (each flush) · response header (from the end of the request to the final
// head) · read (longest gap inside a body) · total (the whole call, retries and redirects
// included; ClientRequest::timeout overrides it per call). 0 means none where a field says so.
// Pools: per loop and host; idle connections expire lazily: one idle for longer than
// idle_timeout (or older than max_lifetime) is closed when its pool is next used, never reused.
// https: servers are verified against the system CA store plus tls_ca_file, by the URL's host
// (SNI); insecure_skip_verify turns the checks off. Each pooled connection carries its own TLS
// session (kept alive like plain ones). ALPN offers "h2" then "http/1.1" (http2).
// HTTP/2 (h2 by ALPN, or h2c with http2_prior_knowledge): per loop and host one multiplexed
// connection carries every concurrent request (each a stream; callers beyond the server's
// SETTINGS_MAX_CONCURRENT_STREAMS wait up to wait_timeout for a slot); one that got GOAWAY or
// closed is replaced by a new one at the next request while it drains. Requests the server
// never processed (REFUSED_STREAM, above a GOAWAY's last stream id) are sent again
// automatically, whatever the method (with a body_source, only when it was never asked for
// bytes: refused while it waited for a stream slot). Everything else (timeouts, cancellation
// of just that stream, retries, redirects, streaming both ways, limits, middleware) works as
// over HTTP/1.1; Response::version() tells which was used.
// Threading: a value; the Client keeps its own copy.
#pragma once

#include <khz/app/client/discovery.h>
#include <khz/common/metrics.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace khz {

class CookieJar;  // <khz/app/client/cookie_jar.h>

struct RetryPolicy {
  int max_attempts = 1;  // 1: no retries
  std::chrono::milliseconds backoff{50};       // before the 2nd attempt; doubles each time
  std::chrono::milliseconds max_backoff{2000};
  double jitter = 0.2;                          // each wait is scaled by a random 1 ± jitter
  std::vector<int> statuses{502, 503, 504};     // responses worth another attempt
  bool on_connect_error = true;                 // dial failures (refused, unreachable, timeout)
  bool on_timeout = false;                      // response-header / read timeouts
  bool on_connection_error = true;              // reset or closed before a complete response
  bool non_idempotent = false;                  // also retry POST, PATCH, ... (else only
                                                // GET HEAD OPTIONS TRACE PUT DELETE, RFC 9110 §9.2.2)
  // A retry budget (as Envoy's): a call may retry only while the calls retrying stay under
  // max(min_retries_in_flight, budget x calls in flight) of this Client, so a failing upstream
  // is not hit with max_attempts times its load. 0: no budget (counters not kept).
  double budget = 0;
  int min_retries_in_flight = 3;
};

struct ClientOptions {
  std::chrono::milliseconds dial_timeout{std::chrono::seconds(5)};
  std::chrono::milliseconds tls_handshake_timeout{std::chrono::seconds(10)};  // https; 0: none
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds response_header_timeout{std::chrono::seconds(30)};  // from sent to head
  std::chrono::milliseconds read_timeout{std::chrono::seconds(30)};  // longest gap within a body
  std::chrono::milliseconds total_timeout{0};  // the whole call, retries and redirects included; 0: none
  std::size_t max_connections_per_host = 64;   // open (busy, idle or dialling) per host and loop
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds max_lifetime{0};   // of a connection; 0: unlimited
  std::chrono::milliseconds wait_timeout{std::chrono::seconds(5)};  // for a free connection
  std::size_t max_header_bytes = 64 * 1024;
  std::uint64_t max_body_bytes = 64 * 1024 * 1024;  // larger responses fail with response_too_large
  RetryPolicy retry{};
  int max_redirects = 10;  // 0: return 3xx responses as they are
  // "http://host:port" (or "host:port") for every request, sent in absolute form. Empty and
  // proxy_from_environment: HTTP_PROXY, else http_proxy, except for hosts in NO_PROXY /
  // no_proxy (comma-separated names; "name" and ".name" also match subdomains; "*" all).
  // https requests go through the proxy in a CONNECT tunnel (TLS end to end with the origin);
  // from the environment they use HTTPS_PROXY, else https_proxy (NO_PROXY applies too).
  std::string proxy{};
  bool proxy_from_environment = true;
  // https: the server's certificate must chain to the system CA store (OpenSSL's default
  // paths) or to a CA in tls_ca_file (PEM), and name the URL's host (SNI is sent too).
  // The files are loaded when the Client is made (std::invalid_argument if they cannot be).
  std::string tls_ca_file{};
  bool insecure_skip_verify = false;  // no certificate or name check: tests and private networks only
  std::string tls_client_cert_file{};   // a client certificate (PEM chain) and its key: both or neither
  std::string tls_client_key_file{};
  // HTTP/2. https: offer "h2" before "http/1.1" by ALPN and speak HTTP/2 when the server picks
  // it (the pool then keeps one multiplexed connection per host and loop, see above); false:
  // offer only http/1.1. http: HTTP/1.1 unless http2_prior_knowledge (h2c from the first byte,
  // RFC 9113 §3.3; the server must speak it, there is no fallback). Requests sent through an
  // http proxy in absolute form always use HTTP/1.1; https through a CONNECT tunnel may use h2.
  bool http2 = true;
  bool http2_prior_knowledge = false;
  std::uint32_t http2_max_concurrent_streams = 1000;  // per connection (the server's limit holds too)
  std::string user_agent = "khz";
  std::shared_ptr<Resolver> resolver{};  // default: none (hosts are dialled as named)
  std::shared_ptr<Balancer> balancer{};  // default: round robin
  std::string transport{};             // BlockingClient's loop backend ("" = default)
  // Cookies: with a jar the client stores every response's Set-Cookie fields (each redirect
  // hop's too) and sends the matching cookies with every request, after the request's own
  // Cookie header (<khz/app/client/cookie_jar.h> has the rules). Share one jar between
  // clients to share their cookies. Default: none (Set-Cookie is ignored).
  //   khz::Client client({.cookie_jar = std::make_shared<khz::CookieJar>()});
  std::shared_ptr<CookieJar> cookie_jar{};
  // Metrics (<khz/common/metrics.h>; a server's: Server::metrics_registry()): each call (its
  // redirects and retries included) counted and timed by upstream and outcome:
  // http_client_requests_total and http_client_request_duration_seconds {server_address
  // ("host:port" of the URL), outcome ("2xx".."5xx", or "error")}; and the pools' connections,
  // http_client_open_connections {server_address (the dialled "host:port"), state ("active":
  // lent to a request, being dialled, or HTTP/2; "idle": HTTP/1.1 keep-alive awaiting reuse)}.
  // Default: none.
  std::shared_ptr<metrics::Registry> metrics{};
  // Deadline propagation: non-empty (e.g. "X-Khz-Timeout-Ms"), a call with a deadline (its
  // total_timeout or ClientRequest::timeout) sends this field with the milliseconds left when
  // it starts (at least 1; the smaller of that and a value the request or the handler's ambient
  // fields already carry), for the callee to turn into its handler's deadline
  // (khz::middleware::deadline). Default: none.
  std::string deadline_header{};
};

}  // namespace khz

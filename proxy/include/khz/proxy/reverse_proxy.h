// SPDX-License-Identifier: Apache-2.0
// khz/proxy/reverse_proxy.h: ReverseProxy, a handler that forwards requests to upstream HTTP
// servers and streams their answers back: the base of an API gateway.
//
//   khz::Server server({.address = "0.0.0.0:8080"});
//   khz::proxy::ReverseProxy api({                      // after the server (see Threading)
//       .upstreams = {{.url = "http://10.0.0.7:9000"}, {.url = "http://10.0.0.8:9000", .weight = 2}},
//       .balance = khz::proxy::Balance::weighted_round_robin,
//       .strip_prefix = "/api",                      // /api/users/7 -> /users/7 upstream
//       .response_timeout = std::chrono::seconds(10),
//   });
//   server.any("/api/*rest", api.handler()).stream_body();   // .stream_body(): uploads stream
//   server.spin();
//
// What is forwarded, and how:
// - The method, and the request target byte for byte as the client sent it: never decoded or
//   re-encoded (`/a%2Fb;x=1?q=a+b` arrives upstream as sent). `strip_prefix` removes a leading
//   path prefix (at a segment boundary); the upstream URL's own path is put in front
//   ("http://h:9000/v2" + "/users" -> "/v2/users"); `rewrite`, when set, maps the resulting
//   target to the one sent.
// - Header fields, minus the hop-by-hop ones (RFC 9110 §7.6.1: Connection, Keep-Alive,
//   Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, TE, Transfer-Encoding,
//   Upgrade, and every field the Connection field names), in both directions — except that a
//   client's `TE: trailers` is passed on (gRPC servers require it). Host is kept
//   (`preserve_host`) or set to the upstream's authority. Expect is answered here (100 Continue
//   when the body is first read), not forwarded.
// - Forwarding fields (`forwarded`): X-Forwarded-For gets the client's address appended, and
//   X-Forwarded-Proto / X-Forwarded-Host are set; or RFC 7239 `Forwarded: for=...;host=...;
//   proto=...` is appended. Incoming X-Forwarded-* and Forwarded fields are kept only from a
//   peer in `trusted_proxies` (addresses or CIDR ranges); from any other peer they are
//   dropped, so a client cannot forge its address. `via`, when set, adds `Via: 1.1 <via>` both
//   ways (RFC 9110 §7.6.3).
// - The body streams both ways, with backpressure and no full buffering: the request body (on
//   a .stream_body() route) is read as the upstream takes it; the response goes back piece by
//   piece as it arrives (chunked on HTTP/1.1 unless the whole body came at once), so
//   Server-Sent Events pass event by event. The upstream's trailer fields follow the body
//   (HTTP/1.1: after the last chunk; HTTP/2: a trailing HEADERS frame).
//
// Errors, each with one warning in the log naming the upstream:
// - the upstream refuses, resets or closes before a whole response head: 502;
// - no response head within `response_timeout` (or no connection within `connect_timeout`): 504;
// - the upstream fails after the response began (it dies mid-body, or stalls past
//   `read_timeout`): the client's response is cut off (HTTP/1.1: the connection closes without
//   the last chunk; HTTP/2: the stream is reset), never ended as if complete.
//
// Upstream pools: with several upstreams, `balance` picks one per request: round robin, smooth
// weighted round robin (nginx's), least request (power of two random choices by requests in
// flight), or consistent hash (a ring of 160 points per unit of weight; `hash_key` says what
// is hashed): the same key goes to the same upstream, and when one leaves (ejected) only its
// keys move, to the next upstream on the ring. An upstream that fails `eject_after` times in a row (connect failures and 5xx
// answers) is left out for `eject_time`, doubled at each ejection in a row (at most
// `max_eject_time`); so is one that active health checks (`health_check`) found down; when
// every upstream is out, they are all tried anyway. A request whose
// upstream could not be reached (refused, unreachable) is tried on another
// upstream, up to `max_attempts` in all, as long as none of its body was read; an idempotent
// method (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) is also retried after the connection broke
// before a response head. Retries draw on a budget (`retry_budget`): past it, the failure is
// answered (502) instead of retried.
//
// Threading: one ReverseProxy serves every loop of a server; its handler may run on all of
// them at once. Like any khz::Client user (it holds one): declare it after the Server, so it
// is destroyed first, once the server has stopped (spin() returned, or shutdown()); its idle
// upstream connections are closed then and need their loops. Bad options (no upstream, an unparsable URL or trusted range) throw
// std::invalid_argument from the constructor.
#pragma once

#include <khz/app/handler.h>
#include <khz/app/request_context.h>
#include <khz/common/task.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace khz::proxy {

struct Upstream {
  std::string url{};  // "http://host:port[/base/path]" or "https://..."
  int weight = 1;     // for Balance::weighted_round_robin; >= 1
};

enum class Balance { round_robin, weighted_round_robin, least_request, consistent_hash };

// What Balance::consistent_hash hashes: a request field, a cookie, the client's address or the
// path (the target without its query). A request without the field or cookie hashes "".
struct HashKey {
  enum class Source { header, cookie, client_ip, path };
  Source source = Source::client_ip;
  std::string name{};  // the header field's or the cookie's name
};

// Active health checks: every `interval`, a GET of `path` to each upstream (with the upstream
// URL's base path in front, Host set to its authority); a 2xx or 3xx answer within `timeout`
// passes, anything else (an error status, a refused or timed-out connection) fails. An upstream
// failing `unhealthy_after` checks in a row is down — the balancer leaves it out, as an ejected
// one — until it passes `healthy_after` in a row. Each change of state is logged. The checks
// run on a thread of their own, one upstream after another; the first round starts at once.
struct HealthCheck {
  std::string path{};  // "/healthz"; empty: no active checks
  std::chrono::milliseconds interval{std::chrono::seconds(5)};
  std::chrono::milliseconds timeout{std::chrono::seconds(2)};
  int unhealthy_after = 3;
  int healthy_after = 2;
};

// Which forwarding fields the upstream gets.
enum class ForwardedFields { x_forwarded, rfc7239, none };

struct ReverseProxyOptions {
  std::vector<Upstream> upstreams{};
  Balance balance = Balance::round_robin;
  HashKey hash_key{};  // for Balance::consistent_hash
  std::string strip_prefix{};  // "/api": "/api/x" -> "/x", "/api" -> "/"; "/apix" unchanged
  // Maps the target about to be sent (prefixes applied) to the one sent; must return a target
  // starting with '/'. Called on the loop of the request.
  std::function<std::string(std::string_view target)> rewrite{};
  bool preserve_host = true;  // false: Host is the upstream's authority
  ForwardedFields forwarded = ForwardedFields::x_forwarded;
  std::vector<std::string> trusted_proxies{};  // "10.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"
  std::string via{};  // a pseudonym: adds "Via: 1.1 <via>" (HTTP/2: "2 <via>") both ways
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};
  std::chrono::milliseconds response_timeout{std::chrono::seconds(30)};  // request sent to head
  std::chrono::milliseconds read_timeout{std::chrono::seconds(60)};  // longest gap within a body
  // The whole exchange with the upstreams, every try and the response body included (the
  // per-try timeouts above still hold within it); 0: none. Past it before a response head:
  // 504; after: the response is cut off. Leave it 0 on routes that stream without end (SSE).
  std::chrono::milliseconds total_timeout{0};
  int max_attempts = 2;  // tries per request (on different upstreams when there are several)
  // Retry budget (as Envoy's): retries in flight stay below this share of the requests in
  // flight, or below min_retries_in_flight, whichever is larger, so retries cannot multiply
  // the load on upstreams that are failing anyway.
  double retry_budget = 0.2;
  int min_retries_in_flight = 3;
  int eject_after = 5;   // consecutive failures that eject an upstream; 0: never
  std::chrono::milliseconds eject_time{std::chrono::seconds(10)};
  std::chrono::milliseconds max_eject_time{std::chrono::seconds(300)};
  HealthCheck health_check{};  // active checks (off unless its path is set)
  // http:// upstreams spoken to in HTTP/2 from the first byte (h2c with prior knowledge), as
  // gRPC servers expect; https:// upstreams choose HTTP/2 or HTTP/1.1 by ALPN either way.
  bool upstream_h2c = false;
  bool insecure_skip_verify = false;  // https upstreams: no certificate check (tests only)
  std::string tls_ca_file{};          // https upstreams: the CA bundle to trust
};

class ReverseProxy {
 public:
  explicit ReverseProxy(ReverseProxyOptions options);
  ~ReverseProxy();
  ReverseProxy(const ReverseProxy&) = delete;
  ReverseProxy& operator=(const ReverseProxy&) = delete;

  // A handler for any route; it refers to this proxy, which must outlive the server.
  Handler handler();
  // Forwards one request (what handler() runs).
  Task<void> serve(RequestContext& ctx);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace khz::proxy

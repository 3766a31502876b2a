// SPDX-License-Identifier: Apache-2.0
// khz::Client: the HTTP client (Hertz's client.Client): per-host keep-alive pools, timeouts,
// retries, redirects, proxies, streaming bodies both ways, client middleware, service
// discovery (Resolver) and load balancing. Awaitable inside handlers on the caller's loop;
// BlockingClient wraps it for plain programs.
//
//   khz::Client client({.retry = {.max_attempts = 3}});            // shared by every loop
//   server.get("/users/:id", [&](khz::RequestContext& ctx) -> khz::Task<> {
//     auto resp = co_await client.get("http://users.svc:8080/users/" + std::string(ctx.param("id")));
//     if (!resp) { ctx.string(502, resp.error().message()); co_return; }
//     ctx.data(resp->status(), resp->header("Content-Type"), resp->body());
//   });
//
//   khz::BlockingClient c;                                          // a plain program
//   khz::Result<khz::Response> r = c.get("http://127.0.0.1:8080/ping");
//
// https: `khz::Client c({.tls_ca_file = "corp-ca.pem"});` verifies servers against the system
// CA store plus that file, by the URL's host (SNI); `.insecure_skip_verify = true` turns the
// checks off. Each pooled connection carries its own TLS session (kept alive like plain ones);
// ALPN offers "h2" then "http/1.1" (ClientOptions::http2). The TLS handshake is bounded by
// tls_handshake_timeout (and by what is left of total_timeout).
//
// HTTP/2 (h2 by ALPN, or h2c with ClientOptions::http2_prior_knowledge): per loop and host one
// multiplexed connection carries every concurrent request (each a stream; callers beyond the
// server's SETTINGS_MAX_CONCURRENT_STREAMS wait up to wait_timeout for a slot); one that got
// GOAWAY or closed is replaced by a new one at the next request while it drains. Requests the
// server never processed (REFUSED_STREAM, above a GOAWAY's last stream id) are sent again
// automatically, whatever the method. Everything else (timeouts, cancellation of just that
// stream, retries, redirects, streaming both ways, limits, middleware) works as over HTTP/1.1;
// Response::version() tells which was used.
//
// GCC 12: write `ClientRequest r{...}; co_await client.send(std::move(r));`, never
// `co_await client.send({...})` (a braced temporary in a co_await is destroyed twice, PR 99576).
//
// Streaming: `stream()` returns once the response head arrived; `ResponseStream::read()`
// yields body pieces as they arrive. Request bodies stream from `ClientRequest::body_source`
// (a producer coroutine) or `body_file`.
//
// Errors (Result's error_code): transport errors (transport::errc::timed_out for the dial,
// write, response-header, read-gap and total timeouts; connection refused, ...),
// protocol::errc::{malformed_response, header_too_large, response_too_large, truncated_response},
// and client::errc (below).
//
// Where it runs: on a transport loop (a server's loop inside a handler, a ClientLoop, or
// BlockingClient's own); elsewhere (e.g. run_blocking's plain loop) dialling fails with
// std::errc::operation_not_supported.
// Lifetimes and threading: one Client may be used from many loops at once (each loop gets its
// own pools; nothing is shared on the request path but the balancer's counter). A request runs
// on the loop of the coroutine that awaits it. Destroy the Client only when no request is in
// flight and no loop that used it is running a request through it, and before those loops
// themselves are destroyed: idle pooled connections are closed on the destroying thread and
// need their loop. With a Server: declare the Client after the Server (so it is destroyed
// first) and let the server stop first (spin() returned, or shutdown()). On a loop that keeps
// running, call close_idle() there first.
// Pools: idle connections expire lazily: one idle for longer than idle_timeout (or older than
// max_lifetime) is closed when its pool is next used, never reused.
#pragma once

#include <khz/common/result.h>
#include <khz/common/task.h>
#include <khz/protocol/header_map.h>
#include <khz/protocol/response.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace khz {

namespace transport {
class Connection;
}
class Http2Stream;
namespace detail {
struct ClientAccess;  // the client's internals (client.cc)
}

namespace client {
enum class errc {
  bad_url = 1,             // not an absolute http(s) URL
  unsupported_scheme,      // a scheme other than http and https
  too_many_redirects,      // more than ClientOptions::max_redirects
  pool_timeout,            // no connection of the host's pool became free within wait_timeout
  cancelled,               // the request's CancellationToken was triggered
  body_not_replayable,     // a retry or a 307/308 redirect would need a streamed body again
  proxy_refused,           // the proxy answered CONNECT with a non-2xx status (https through a proxy)
  certificate_verify_failed,  // https: the server's certificate could not be verified (untrusted
                              // CA, name mismatch, expired, ...; the reason is logged at debug)
};
const std::error_category& client_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), client_category()}; }
}  // namespace client

// An absolute http(s) URL, split.
struct Url {
  std::string scheme{};      // "http" or "https", lower case
  std::string host{};        // without brackets for IPv6
  std::uint16_t port = 0;    // explicit, or the scheme's default
  std::string target = "/";  // path and query ("/a/b?x=1"), never empty
  bool explicit_port = false;

  // Parses "http://host[:port][/path][?query]"; the fragment is dropped.
  static Result<Url> parse(std::string_view text);
  // Host header value: host[:port] (port omitted when it is the scheme's default).
  std::string authority() const;
  std::string str() const;
  // The URL a Location header points to, relative to this one (RFC 3986 §5.2, common cases:
  // absolute URL, "//authority/path", "/absolute/path", "relative/path").
  Result<Url> resolve(std::string_view reference) const;
};

// Lets the awaiting side cancel a request (e.g. when the downstream client went away): a
// cancelled request ends with client::errc::cancelled, closing its connection if one is in use
// (a request writing or waiting for its response ends at once; one waiting for a pool slot, a
// dial or a retry backoff ends when that step completes). Copies share one state. cancel()
// must be called on the loop the request runs on (from another coroutine there, or via
// EventLoop::post).
// Inside a server handler no token is needed for the common case: a call (and a ResponseStream
// it returns) watches the handler's ambient CancelSignal (RequestContext::cancel_signal()) and
// is cancelled the same way when the downstream client hangs up or resets its stream.
class CancellationToken {
 public:
  CancellationToken();
  void cancel() noexcept;
  bool cancelled() const noexcept;

 private:
  friend struct detail::ClientAccess;
  struct State;
  // The connection a cancel() closes (nullptr: none in use), or the HTTP/2 stream it resets.
  void set_active(transport::Connection* conn) const noexcept;
  void set_stream(Http2Stream* stream) const noexcept;
  std::shared_ptr<State> state_;
};

// A request body produced piece by piece: return the next piece (valid until the next call),
// an empty view at the end, or an error to abort the request.
using BodySource = std::function<Task<Result<std::string_view>>()>;

struct ClientRequest {
  std::string method = "GET";
  std::string url{};
  HeaderMap headers{};
  std::string body{};                  // a buffered body
  BodySource body_source{};            // or a streamed body
  std::int64_t body_length = -1;       // of body_source: known length (Content-Length); -1 chunked
  std::string body_file{};             // or a file's contents (Content-Length; read in 64 KiB pieces)
  bool idempotent = false;             // let a non-idempotent method be retried
  std::chrono::milliseconds timeout{0};  // overrides ClientOptions::total_timeout when non-zero
  CancellationToken cancel{};
};

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
};

// Where a request's host really goes: service discovery. resolve() returns the endpoints for
// a host; an empty list means "dial the host itself". An endpoint's host may be a Unix domain
// socket, "unix:/run/api.sock" or "unix:@name" (its port is then ignored): requests for
// http://api/... go over that socket, with "Host: api".
struct Endpoint {
  std::string host{};
  std::uint16_t port = 0;
  int weight = 1;
};
class Resolver {
 public:
  virtual ~Resolver() = default;
  // Must be thread-safe (called from every loop). The span lives until the next call on the
  // same thread.
  virtual std::span<const Endpoint> resolve(std::string_view host, std::uint16_t port) = 0;
};
// A fixed table: service name -> endpoints. Names not in it resolve to themselves.
class StaticResolver final : public Resolver {
 public:
  StaticResolver& add(std::string name, std::vector<Endpoint> endpoints);
  std::span<const Endpoint> resolve(std::string_view host, std::uint16_t port) override;

 private:
  std::vector<std::pair<std::string, std::vector<Endpoint>>> table_;
};

class Balancer {
 public:
  virtual ~Balancer() = default;
  // Picks one of `endpoints` (never empty). Thread-safe.
  virtual std::size_t pick(std::span<const Endpoint> endpoints) = 0;
};
class RoundRobinBalancer final : public Balancer {
 public:
  std::size_t pick(std::span<const Endpoint> endpoints) override;

 private:
  std::atomic<std::size_t> next_{0};
};
class WeightedRandomBalancer final : public Balancer {
 public:
  std::size_t pick(std::span<const Endpoint> endpoints) override;
};

class ClientContext;
// Client middleware, the server's onion shape: `co_await ctx.next()` runs the inner layers
// (the last one sends the request); a middleware that never calls next() answers itself by
// setting ctx.response() (or ctx.fail(ec)).
using ClientMiddleware = std::function<Task<void>(ClientContext&)>;

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
  // it (the pool then keeps one multiplexed connection per host and loop, see below); false:
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
};

// Reads a response body as it arrives; holds the connection until the body ends (then the
// connection goes back to its pool) or the stream is destroyed (then it is closed).
// Used on the loop that made it.
class ResponseStream {
 public:
  ResponseStream(ResponseStream&&) noexcept;
  ResponseStream& operator=(ResponseStream&&) noexcept;
  ~ResponseStream();

  // Status and headers (the body is read with read()).
  const Response& response() const noexcept;
  // The next piece of the body (valid until the next call), or an empty view at the end.
  Task<Result<std::string_view>> read();
  // True when the whole body has been returned by read() (the next read() returns the end
  // at once): e.g. answer with Content-Length when the first piece was the whole body.
  bool finished() const noexcept;

 private:
  friend class Client;
  friend struct detail::ClientAccess;
  struct State;
  explicit ResponseStream(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Middleware runs outermost-first for every request (redirects and retries included: it
  // wraps the whole call). Register before the first request.
  void use(ClientMiddleware middleware);

  // Sends and reads the whole response (body buffered, up to max_body_bytes).
  Task<Result<Response>> send(ClientRequest request);
  Task<Result<Response>> get(std::string url);
  // The same with caller-owned request and response (reused across calls, nothing allocated
  // when warm: for load generators). `request` must stay unchanged until the Task completes.
  Task<std::error_code> send_into(const ClientRequest& request, Response& response);

  // Sends and returns once the response head is in; the body is read from the stream.
  // Redirects are followed and retries made until a head is in.
  Task<Result<ResponseStream>> stream(ClientRequest request);

  const ClientOptions& options() const noexcept { return options_; }

  // Closes the idle connections of the calling thread's loop (call it on each loop a Client
  // used before destroying it while those loops still run).
  void close_idle();

  // Connections open now in the pools of the calling thread's loop (idle + busy + dialling,
  // HTTP/2 ones draining after GOAWAY included), for a host "host:port" (http) or "https://host:port"
  // (https, the origin also through a proxy tunnel); for tests and metrics.
  std::size_t open_connections(std::string_view host_port) const;

  struct Impl;

 private:
  friend class ClientContext;
  friend struct detail::ClientAccess;
  ClientOptions options_;
  std::unique_ptr<Impl> impl_;
};

// What a client middleware sees.
class ClientContext {
 public:
  ClientRequest& request() noexcept { return request_; }
  Response& response() noexcept { return response_; }
  std::error_code error() const noexcept { return error_; }
  void fail(std::error_code ec) noexcept { error_ = ec; }
  Task<void> next();

 private:
  friend class Client;
  friend struct detail::ClientAccess;
  ClientContext(Client& client, ClientRequest& request, Response& response) noexcept
      : client_(client), request_(request), response_(response) {}
  Client& client_;
  ClientRequest& request_;
  Response& response_;
  std::error_code error_;
  std::size_t index_ = 0;
  bool streaming_ = false;
  void* stream_out_ = nullptr;  // ResponseStream::State* slot for stream()
};

// A Client on its own loop thread, for plain programs: each call blocks until it completes.
// Thread-safe (calls are posted to the loop and run there one after another or concurrently).
class BlockingClient {
 public:
  explicit BlockingClient(ClientOptions options = {});
  ~BlockingClient();
  Result<Response> send(ClientRequest request);
  Result<Response> get(std::string url);
  Client& client() noexcept { return *client_; }
  // Runs `make_task()` on the client's loop and waits (for streaming in a plain program).
  void run(std::function<Task<void>()> make_task);

 private:
  struct Loop;
  std::unique_ptr<Loop> loop_;
  std::unique_ptr<Client> client_;
};

}  // namespace khz

template <>
struct std::is_error_code_enum<khz::client::errc> : std::true_type {};

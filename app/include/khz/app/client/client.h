// SPDX-License-Identifier: Apache-2.0
// khz/app/client/client.h: Client, the HTTP client (Hertz's client.Client), with its
// middleware (ClientMiddleware, ClientContext). Per-host keep-alive pools, timeouts, retries,
// redirects, proxies, streaming bodies both ways, discovery; awaitable inside handlers on the
// caller's loop. BlockingClient (blocking_client.h) wraps it for plain programs.
//
//   khz::Client client({.retry = {.max_attempts = 3}});            // shared by every loop
//   client.use([](khz::ClientContext& ctx) -> khz::Task<> {         // middleware, outermost first
//     ctx.request().headers.set("X-Request-Id", next_id());
//     co_await ctx.next();
//   });
//   server.get("/users/:id", [&](khz::RequestContext& ctx) -> khz::Task<> {
//     auto resp = co_await client.get("http://users.svc:8080/users/" + std::string(ctx.param("id")));
//     if (!resp) { ctx.string(502, resp.error().message()); co_return; }
//     ctx.data(resp->status(), resp->header("Content-Type"), resp->body());
//   });
//
// GCC 12: write `ClientRequest r{...}; co_await client.send(std::move(r));`, never
// `co_await client.send({...})` (a braced temporary in a co_await is destroyed twice, PR 99576).
//
// Where it runs: on a transport loop (a server's loop inside a handler, a ClientLoop, or
// BlockingClient's own); elsewhere (e.g. run_blocking's plain loop) dialling fails with
// std::errc::operation_not_supported.
// Lifetimes and threading: one Client may be used from many loops at once (each loop gets its
// own pools; nothing is shared on the request path but the balancer's counter). A request runs
// on the loop of the coroutine that awaits it. Destroy the Client only when no request is in
// flight through it, and before the loops it used are destroyed: its pooled connections are
// closed each on its own loop (the destructor waits for a loop that is running, and closes
// them at once on one that stands still or has stopped). With a Server whose handlers use it:
// declare the Client after the Server, so it goes first (a request still running in a handler
// is in flight: let the server stop first, spin() returned or shutdown(), when one may be).
#pragma once

#include <khz/app/client/options.h>
#include <khz/app/client/request.h>
#include <khz/app/client/response_stream.h>
#include <khz/app/client/sse.h>
#include <khz/app/websocket.h>
#include <khz/common/result.h>
#include <khz/common/task.h>
#include <khz/protocol/response.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace khz {

namespace detail {
struct ClientAccess;  // the client's internals (app/client/access.h)
}

class ClientContext;
// Client middleware, the server's onion shape: `co_await ctx.next()` runs the inner layers
// (the last one sends the request); a middleware that never calls next() answers itself by
// setting ctx.response() (or ctx.fail(ec)).
using ClientMiddleware = std::function<Task<void>(ClientContext&)>;

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

  // An event-stream reader for `url` (<khz/app/client/sse.h>); it connects on its first next().
  SseReader sse(std::string url, SseReaderOptions options = {});

  // Opens a WebSocket (<khz/app/websocket.h>) to a ws:// or wss:// URL (http:// and https://
  // too): dial (through the HTTP proxy the options name, always as a CONNECT tunnel), TLS for
  // wss (the Client's TLS settings; ALPN http/1.1), and the opening handshake, all within
  // options.handshake_timeout (and total_timeout). Sec-WebSocket-Accept, the subprotocol and
  // the extension the server picked are checked. The caller's ambient cancel signal (a
  // handler's: its client went away) cancels the attempt. The connection is the WebSocket's
  // own (never pooled); destroy it on this loop.
  // Errors: client::errc::bad_url / unsupported_scheme / cancelled / proxy_refused /
  // certificate_verify_failed, the dial's, transport::errc::timed_out, and
  // protocol::websocket::errc::handshake_failed (a status other than 101 or a bad answer; the
  // reason logged at info).
  Task<Result<WebSocket>> websocket(std::string url, WebSocketOptions options = {});

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

}  // namespace khz

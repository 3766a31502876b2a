// SPDX-License-Identifier: Apache-2.0
// khz/app/client/request.h: ClientRequest, what one call sends (method, URL, headers, a body
// buffered, streamed or from a file, per-call timeout and retry permission), with its
// CancellationToken and BodySource.
//
//   khz::ClientRequest req;
//   req.method = "POST";
//   req.url = "http://orders.svc/orders";
//   req.headers.set("Content-Type", "application/json");
//   req.body = R"({"item":42})";
//   req.timeout = std::chrono::seconds(2);           // this call only
//   auto r = co_await client.send(std::move(req));    // a named request (GCC 12, PR 99576)
//
// Threading: a ClientRequest is a value. A CancellationToken's copies share one state, used on
// the loop the request runs on (see below).
#pragma once

#include <khz/common/result.h>
#include <khz/common/task.h>
#include <khz/protocol/header_map.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace khz {

class Http1ClientConnection;
class Http2Stream;
namespace detail {
struct ClientAccess;  // the client's internals (app/client/access.h)
}

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
  // The HTTP/1.1 connection itself, not its transport: closed through it, it is marked failed
  // and never goes back to its pool, even when the exchange's last bytes were in already.
  void set_active(Http1ClientConnection* conn) const noexcept;
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

}  // namespace khz

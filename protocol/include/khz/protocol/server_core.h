// SPDX-License-Identifier: Apache-2.0
// khz::ServerCore: what a protocol server (HTTP/1.1, HTTP/2) hands each exchange to.
// app::Engine implements it; protocol never sees app.
//
//   class Echo : public khz::ServerCore {
//     khz::Task<> serve(khz::Exchange& ex) override {
//       ex.response.set_body(ex.request.body());
//       co_return;
//     }
//   };
//
// The protocol server fills `request`, calls serve(), then writes `response`, unless the
// handler streamed it through `body_writer`, in which case the server finishes the stream.
// serve() must not throw (the Engine turns handler exceptions into 500 before returning).
//
// Request bodies: once the header section is in, and only when a body follows, the server asks
// body_policy(). By default the body is read whole into Request::body() (over the limit: 413,
// before any 100 Continue) and serve() sees it complete. A core that answers `stream` gets
// serve() called right after the headers with Exchange::body_reader set, and reads the body as
// it arrives; what it leaves unread is drained by the server (or the connection is closed).
#pragma once

#include <khz/common/cancel.h>
#include <khz/common/result.h>
#include <khz/common/task.h>
#include <khz/protocol/request.h>
#include <khz/protocol/response.h>
#include <khz/transport/connection.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string_view>
#include <system_error>

namespace khz {

// Streams a response body: the first write sends the status and headers of `response` (and
// chunked framing on HTTP/1.1); each write is flushed to the peer before it completes.
class BodyWriter {
 public:
  virtual ~BodyWriter() = default;
  virtual Task<std::error_code> write(std::string_view chunk) = 0;
  virtual bool started() const noexcept = 0;
};

// Reads a streamed request body (see BodyPolicy). Backpressure: nothing is read from the peer
// until the core asks, so a slow reader slows the sender down (TCP or HTTP/2 flow control).
class BodyReader {
 public:
  virtual ~BodyReader() = default;
  // The next piece of the body, or an empty view once the body is complete (trailers, if any,
  // are then in Request::trailers()). The view is valid until the next read(). The first read
  // sends 100 Continue if the client asked for it. Errors: protocol::errc::body_too_large (over
  // BodyPolicy::max_bytes), protocol::errc::malformed_body, or a transport error (eof,
  // timed_out); after an error the exchange cannot be continued and the connection will close.
  virtual Task<Result<std::string_view>> read() = 0;
  // True once the whole body has been read.
  virtual bool done() const noexcept = 0;
  // The announced length (Content-Length), or -1 when the body is chunked or otherwise framed.
  virtual std::int64_t content_length() const noexcept = 0;
};

struct BodyPolicy {
  // Hand the body to serve() as it arrives, through Exchange::body_reader.
  bool stream = false;
  // Largest body accepted; 0 means the protocol server's own limit (e.g. Http1Options::max_body_bytes).
  // A larger announced length is refused with 413 before the body is read (no 100 Continue).
  std::size_t max_bytes = 0;
  static constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();
};

// State a ServerCore keeps with an exchange from one request to the next on the same
// connection (the Engine keeps its RequestContext there, so nothing is allocated per request).
class ExchangeState {
 public:
  virtual ~ExchangeState() = default;
};

// Takes a connection over once its response (usually 101 Switching Protocols) has been sent.
// Bytes the peer sent after the request are already in conn.input(). The connection closes when
// the Task completes.
using HijackHandler = std::function<Task<void>(transport::Connection&)>;

struct Exchange {
  Request request;
  Response response;
  BodyWriter* body_writer = nullptr;         // set by the protocol server
  BodyReader* body_reader = nullptr;         // set while a streamed body is being read
  std::string_view peer_address;             // valid for the exchange; or empty, and then
  const transport::Connection* connection = nullptr;  // the peer is read from here on demand
  std::unique_ptr<ExchangeState> core_state;  // owned by the ServerCore; kept across requests
  // Set by the core when a streamed response broke off: the server must end the exchange so
  // the peer sees an incomplete response (HTTP/1.1: close without the last chunk).
  bool failed = false;
  // Set by the core to take the connection over after the response (HTTP/1.1 only).
  HijackHandler hijack;
  // Fires when the peer goes away while serve() runs: HTTP/1.1, the socket hangs up (watched
  // only while something watches the signal, so it costs nothing otherwise); HTTP/2, the client
  // resets the stream or the connection ends. It is also the ambient signal of serve()'s Task
  // (khz::current_cancel_signal()), which the HTTP client watches to cancel outbound calls.
  // Set by the protocol server; valid while serve() runs.
  CancelSignal* cancel_signal = nullptr;
  // khz::TickClock reading of the read that completed the request (its head, or its body when
  // read whole); 0: not stamped (Http1Options::stamp_reads off, or HTTP/2).
  std::uint64_t received_ticks = 0;

  void clear() noexcept {
    request.clear();
    response.clear();
    failed = false;
    hijack = nullptr;
    body_reader = nullptr;
  }
};

class ServerCore {
 public:
  virtual ~ServerCore() = default;
  virtual Task<void> serve(Exchange& exchange) = 0;
  // Asked once per request that has a body, when its header section is complete (the request's
  // headers are readable; its body is not). May prepare state in exchange.core_state for serve().
  virtual BodyPolicy body_policy(Exchange& /*exchange*/) { return {}; }
};

}  // namespace khz

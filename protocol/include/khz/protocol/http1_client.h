// SPDX-License-Identifier: Apache-2.0
// khz::Http1ClientConnection: the client side of one HTTP/1.1 connection over a
// transport::Connection (plain TCP or the TLS decorator): write a request, read its
// response head, then its body as it arrives. Sans policy: pools, retries and redirects live
// in app's Client.
//
//   Http1ClientConnection c(std::move(conn), {});
//   c.queue_request(req, {.host = "example.com", .content_length = 0});
//   if (auto ec = co_await c.flush(deadline)) ...;
//   if (auto ec = co_await c.read_head(resp, /*head_request=*/false, deadline)) ...;
//   while (!c.body_done()) {                       // body bytes land in resp.body_buffer()
//     if (auto ec = co_await c.read_body(resp, deadline)) ...;
//     consume(resp.body()); resp.body_buffer().clear();   // (or keep appending)
//   }
//   bool again = c.reusable();                     // keep-alive, nothing left over
//
// Errors: transport errors (errc::timed_out, eof, ...) and protocol::errc::{malformed_response,
// header_too_large, response_too_large, truncated_response}; after any error the connection is not
// reusable. 1xx interim responses are skipped; HEAD, 204 and 304 have no body (bytes after them
// make the connection unreusable); a close-delimited body ends at EOF.
// Deadlines: each read waits at most until `deadline` and at most `read_gap` (see options)
// between arrivals; each flush at most until `deadline` and the write timeout.
// Threading: the loop thread of its connection only.
#pragma once

#include <khz/common/task.h>
#include <khz/protocol/request.h>
#include <khz/protocol/response.h>
#include <khz/transport/connection.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <system_error>

namespace khz {

struct Http1ClientOptions {
  std::size_t max_header_bytes = 64 * 1024;
  std::uint64_t max_body_bytes = 64 * 1024 * 1024;
  std::chrono::milliseconds read_gap{std::chrono::seconds(30)};  // longest wait for the next bytes
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
};

// How the request goes on the wire.
struct RequestFraming {
  std::string_view host{};          // Host header when the request has none
  std::int64_t content_length = 0;  // body length; -1: chunked (length unknown)
  std::string_view target{};        // overrides request.target() (absolute form for a proxy)
};

class Http1ClientConnection {
 public:
  using Clock = std::chrono::steady_clock;

  Http1ClientConnection(std::unique_ptr<transport::Connection> conn, Http1ClientOptions options);
  ~Http1ClientConnection();
  Http1ClientConnection(const Http1ClientConnection&) = delete;
  Http1ClientConnection& operator=(const Http1ClientConnection&) = delete;

  transport::Connection& transport() noexcept { return *conn_; }

  // Queues the request line and header fields; then the body: all of request.body() when
  // framing.content_length equals its size, else nothing (stream it with queue_body).
  void queue_request(const Request& request, const RequestFraming& framing);
  // Queues body bytes (copied), as a chunk when the framing is chunked.
  void queue_body(std::string_view bytes);
  // Ends a chunked body (the last chunk); no-op for a Content-Length body.
  void queue_body_end();
  // Writes everything queued. An awaitable, not a Task: `co_await c.flush(deadline)` costs no
  // coroutine frame, and no suspension when the socket takes it all at once.
  struct [[nodiscard]] FlushAwaiter {
    Http1ClientConnection& c;
    transport::Connection::IoAwaiter io;
    std::error_code early;  // the deadline had passed: nothing written
    bool await_ready() const noexcept { return early || io.await_ready(); }
    bool await_suspend(std::coroutine_handle<> h) { return io.await_suspend(h); }
    std::error_code await_resume() const noexcept {
      std::error_code ec = early ? early : io.await_resume();
      if (ec) c.failed_ = true;
      return ec;
    }
  };
  FlushAwaiter flush(Clock::time_point deadline);

  // Reads until the final response's head is complete (interim 1xx skipped).
  Task<std::error_code> read_head(Response& response, bool head_request, Clock::time_point deadline);
  // Reads until some body bytes were appended to response.body_buffer() or the body ended.
  Task<std::error_code> read_body(Response& response, Clock::time_point deadline);
  // Reads the rest of the body into response.body_buffer().
  Task<std::error_code> read_all(Response& response, Clock::time_point deadline);

  // Asks an HTTP proxy for a tunnel (RFC 9110 §9.3.6: "CONNECT host:port"); `response` gets the
  // proxy's answer. After a 2xx the transport carries raw bytes to `authority` (for TLS), with
  // any bytes the proxy sent after its head left in transport().input(). A non-2xx answer is
  // not an error here, but the connection is then unusable (its body is not read): close it.
  Task<std::error_code> connect_tunnel(std::string_view authority, Response& response, Clock::time_point deadline);

  // Gives up the transport (e.g. a tunnel after connect_tunnel(), to wrap it in TLS); this
  // object must not be used afterwards except to be destroyed.
  std::unique_ptr<transport::Connection> take_transport() noexcept { return std::move(conn_); }

  bool body_done() const noexcept;
  // Any byte of a response arrived since queue_request (an error before then is a stale
  // keep-alive connection: the request may be retried on another).
  bool response_began() const noexcept;
  // The exchange ended cleanly and the server lets the connection be reused.
  bool reusable() const noexcept;
  // Closes the transport (an unfinished exchange cannot be resumed).
  void close() noexcept;

  Clock::time_point created() const noexcept { return created_; }

 private:
  struct Parser;
  enum class Until { head, body_bytes, end };
  Task<std::error_code> read(Response& response, Until until, Clock::time_point deadline);

  std::unique_ptr<transport::Connection> conn_;
  std::unique_ptr<Parser> parser_;
  Http1ClientOptions options_;
  Clock::time_point created_;
  bool chunked_request_ = false;
  bool failed_ = false;
};

}  // namespace khz

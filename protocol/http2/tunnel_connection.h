// SPDX-License-Identifier: Apache-2.0
// Private to protocol/http2: an RFC 8441 tunnel (extended CONNECT) seen as a
// transport::Connection, the one a hijack handler gets on HTTP/2, as it gets the socket on
// HTTP/1.1. The stream's DATA frames are its bytes:
//
//   client DATA  --> ServerStream::body_pending (at most the stream's window) --fill--> input()
//   output() --flush--> DATA frames, as nghttp2 takes them within the client's window
//
// - fill(n) moves what arrived into input() and opens the stream's window by as much (so the
//   window opens only as the handler reads: a handler that stops reading stops the client at
//   initial_window_size); it completes once input().size() >= n, else with errc::eof (the
//   client's END_STREAM, every byte read), std::errc::connection_reset (RST_STREAM),
//   errc::timed_out (read_timeout(), zero: none, the default), errc::shutting_down (idle while
//   the server drains), errc::cancelled (closed here, or the connection is over).
// - flush() completes once nghttp2 has taken all of output() into DATA frames (so a client that
//   does not open its window makes it wait: memory stays bounded by what the handler wrote).
//   Errors: std::errc::connection_reset (RST_STREAM), errc::timed_out (write_timeout(),
//   Http2Options::write_timeout by default, or stall_timeout; the stream is then reset),
//   errc::cancelled.
// - close() ends the tunnel: what was not flushed is dropped, END_STREAM goes out (the client
//   has tunnel_close_grace to end its half), pending operations complete with errc::cancelled.
//   The driver calls it when the handler's Task completes.
// - peer_address()/local_address() are the HTTP/2 connection's; negotiated_protocol() is the
//   request's :protocol ("websocket").
// Completions come on a later turn (through the connection driver's queue), never inline.
// Threading: the connection's loop only.
#pragma once

#include <khz/transport/connection.h>

#include <coroutine>
#include <string>
#include <string_view>
#include <system_error>

#include "server_session.h"

namespace khz::protocol::http2 {

class TunnelConnection final : public transport::Connection {
 public:
  using Clock = ServerSession::Clock;

  // What the tunnel needs from the connection driver.
  class Host {
   public:
    virtual ServerSession& session() noexcept = 0;
    virtual const transport::Connection& connection() const noexcept = 0;
    // Resumes `h` on a later turn, on the loop (never inline), and lets the writer send.
    virtual void resume_later(std::coroutine_handle<> h) = 0;
    // Something was submitted to the session: let the writer send it soon.
    virtual void kick() = 0;

   protected:
    ~Host() = default;
  };

  // `stream` must be open as a tunnel (ServerSession::begin_tunnel with this output()).
  TunnelConnection(Host& host, ServerStream& stream, Duration write_timeout) noexcept;
  ~TunnelConnection() override;

  void close() noexcept override;
  std::string peer_address() const override { return host_.connection().peer_address(); }
  std::string local_address() const override { return host_.connection().local_address(); }
  std::string_view negotiated_protocol() const noexcept override { return stream_.exchange.request.connect_protocol(); }

  // ---- for the connection driver
  // The session woke the stream (DATA, END_STREAM, the window took bytes, a reset, the end).
  void on_stream_event(std::error_code ec) noexcept;
  // The read and write timeouts of the operations pending.
  void check_deadlines(Clock::time_point now) noexcept;
  // The server drains: an idle fill ends with errc::shutting_down; is_draining() turns true.
  void start_draining() noexcept { mark_draining(); }

 private:
  void start_fill(std::size_t n, std::coroutine_handle<> h) override;
  bool start_flush(std::coroutine_handle<> h) override;
  void on_idle_while_draining() noexcept override;

  // Completes what the stream's state now allows.
  void update() noexcept;
  std::error_code read_error() const noexcept;
  std::error_code write_error() const noexcept;
  void complete_fill(std::error_code ec) noexcept;
  void complete_flush(std::error_code ec) noexcept;

  Host& host_;
  ServerStream& stream_;
  std::coroutine_handle<> fill_waiter_;
  std::coroutine_handle<> flush_waiter_;
  std::size_t fill_want_ = 0;
  Clock::time_point fill_since_{};
  Clock::time_point flush_since_{};
  std::error_code error_;  // sticky: a timeout that reset the stream
  bool closed_ = false;
};

}  // namespace khz::protocol::http2

// SPDX-License-Identifier: Apache-2.0
// An RFC 8441 tunnel as a transport::Connection (see tunnel_connection.h).
#include "tunnel_connection.h"

#include <khz/common/loop_clock.h>
#include <khz/transport/error.h>

#include <utility>

namespace khz::protocol::http2 {

TunnelConnection::TunnelConnection(Host& host, ServerStream& stream, Duration write_timeout) noexcept
    : host_(host), stream_(stream) {
  write_timeout_ = write_timeout;
}

TunnelConnection::~TunnelConnection() { close(); }

void TunnelConnection::close() noexcept {
  if (closed_) return;
  closed_ = true;
  if (stream_.tunnel_open) host_.session().end_tunnel(stream_, false);
  update();  // pending operations: cancelled
  host_.kick();
}

void TunnelConnection::on_stream_event(std::error_code ec) noexcept {
  if (ec == transport::errc::timed_out && !error_) error_ = ec;  // the session reset a stalled stream
  update();
}

void TunnelConnection::check_deadlines(Clock::time_point now) noexcept {
  if (fill_waiter_ && read_timeout_ > Duration::zero() && now - fill_since_ >= read_timeout_) {
    complete_fill(transport::errc::timed_out);
  }
  if (flush_waiter_ && write_timeout_ > Duration::zero() && now - flush_since_ >= write_timeout_) {
    // The bytes already taken cannot be called back: the stream is broken.
    error_ = transport::errc::timed_out;
    host_.session().end_tunnel(stream_, true);
    complete_flush(error_);
    host_.kick();
  }
}

void TunnelConnection::start_fill(std::size_t n, std::coroutine_handle<> h) {
  fill_want_ = n;
  fill_waiter_ = h;
  fill_since_ = LoopClock::now();
  update();
  host_.kick();  // the window update
}

bool TunnelConnection::start_flush(std::coroutine_handle<> h) {
  std::error_code ec = write_error();
  if (!ec) ec = host_.session().tunnel_send(stream_);
  if (ec) {
    flush_error_ = ec;
    return false;
  }
  flush_waiter_ = h;
  flush_since_ = LoopClock::now();
  host_.kick();
  return true;
}

void TunnelConnection::on_idle_while_draining() noexcept {
  if (fill_waiter_) complete_fill(transport::errc::shutting_down);
}

void TunnelConnection::update() noexcept {
  if (fill_waiter_) {
    if (!closed_) host_.session().tunnel_receive(stream_, input_);
    if (closed_) {
      complete_fill(transport::errc::cancelled);
    } else if (input_.size() >= fill_want_) {
      complete_fill({});
    } else if (std::error_code ec = read_error()) {
      complete_fill(ec);
    }
  }
  if (flush_waiter_) {
    if (closed_) {
      complete_flush(transport::errc::cancelled);
    } else if (output_.empty()) {
      complete_flush({});
    } else if (std::error_code ec = write_error()) {
      complete_flush(ec);
    }
  }
}

std::error_code TunnelConnection::read_error() const noexcept {
  ServerSession& session = host_.session();
  if (closed_ || session.ended()) return transport::errc::cancelled;
  if (session.tunnel_at_eof(stream_)) return transport::errc::eof;
  if (error_) return error_;
  if (stream_.closed || stream_.tunnel_ended) return std::make_error_code(std::errc::connection_reset);
  return {};
}

std::error_code TunnelConnection::write_error() const noexcept {
  if (closed_ || host_.session().ended()) return transport::errc::cancelled;
  if (error_) return error_;
  if (stream_.closed || stream_.tunnel_ended) return std::make_error_code(std::errc::connection_reset);
  return {};
}

void TunnelConnection::complete_fill(std::error_code ec) noexcept {
  fill_error_ = ec;
  host_.resume_later(std::exchange(fill_waiter_, {}));
}

void TunnelConnection::complete_flush(std::error_code ec) noexcept {
  flush_error_ = ec;
  host_.resume_later(std::exchange(flush_waiter_, {}));
}

}  // namespace khz::protocol::http2

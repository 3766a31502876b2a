// SPDX-License-Identifier: Apache-2.0
// WebSocket::Session: reading (frames to messages, control frames, the peer's close), writing
// (messages, fragments, control frames; masked for a client; compressed with
// permessage-deflate), the close handshake, failing the connection, and the keepalive.
#include "session.h"

#include <khz/common/log.h>
#include <khz/transport/error.h>

#include <algorithm>
#include <cstring>

namespace khz {

namespace ws = protocol::websocket;

namespace {
// A client copies (to mask) and flushes large payloads in pieces of this size, so its output
// buffer stays bounded whatever the message size.
constexpr std::size_t kClientFlushBytes = 256 * 1024;
// A server links a payload this large into the output instead of copying it.
constexpr std::size_t kLinkPayloadBytes = 4096;
}  // namespace

WebSocket::Session::Session(Role r, transport::Connection& c, std::shared_ptr<const WebSocketOptions> o, Agreed a)
    : role(r),
      conn(&c),
      options(std::move(o)),
      agreed(std::move(a)),
      parser({.role = r,
              .allow_rsv1 = agreed.deflate.has_value(),
              .max_frame_bytes = options->max_frame_bytes,
              .max_message_bytes = options->max_message_bytes}) {
  if (agreed.deflate) {
    const auto& d = *agreed.deflate;
    const bool server = r == Role::server;
    deflater = std::make_unique<ws::Deflater>(ws::Deflater::Options{
        .window_bits = server ? d.server_max_window_bits : d.client_max_window_bits,
        .no_context_takeover = server ? d.server_no_context_takeover : d.client_no_context_takeover,
        .level = options->compression_level});
    inflater = std::make_unique<ws::Inflater>(ws::Inflater::Options{
        .no_context_takeover = server ? d.client_no_context_takeover : d.server_no_context_takeover});
  }
  // Liveness is the keepalive's business: no read deadline between messages.
  conn->set_read_timeout({});
}

WebSocket::Session::~Session() = default;

// ---- writing

void WebSocket::Session::AsyncLock::unlock() noexcept {
  if (waiters.empty()) {
    held = false;
    return;
  }
  // Hand the lock straight to the next waiter (held stays true).
  auto next = waiters.front();
  waiters.pop_front();
  next.resume();
}

Task<std::error_code> WebSocket::Session::flush() {
  if (broken) co_return std::error_code(ws::errc::closed);
  conn->set_write_timeout(options->write_timeout);
  std::error_code ec = co_await conn->flush();
  if (ec) {
    // The output may still link caller memory (append_ref): drop it with the connection.
    conn->output().clear();
    if (!broken) KHZ_LOG(debug, "websocket " << conn->peer_address() << ": write failed: " << ec.message());
    broken = true;
    if (!final_error) final_error = ws::errc::connection_lost;
  }
  co_return ec;
}

void WebSocket::Session::put_frame(Opcode op, bool fin, bool rsv1, std::string_view payload, bool stable) {
  LinkedBuffer& out = conn->output();
  char head[ws::kMaxHeaderBytes];
  if (role == Role::server) {
    out.append(std::string_view(head, ws::write_header(head, op, fin, rsv1, payload.size())));
    if (stable && payload.size() >= kLinkPayloadBytes) out.append_ref(payload); else out.append(payload);
    return;
  }
  std::uint8_t key[4];
  ws::make_mask_key(key);
  out.append(std::string_view(head, ws::write_header(head, op, fin, rsv1, payload.size(), key)));
  const std::size_t n = payload.size();
  auto span = out.reserve(n);
  std::memcpy(span.data(), payload.data(), n);
  ws::apply_mask(span.data(), n, key, 0);
  out.commit(n);
}

// One frame and a flush. A client's large payload goes out in pieces (masked as copied), each
// flushed before the next is copied: memory holds kClientFlushBytes, not the message.
Task<std::error_code> WebSocket::Session::send_fragment(Opcode op, std::string_view payload, bool first, bool fin) {
  // The caller holds the message lock; this takes the frame lock.
  co_await frame_lock.lock();
  struct Unlock {
    AsyncLock& l;
    ~Unlock() { l.unlock(); }
  } unlock{frame_lock};
  if (broken || close_sent) co_return std::error_code(ws::errc::closed);
  bool rsv1 = false;
  std::string_view body = payload;
  // A streamed message is compressed throughout (RSV1 on its first frame decides for all).
  if (deflater && (!first || !fin || payload.size() >= options->compress_min_bytes)) {
    scratch.clear();
    deflater->compress(payload, fin, scratch);
    body = scratch;
    rsv1 = first;
  }
  const Opcode frame_op = first ? op : Opcode::continuation;
  if (role == Role::server || body.size() <= kClientFlushBytes) {
    put_frame(frame_op, fin, rsv1, body, true);
    co_return co_await flush();
  }
  LinkedBuffer& out = conn->output();
  char head[ws::kMaxHeaderBytes];
  std::uint8_t key[4];
  ws::make_mask_key(key);
  out.append(std::string_view(head, ws::write_header(head, frame_op, fin, rsv1, body.size(), key)));
  for (std::size_t off = 0; off < body.size();) {
    const std::size_t k = std::min(kClientFlushBytes, body.size() - off);
    auto span = out.reserve(k);
    std::memcpy(span.data(), body.data() + off, k);
    ws::apply_mask(span.data(), k, key, off);
    out.commit(k);
    off += k;
    if (auto ec = co_await flush()) co_return ec;
  }
  co_return std::error_code();
}

Task<std::error_code> WebSocket::Session::send_message(Opcode op, std::string_view payload) {
  co_await message_lock.lock();
  std::error_code ec = co_await send_fragment(op, payload, true, true);
  message_lock.unlock();
  co_return ec;
}

Task<std::error_code> WebSocket::Session::send_control(Opcode op, std::string_view payload) {
  // Copied now: the caller's payload may be a view into `control`, which the next read reuses.
  std::string copy(payload.substr(0, 125));
  co_await frame_lock.lock();
  std::error_code ec;
  if (close_sent || broken) {
    ec = ws::errc::closed;
  } else {
    if (op == Opcode::close) close_sent = true;
    put_frame(op, true, false, copy, false);
    ec = co_await flush();
  }
  frame_lock.unlock();
  co_return ec;
}

// ---- reading

Task<Result<void>> WebSocket::Session::receive(WebSocketMessage& m) {
  KHZ_ASSERT(!receiving);  // one receive() at a time
  if (final_error) co_return final_error;
  receiving = true;
  struct Receiving {
    bool& flag;
    ~Receiving() { flag = false; }
  } receiving_guard{receiving};
  // The message is read into the caller's own buffer (its capacity serves again) and handed
  // back: a receiver that passes the same message each time has one buffer, allocated once.
  if (data.empty()) {
    data.swap(m.data);
    data.clear();
  }
  LinkedBuffer& in = conn->input();
  for (;;) {
    while (!in.empty()) {
      std::string_view view = in.segment(0);
      if (view.size() < ws::kMaxHeaderBytes && in.size() > view.size()) {
        view = in.peek(std::min<std::size_t>(in.size(), ws::kMaxHeaderBytes));
      }
      const auto step = parser.feed(view, data, control);
      in.skip(step.consumed);
      if (step.event == ws::FrameParser::Event::error) {
        co_await fail(parser.error());
        co_return final_error;
      }
      // Text is checked as it arrives: invalid UTF-8 fails before the message is complete.
      if (!parser.message_compressed() && parser.message_opcode() == Opcode::text && data.size() > utf8_checked) {
        if (!utf8.feed(std::string_view(data).substr(utf8_checked))) {
          co_await fail(ws::errc::invalid_utf8);
          co_return final_error;
        }
        utf8_checked = data.size();
      }
      if (step.event == ws::FrameParser::Event::need_more) {
        if (step.consumed == 0) break;  // a header split across reads: wait for the rest
        continue;
      }
      awaiting_pong = false;  // the peer is alive
      const ws::FrameHeader& h = parser.header();
      if (h.opcode == Opcode::ping) {
        (void)co_await send_control(Opcode::pong, control);
        continue;
      }
      if (h.opcode == Opcode::pong) continue;
      if (h.opcode == Opcode::close) {
        ws::ClosePayload c;
        if (auto ec = ws::parse_close(control, c)) {
          co_await fail(ec);
          co_return final_error;
        }
        close_received = true;
        peer_close_code = c.code;
        peer_close_reason.assign(c.reason);
        if (!close_sent) {
          // §5.5.1: echo the status code.
          const std::string echo = ws::close_payload(c.code, {});
          (void)co_await send_control(Opcode::close, echo);
        }
        final_error = ws::errc::closed;
        // §7.1.1: the server closes the TCP connection first; a client waits for that a while.
        if (role == Role::client && !broken) {
          conn->set_read_timeout(options->close_timeout);
          while (!co_await conn->fill(in.size() + 1)) {
            in.skip(in.size());
            in.release();
          }
        }
        conn->close();
        broken = true;
        co_return final_error;
      }
      if (!h.fin) continue;
      // ---- a whole data message
      m.type = parser.message_opcode() == Opcode::text ? Type::text : Type::binary;
      m.data.clear();
      if (parser.message_compressed()) {
        std::error_code ec = inflater->decompress(data, options->max_message_bytes, m.data);
        data.clear();
        if (!ec && m.is_text() && !ws::is_valid_utf8(m.data)) ec = ws::errc::invalid_utf8;
        if (ec) {
          co_await fail(ec);
          co_return final_error;
        }
      } else {
        if (m.is_text() && !utf8.complete()) {
          co_await fail(ws::errc::invalid_utf8);
          co_return final_error;
        }
        m.data.swap(data);  // the caller's buffer, now holding the message
        data.clear();
      }
      utf8.reset();
      utf8_checked = 0;
      co_return Result<void>();
    }
    in.release();
    // Between messages the connection is idle: a graceful shutdown of the server ends this wait
    // (transport::errc::shutting_down) instead of waiting for its drain deadline.
    const bool between_messages = in.empty() && data.empty() && role == Role::server && !close_sent;
    if (between_messages) conn->set_idle(true);
    std::error_code ec = co_await conn->fill(in.size() + 1);
    if (between_messages) conn->set_idle(false);
    if (!ec) awaiting_pong = false;  // bytes arrived: the peer is alive (a long message counts too)
    if (ec == transport::errc::shutting_down && !broken) {
      // RFC 6455 §7.4.1: 1001, the server is going away.
      KHZ_LOG(debug, "websocket " << conn->peer_address() << ": server shutting down; closing with 1001");
      final_error = ws::errc::closed;
      const std::string payload = ws::close_payload(ws::close_code::going_away, "server shutting down");
      (void)co_await send_control(Opcode::close, payload);
      broken = true;
      conn->close();
      co_return final_error;
    }
    if (ec) {
      if (!final_error) {
        final_error = keepalive_failed ? std::error_code(ws::errc::keepalive_timeout)
                                       : close_sent ? std::error_code(ws::errc::closed)
                                                    : std::error_code(ws::errc::connection_lost);
      }
      if (!broken && !close_sent) {
        KHZ_LOG(debug, "websocket " << conn->peer_address() << ": connection ended without a close frame: " << ec.message());
      }
      broken = true;
      conn->close();
      co_return final_error;
    }
  }
}

// ---- closing

Task<void> WebSocket::Session::fail(std::error_code error) {
  if (!final_error) final_error = error;
  const std::uint16_t code = ws::close_code_for(error);
  KHZ_LOG(info, "websocket " << conn->peer_address() << ": " << error.message() << "; closing with " << code);
  if (!close_sent && !broken) {
    // The reason says which rule; the peer may log it.
    const std::string payload = ws::close_payload(code, error.message());
    (void)co_await send_control(Opcode::close, payload);
  }
  broken = true;
  conn->close();
}

Task<std::error_code> WebSocket::Session::close(std::uint16_t code, std::string_view reason) {
  if (close_sent || broken) co_return std::error_code();
  if (!ws::is_sendable_close_code(code)) code = ws::close_code::normal;
  const std::string payload = ws::close_payload(code, reason);
  if (auto ec = co_await send_control(Opcode::close, payload)) {
    broken = true;
    conn->close();
    co_return ec;
  }
  if (!receiving && !close_received) {
    // Read (and drop) what the peer still sends, until its close frame or the timeout.
    conn->set_read_timeout(options->close_timeout);
    WebSocketMessage dropped;
    for (;;) {
      auto m = co_await receive(dropped);
      if (!m) break;
    }
  }
  if (!receiving) {
    broken = true;
    conn->close();
  }
  if (!final_error) final_error = ws::errc::closed;
  co_return std::error_code();
}

Task<void> WebSocket::Session::shut_down() {
  keepalive_timer.cancel();
  broken = true;
  conn->close();
  struct TasksDone {
    Session& s;
    bool await_ready() const noexcept { return s.tasks == 0; }
    void await_suspend(std::coroutine_handle<> h) noexcept { s.tasks_done = h; }
    void await_resume() const noexcept {}
  };
  co_await TasksDone{*this};
}

// ---- keepalive: ping every ping_interval; check pong_timeout after each ping

void WebSocket::Session::start_keepalive() {
  if (options->ping_interval.count() <= 0) return;
  keepalive_timer.start(options->ping_interval, &Session::on_keepalive, this);
}

void WebSocket::Session::on_keepalive(void* self) noexcept {
  auto* s = static_cast<Session*>(self);
  if (s->broken || s->close_sent) return;
  const auto interval = s->options->ping_interval;
  const auto pong_timeout = s->options->pong_timeout;
  if (s->keepalive_check) {
    // pong_timeout after our ping. Nothing from the peer means something only while a
    // receive() waits (else nobody reads what the peer sent).
    s->keepalive_check = false;
    if (s->awaiting_pong && s->receiving) {
      KHZ_LOG(info, "websocket " << s->conn->peer_address() << ": no pong within " << pong_timeout.count()
                                 << " ms; closing");
      s->keepalive_failed = true;
      s->broken = true;
      s->conn->close();
      return;
    }
    s->awaiting_pong = false;
    s->keepalive_timer.start(std::max(interval - pong_timeout, std::chrono::milliseconds(1)), &Session::on_keepalive, s);
    return;
  }
  if (!s->pinging) {
    s->pinging = true;
    ++s->tasks;
    spawn(send_keepalive_ping(s->shared_from_this()));
  }
  if (pong_timeout.count() > 0 && pong_timeout < interval) {
    s->awaiting_pong = true;
    s->keepalive_check = true;
    s->keepalive_timer.start(pong_timeout, &Session::on_keepalive, s);
  } else {
    s->keepalive_timer.start(interval, &Session::on_keepalive, s);
  }
}

Task<void> WebSocket::Session::send_keepalive_ping(std::shared_ptr<Session> self) {
  (void)co_await self->send_control(Opcode::ping, std::string_view());
  self->pinging = false;
  if (--self->tasks == 0 && self->tasks_done) std::exchange(self->tasks_done, {}).resume();
}

}  // namespace khz

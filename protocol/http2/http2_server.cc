// SPDX-License-Identifier: Apache-2.0
// The HTTP/2 connection driver: reads the connection into the sans-I/O ServerSession
// (server_session.h), flushes what it sends, and runs each stream's exchange through the
// ServerCore in its own coroutine on the connection's loop. Also refuse_http2 and h2c by
// Upgrade (serve_upgraded).
//
// Coroutines of one connection (all on its loop, so no locks):
//   reader (serve_http2's own frame)  fill -> ServerSession::receive -> pump()
//   writer                            ServerSession::send -> flush, while there is something to send
//   ticker                            timeouts: idle, streamed-body reads, zero-window stalls
//   one per stream                    ServerCore::serve, then the response is submitted
// The session's events never run handler code: they only queue a stream (to start, or to
// resume its waiting coroutine) in ready_; run_ready() resumes them at a safe point (after a
// batch of input, after a send, after a tick). A stream that needs frames sent hands control
// to an idle writer by symmetric transfer (StreamWait, YieldToWriter), so nothing waits for a
// loop iteration. The connection ends when the reader stops; serve_http2 then waits for every
// stream coroutine, the writer and the ticker before the session (and the streams they point
// to) goes away.
#include <khz/common/event_loop.h>
#include <khz/common/log.h>
#include <khz/common/loop_clock.h>
#include <khz/protocol/base64.h>
#include <khz/protocol/error.h>
#include <khz/protocol/http2.h>
#include <khz/transport/error.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "../common/http_date.h"
#include "h2c_upgrade.h"
#include "server_session.h"
#include "tunnel_connection.h"

namespace khz {
namespace {

using Clock = std::chrono::steady_clock;
using protocol::http2::ServerSession;
using protocol::http2::ServerStream;
using protocol::http2::TunnelConnection;

class ConnectionDriver;

// A stream's handler side: the coroutines that write a streamed response and read a streamed
// request body, and what they wait for.
struct Stream final : ServerStream {
  Stream(ConnectionDriver& d, const transport::Connection& conn) : driver(d) {
    exchange.connection = &conn;  // the peer's address is formatted only if someone asks
  }

  Task<std::error_code> write(std::string_view chunk) override;
  Task<Result<std::string_view>> read() override;

  ConnectionDriver& driver;
  std::coroutine_handle<> waiter;  // the stream's coroutine, waiting for body data or window
  std::error_code wait_error;      // why the wait ended early
  TunnelConnection* tunnel_conn = nullptr;  // while a hijack handler runs on the stream (RFC 8441)
};

class ConnectionDriver final : ServerSession::Driver, TunnelConnection::Host {
 public:
  ConnectionDriver(transport::Connection& conn, ServerCore& core, std::shared_ptr<const Http2Options> options)
      : conn_(conn), core_(core), options_(std::move(options)), opt_(*options_), session_(*this, conn_.output(), opt_) {
    conn_.set_write_timeout(opt_.write_timeout);
    conn_.set_read_timeout({});  // the ticker keeps the deadlines of an HTTP/2 connection
    auto shortest = std::min({opt_.idle_timeout, opt_.read_timeout, opt_.stall_timeout});
    tick_ = std::clamp(shortest / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  }

  Task<void> run(Request* upgraded, std::string_view upgrade_settings);

 private:
  friend struct Stream;

  // ---- awaiters
  // Suspends the stream's coroutine until woken; hands control to the writer if it has work.
  struct StreamWait {
    ConnectionDriver& driver;
    Stream& stream;
    ServerStream::WaitKind kind;
    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) noexcept {
      stream.waiter = h;
      stream.waiting = kind;
      stream.wait_since = LoopClock::now();
      stream.wait_error.clear();
      return driver.writer_if_wanted();
    }
    void await_resume() const noexcept {}
  };
  // Lets an idle writer send what the calling coroutine just submitted, then continues.
  struct YieldToWriter {
    ConnectionDriver& driver;
    bool await_ready() const noexcept { return !driver.writer_wanted(); }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) noexcept {
      driver.ready_.push_back({nullptr, h});
      driver.writer_waiting_ = false;
      return driver.writer_;
    }
    void await_resume() const noexcept {}
  };
  struct WriterIdle {
    ConnectionDriver& driver;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      driver.writer_ = h;
      driver.writer_waiting_ = true;
    }
    void await_resume() const noexcept {}
  };
  struct AllDone {
    ConnectionDriver& driver;
    bool await_ready() const noexcept { return driver.all_done(); }
    void await_suspend(std::coroutine_handle<> h) noexcept { driver.main_waiter_ = h; }
    void await_resume() const noexcept {}
  };

  // ---- the session's driver
  std::unique_ptr<ServerStream> new_stream() override { return std::make_unique<Stream>(*this, conn_); }
  void start(ServerStream& s) override { ready_.push_back({&static_cast<Stream&>(s), {}}); }
  void wake(ServerStream& stream, std::error_code ec) override {
    auto& s = static_cast<Stream&>(stream);
    if (s.tunnel_conn != nullptr) {
      s.tunnel_conn->on_stream_event(ec);
      return;
    }
    if (!s.waiter) return;
    s.waiting = ServerStream::WaitKind::none;
    s.wait_error = ec;
    ready_.push_back({&s, std::exchange(s.waiter, {})});
  }
  BodyPolicy body_policy(Exchange& exchange) override { return core_.body_policy(exchange); }
  std::string_view date() override { return protocol::http_date(); }
  std::string peer_address() const override { return conn_.peer_address(); }

  // ---- the tunnels' host
  ServerSession& session() noexcept override { return session_; }
  const transport::Connection& connection() const noexcept override { return conn_; }
  void resume_later(std::coroutine_handle<> h) override {
    ready_.push_back({nullptr, h});
    kick();
  }
  // Inside run_ready (or a batch, after which it runs) the queue and the writer are looked at
  // anyway; from anywhere else (a tunnel's handler resumed by a timer, say) a pump is posted.
  void kick() override {
    if (in_dispatch_ || parsing_ || kick_posted_) return;
    kick_posted_ = true;
    ++posted_;
    EventLoop::current()->post([this] {
      kick_posted_ = false;
      --posted_;
      pump();
      notify_done();
    });
  }

  // ---- scheduling
  bool closing() const noexcept { return session_.ended(); }
  // The writer is idle and something was submitted that it should send now.
  bool writer_wanted() const noexcept {
    return session_.write_requested() && writer_waiting_ && !in_dispatch_ && !closing();
  }
  std::coroutine_handle<> writer_if_wanted() noexcept {
    if (writer_wanted()) {
      writer_waiting_ = false;
      return writer_;
    }
    return std::noop_coroutine();
  }

  void run_ready() {
    if (in_dispatch_ || parsing_) return;  // parsing_: streams start after the whole batch
    in_dispatch_ = true;
    while (!ready_.empty()) {
      batch_.swap(ready_);
      for (const Ready& r : batch_) {
        if (r.handle) {
          r.handle.resume();
        } else {
          start_stream(*r.stream);
        }
      }
      batch_.clear();
    }
    in_dispatch_ = false;
  }

  // From a safe point (reader, ticker, main): run what is ready, then let the writer send.
  void pump() {
    run_ready();
    if (writer_waiting_ && !closing() && session_.want_write()) {
      writer_waiting_ = false;
      writer_.resume();
    }
  }

  // From the reader, in the middle of a batch: an idle writer puts what nghttp2 holds (the ACKs
  // owed, first of all) into the socket now. It flushes inline when the socket takes it all,
  // and control comes back here; streams it would wake wait for the end of the batch.
  void hand_to_writer() {
    if (writer_waiting_ && !closing()) {
      writer_waiting_ = false;
      session_.request_write();
      writer_.resume();
    }
  }

  bool all_done() const noexcept { return handlers_ == 0 && !writer_alive_ && !ticker_alive_ && posted_ == 0; }

  void notify_done() {
    if (closing() && main_waiter_ && all_done()) {
      auto h = std::exchange(main_waiter_, {});
      EventLoop::current()->post([h] { h.resume(); });
    }
  }

  // ---- streams
  void start_stream(Stream& s) {
    if (!session_.begin_handler(s)) return;
    ++handlers_;
    spawn(run_stream(this, &s));
  }

  static Task<void> run_stream(ConnectionDriver* self, Stream* s) {
    {
      Task<void> serving = self->core_.serve(s->exchange);
      serving.set_cancel_signal(&s->cancel);
      co_await serving;
    }
    ServerSession& session = self->session_;
    if (s->tunnel && s->exchange.hijack) {
      co_await self->run_tunnel(*s);
    } else {
      session.finish_handler(*s);
    }
    if (self->conn_.is_draining() && !session.goaway_sent() && !self->closing()) session.send_graceful_goaway();
    co_await YieldToWriter{*self};
    --self->handlers_;
    session.handler_done(*s);
    self->notify_done();
  }

  // An extended CONNECT whose handler returned with hijack set: a 2xx opens the tunnel and the
  // hijack handler runs on it; anything else is an ordinary response.
  Task<void> run_tunnel(Stream& s) {
    TunnelConnection tunnel(*this, s, opt_.write_timeout);
    if (!session_.begin_tunnel(s, tunnel.output())) {
      session_.finish_handler(s);
      co_return;
    }
    KHZ_LOG(debug, "http2 " << conn_.peer_address() << ": stream " << s.id << ": tunnel (" << s.exchange.request.connect_protocol()
                            << ") open after " << s.exchange.response.status());
    HijackHandler takeover = std::move(s.exchange.hijack);
    s.tunnel_conn = &tunnel;
    tunnels_.push_back(&tunnel);
    if (conn_.is_draining()) tunnel.start_draining();
    co_await YieldToWriter{*this};  // the response head goes out now
    try {
      Task<void> running = takeover(tunnel);
      running.set_cancel_signal(&s.cancel);
      co_await running;
    } catch (const std::exception& e) {
      KHZ_LOG(error, "http2 " << conn_.peer_address() << ": stream " << s.id << ": tunnel handler threw: " << e.what());
    }
    tunnel.close();
    s.tunnel_conn = nullptr;
    tunnels_.erase(std::find(tunnels_.begin(), tunnels_.end(), &tunnel));
  }

  // ---- the stream's side (called from its coroutine)
  Task<std::error_code> stream_write(Stream& s, std::string_view chunk) {
    Result<bool> wait = session_.write_body(s, chunk);
    if (!wait) co_return wait.error();
    if (!*wait) {  // nothing to send
      co_await YieldToWriter{*this};
      co_return std::error_code{};
    }
    co_await StreamWait{*this, s, ServerStream::WaitKind::send};
    const bool taken = session_.chunk_taken(s);
    if (s.wait_error || !taken) co_return s.wait_error ? s.wait_error : std::error_code(transport::errc::cancelled);
    co_return std::error_code{};
  }

  Task<Result<std::string_view>> stream_read(Stream& s) {
    for (;;) {
      ServerSession::BodyRead got = session_.read_body(s);
      if (got.error) co_return got.error;
      if (!got.wait) {
        if (!got.bytes.empty()) co_await YieldToWriter{*this};  // the window update
        co_return got.bytes;
      }
      co_await StreamWait{*this, s, ServerStream::WaitKind::body};
      if (s.wait_error) co_return s.wait_error;
    }
  }

  // ---- the connection's coroutines
  static Task<void> writer_loop(ConnectionDriver* self);
  static Task<void> ticker_loop(ConnectionDriver* self);
  void tick();

  struct Ready {
    Stream* stream;                  // to start, when handle is null
    std::coroutine_handle<> handle;  // to resume
  };

  transport::Connection& conn_;
  ServerCore& core_;
  std::shared_ptr<const Http2Options> options_;
  const Http2Options& opt_;
  std::vector<Ready> ready_;
  std::vector<Ready> batch_;
  bool in_dispatch_ = false;
  // writer
  std::coroutine_handle<> writer_;
  bool writer_waiting_ = false;
  bool writer_alive_ = false;
  // lifecycle
  bool ticker_alive_ = false;
  bool parsing_ = false;  // the reader is inside a batch (run_ready waits for its end)
  int handlers_ = 0;
  std::coroutine_handle<> main_waiter_;
  Clock::duration tick_{};
  bool kick_posted_ = false;
  int posted_ = 0;  // pumps posted by kick(), not run yet
  std::vector<TunnelConnection*> tunnels_;  // open tunnels (their handlers run)
  // Last: destroyed first (nghttp2, then the streams), while the members above still exist.
  ServerSession session_;
};

Task<std::error_code> Stream::write(std::string_view chunk) { return driver.stream_write(*this, chunk); }
Task<Result<std::string_view>> Stream::read() { return driver.stream_read(*this); }

Task<void> ConnectionDriver::writer_loop(ConnectionDriver* self) {
  ConnectionDriver& d = *self;
  ServerSession& session = d.session_;
  for (;;) {
    if (d.closing()) break;
    if (!session.want_write()) {
      if (session.over()) {
        KHZ_LOG(debug, "http2 " << d.conn_.peer_address() << ": session over; closing");
        d.conn_.close();  // ends the reader's fill
        break;
      }
      co_await WriterIdle{d};
      continue;
    }
    if (auto ec = session.send()) {
      KHZ_LOG(info, "http2 " << d.conn_.peer_address() << ": " << ec.message() << "; closing");
      d.conn_.close();
      break;
    }
    d.run_ready();
    if (!d.conn_.output().empty()) {
      if (auto ec = co_await d.conn_.flush()) {
        if (!d.closing()) KHZ_LOG(debug, "http2 " << d.conn_.peer_address() << ": write failed: " << ec.message() << "; closing");
        d.conn_.close();
        break;
      }
    }
  }
  d.writer_alive_ = false;
  d.writer_waiting_ = false;
  d.notify_done();
}

Task<void> ConnectionDriver::ticker_loop(ConnectionDriver* self) {
  ConnectionDriver& d = *self;
  while (!d.closing()) {
    co_await sleep_for(d.tick_);
    if (d.closing()) break;
    d.tick();
    d.pump();
  }
  d.ticker_alive_ = false;
  d.notify_done();
}

void ConnectionDriver::tick() {
  if (conn_.is_draining() && !session_.goaway_sent()) {
    KHZ_LOG(debug, "http2 " << conn_.peer_address() << ": shutting down; GOAWAY after stream " << session_.last_stream_id());
    session_.send_graceful_goaway();
  }
  const auto now = Clock::now();
  for (TunnelConnection* t : tunnels_) {
    if (conn_.is_draining() && !t->is_draining()) t->start_draining();
    t->check_deadlines(now);
  }
  session_.check_deadlines(now);
}

Task<void> ConnectionDriver::run(Request* upgraded, std::string_view upgrade_settings) {
  if (auto ec = session_.start()) {
    KHZ_LOG(warn, "http2 " << conn_.peer_address() << ": cannot start the session: " << ec.message() << "; closing");
    co_return;
  }
  if (upgraded != nullptr && session_.upgrade(std::move(*upgraded), upgrade_settings)) co_return;  // logged

  writer_alive_ = true;
  spawn(writer_loop(this));  // runs until it has sent the SETTINGS and waits
  ticker_alive_ = true;
  spawn(ticker_loop(this));
  pump();  // stream 1 of an upgrade

  LinkedBuffer& in = conn_.input();
  for (;;) {
    // A batch is parsed in slices small enough that nghttp2 cannot owe more than max_acks()
    // ACKs by the end of one, and the writer is handed the ACKs between slices. So the count
    // only grows while the socket will not take them: a client that sends a burst and reads is
    // served; one that floods and does not read is at the limit once the kernel's buffers are full.
    parsing_ = true;
    while (!in.empty() && !session_.input_dropped()) {
      if (session_.acks_owed() != 0) hand_to_writer();
      if (session_.acks_owed() >= session_.max_acks()) {
        // The writer is waiting for the socket: give the loop a turn to write. A transport
        // whose writes complete in a later turn (io_uring) may need a few: up to ~20 ms while
        // the writer's flush is still in flight, after which a client that does not read is
        // one that floods.
        for (int turn = 0; turn < 21 && session_.acks_owed() >= session_.max_acks(); ++turn) {
          co_await sleep_for(turn == 0 ? std::chrono::nanoseconds(1) : std::chrono::nanoseconds(std::chrono::milliseconds(1)));
          hand_to_writer();
          if (writer_waiting_ && session_.acks_owed() >= session_.max_acks()) break;  // the socket took all it will
        }
        if (session_.acks_owed() >= session_.max_acks()) {
          session_.calm(std::to_string(session_.acks_owed()) + " PING/SETTINGS ACKs owed that the client does not read (flood)");
          break;
        }
      }
      Result<std::size_t> n = session_.receive(in.segment(0));
      if (!n) {
        KHZ_LOG(info, "http2 " << conn_.peer_address() << ": " << n.error().message() << "; closing");
        in.skip(in.size());
        in.release();
        break;
      }
      in.skip(*n);
    }
    parsing_ = false;
    if (closing()) break;
    if (session_.input_dropped()) in.skip(in.size());
    in.release();
    session_.request_write();
    pump();
    if (session_.stream_count() == 0) {
      in.shrink();
      if (conn_.output().empty() && writer_waiting_) conn_.output().shrink();
    }
    if (conn_.is_draining() && !session_.goaway_sent()) {
      session_.send_graceful_goaway();
      pump();
    }
    // Idle and not shutting down yet: a graceful shutdown ends this fill at once.
    const bool idle = session_.stream_count() == 0 && !session_.goaway_sent();
    conn_.set_idle(idle);
    std::error_code ec = co_await conn_.fill(in.size() + 1);
    conn_.set_idle(false);
    if (ec) {
      if (ec == transport::errc::shutting_down) continue;  // GOAWAY next round
      if (ec != transport::errc::eof && ec != transport::errc::cancelled) {
        KHZ_LOG(debug, "http2 " << conn_.peer_address() << ": read failed: " << ec.message());
      }
      break;
    }
    session_.note_activity(LoopClock::now());
  }

  // ---- the connection is over: stop the writer and the ticker, end every stream's waits
  conn_.close();
  session_.end();
  run_ready();
  if (writer_waiting_) {
    writer_waiting_ = false;
    writer_.resume();  // sees closing() and ends
  }
  co_await AllDone{*this};
}

}  // namespace

Task<void> refuse_http2(transport::Connection& conn, std::shared_ptr<const Http2Options> options) {
  // RFC 9113 §3.4, §6.5, §6.8: an empty SETTINGS frame, then GOAWAY(last stream 0, NO_ERROR)
  // with a reason as debug data.
  static constexpr std::string_view kReason = "connection limit reached";
  static constexpr unsigned char kFrames[] = {
      0, 0, 0, 0x4, 0, 0, 0, 0, 0,                                       // SETTINGS
      0, 0, 8 + kReason.size(), 0x7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // GOAWAY
  };
  conn.set_write_timeout(options->write_timeout);
  conn.output().append({reinterpret_cast<const char*>(kFrames), sizeof kFrames});
  conn.output().append(kReason);
  (void)co_await conn.flush();
}

Task<void> serve_http2(transport::Connection& conn, ServerCore& core, std::shared_ptr<const Http2Options> options) {
  ConnectionDriver driver(conn, core, std::move(options));
  co_await driver.run(nullptr, {});
}

namespace protocol::http2 {
namespace {

// HTTP2-Settings is base64url in token68 (RFC 7540 §3.2.1): the trailing '=' token68 allows are
// dropped; nullopt for anything else, characters of the standard alphabet ('+', '/') included.
std::optional<std::string> decode_http2_settings(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  return protocol::base64url_decode(text, /*canonical=*/false);
}

}  // namespace

Task<void> serve_upgraded(transport::Connection& conn, ServerCore& core, std::shared_ptr<const Http2Options> options,
                          Request request) {
  const std::optional<std::string> settings = decode_http2_settings(request.header("HTTP2-Settings"));
  if (!settings || settings->size() % 6 != 0) {
    KHZ_LOG(info, "http2 " << conn.peer_address() << ": malformed HTTP2-Settings; 400 and close");
    conn.output().append("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    (void)co_await conn.flush();
    co_return;
  }
  // Connection-specific fields do not carry over to HTTP/2 (RFC 9113 §8.2.2).
  for (std::string_view name : {"Connection", "Upgrade", "HTTP2-Settings", "Keep-Alive", "Proxy-Connection"}) {
    request.headers().remove(name);
  }
  conn.output().append("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
  ConnectionDriver driver(conn, core, std::move(options));
  co_await driver.run(&request, *settings);
}

}  // namespace protocol::http2
}  // namespace khz

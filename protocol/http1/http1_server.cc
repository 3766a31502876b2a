// SPDX-License-Identifier: Apache-2.0
// The HTTP/1.1 connection loop: read a request, serve it, write the response, repeat.
#include <khz/common/log.h>
#include <khz/common/tick_clock.h>
#include <khz/protocol/error.h>
#include <khz/protocol/http1.h>
#include <khz/transport/error.h>

#include "../common/h2c.h"
#include "http1_server.h"
#include "request_parser.h"
#include "response_writer.h"

#include <memory>
#include <string>
#include <vector>

namespace khz {
namespace {

// A status the handler set that cannot go out as the final one: below 200 (a 1xx would leave
// the client waiting for the real answer; 101 only hands the connection over) or past 999 (not
// three digits). Answered 500 instead, as the HTTP/2 server does, and nothing is handed over.
void require_final_status(Exchange& ex) {
  const int status = ex.response.status();
  if ((status >= 200 && status <= 999) || (status == 101 && ex.hijack)) return;
  KHZ_LOG(warn, "http1: " << ex.request.method() << " " << ex.request.path() << ": status " << status
                          << " is not a final status; 500");
  ex.response.clear();
  ex.response.set_status(500);
  ex.hijack = nullptr;
}

// Streams a response for a handler: head (chunked) on the first write, one flush per write.
class StreamWriter final : public BodyWriter {
 public:
  StreamWriter(transport::Connection& conn, Exchange& exchange) : conn_(conn), exchange_(exchange) {}

  void reset(const protocol::http1::HeadOptions& head) noexcept {
    head_ = head;
    started_ = false;
  }

  Task<std::error_code> write(std::string_view chunk) override {
    LinkedBuffer& out = conn_.output();
    if (!started_) {
      started_ = true;
      require_final_status(exchange_);
      head_.chunked = true;
      // An HTTP/1.0 peer has no chunked framing: the body ends when the connection closes.
      if (head_.version == Version::http10) head_.keep_alive = false;
      protocol::http1::write_head(out, exchange_.response, head_);
    }
    if (body_allowed()) {
      if (head_.version == Version::http10) out.append(chunk); else protocol::http1::write_chunk(out, chunk);
    }
    co_return co_await conn_.flush();
  }

  bool started() const noexcept override { return started_; }

  // Ends the stream; returns whether the connection may be kept.
  bool finish() {
    if (body_allowed() && head_.version != Version::http10) {
      protocol::http1::write_last_chunk(conn_.output(), exchange_.response.trailers());
    }
    return head_.keep_alive;
  }

 private:
  bool body_allowed() const noexcept {
    return !head_.head_request && status_allows_body(exchange_.response.status());
  }

  transport::Connection& conn_;
  Exchange& exchange_;
  protocol::http1::HeadOptions head_{};
  bool started_ = false;
};

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// What the server reads and discards of a body the handler left unread before it closes the
// connection instead (as Go's net/http does).
constexpr std::size_t kMaxDrainBytes = 256 * 1024;

// Hands a streamed request body to the core piece by piece, feeding the parser only as the
// core asks (so a slow handler slows the peer down through TCP flow control). Each piece is a
// view into the connection's input buffer, released on the next read.
class StreamReader final : public BodyReader {
 public:
  StreamReader(transport::Connection& conn, protocol::http1::RequestParser& parser, std::size_t& parsed,
               const Http1Options& opt, bool& sent_continue)
      : conn_(conn), parser_(parser), parsed_(parsed), opt_(opt), sent_continue_(sent_continue) {}

  Task<Result<std::string_view>> read() override {
    LinkedBuffer& in = conn_.input();
    for (;;) {
      in.skip(parsed_);  // the previous piece (or framing) is consumed
      parsed_ = 0;
      in.release();
      if (error_) co_return error_;
      if (parser_.failed()) {
        error_ = parser_.error_status() == 413 ? protocol::errc::body_too_large : protocol::errc::malformed_body;
        KHZ_LOG(info, "http1 " << conn_.peer_address() << ": streamed request body: " << parser_.error_reason());
        co_return error_;
      }
      if (parser_.done()) co_return std::string_view{};
      if (!in.empty()) {
        parsed_ = parser_.feed(in.segment(0));
        std::string_view chunk = parser_.take_chunk();
        if (!chunk.empty()) co_return chunk;
        continue;
      }
      // RFC 9110 §10.1.1: the client waits for 100 Continue before it sends the body.
      if (parser_.expects_continue() && !sent_continue_) {
        conn_.output().append(kContinue);
        sent_continue_ = true;
      }
      if (!conn_.output().empty()) {
        if (auto ec = co_await conn_.flush()) {
          error_ = ec;
          co_return ec;
        }
      }
      conn_.set_read_timeout(opt_.read_timeout);
      if (auto ec = co_await conn_.fill(in.size() + 1)) {
        error_ = ec;
        KHZ_LOG(info, "http1 " << conn_.peer_address() << ": streamed request body: " << ec.message());
        co_return ec;
      }
    }
  }

  bool done() const noexcept override { return parser_.done(); }
  std::int64_t content_length() const noexcept override { return parser_.content_length(); }
  bool broken() const noexcept { return static_cast<bool>(error_) || parser_.failed(); }

  // After the core: reads and drops what it left of the body, up to kMaxDrainBytes. Returns
  // whether the body is complete, i.e. whether the connection can carry another request.
  Task<bool> drain() {
    if (parser_.done()) co_return true;
    if (broken()) co_return false;
    // The client is waiting for a 100 Continue that will not come: it may or may not send the
    // body now, so the connection cannot be reused (RFC 9110 §10.1.1).
    if (parser_.expects_continue() && !sent_continue_) co_return false;
    const std::size_t start = parser_.body_bytes();
    while (parser_.body_bytes() - start <= kMaxDrainBytes) {
      auto piece = co_await read();
      if (!piece) co_return false;
      if (piece->empty()) co_return true;
    }
    co_return false;
  }

 private:
  transport::Connection& conn_;
  protocol::http1::RequestParser& parser_;
  std::size_t& parsed_;
  const Http1Options& opt_;
  bool& sent_continue_;
  std::error_code error_;
};

// What serving a request needs beyond the connection: the parser and the exchange, with the
// core's state and every buffer they have grown. Lent to a connection only while it has a
// request in hand, from a per-thread pool, so an idle keep-alive connection holds none of it
// and a busy one allocates nothing once the pool is warm.
// Exchange::cancel_signal for HTTP/1.1: watches the socket for a hang-up only while someone
// watches the signal (a handler awaiting the HTTP client, say).
class HangupSignal final : public CancelSignal {
 public:
  ~HangupSignal() override { reset(); }
  void bind(transport::Connection* conn) noexcept { conn_ = conn; }

 private:
  void on_watched() noexcept override {
    if (conn_ != nullptr) conn_->watch_hangup(&HangupSignal::fire, this);
  }
  void on_unwatched() noexcept override {
    if (conn_ != nullptr) conn_->unwatch_hangup();
  }
  static void fire(void* self) {
    auto* signal = static_cast<HangupSignal*>(self);
    KHZ_LOG(debug, "http1 " << signal->conn_->peer_address() << ": peer hung up while its request was being served");
    signal->trigger();
  }
  transport::Connection* conn_ = nullptr;
};

struct Session {
  protocol::http1::RequestParser parser{{0, 0, 0}};
  Exchange exchange;
  HangupSignal hangup;
  const ServerCore* core = nullptr;  // whose state exchange.core_state is
};

class SessionPool {
 public:
  std::unique_ptr<Session> acquire(const ServerCore& core, const Http1Options& opt) {
    std::unique_ptr<Session> s;
    if (free_.empty()) {
      s = std::make_unique<Session>();
    } else {
      s = std::move(free_.back());
      free_.pop_back();
    }
    if (s->core != &core) {  // state belongs to the core that made it
      s->exchange.core_state.reset();
      s->core = &core;
    }
    s->parser.set_limits({opt.max_uri_bytes, opt.max_header_bytes, opt.max_body_bytes});
    return s;
  }

  void release(std::unique_ptr<Session> s) {
    // The request and response are cleared when the next lease starts a message; until then
    // nothing reads their views into the old connection's buffer.
    s->exchange.body_writer = nullptr;
    s->exchange.body_reader = nullptr;
    s->exchange.peer_address = {};
    s->exchange.connection = nullptr;
    s->hangup.reset();
    s->hangup.bind(nullptr);
    if (free_.size() < kKeep) free_.push_back(std::move(s));
  }

 private:
  // Enough for the requests a loop has in hand at once in practice; beyond it, sessions are freed.
  static constexpr std::size_t kKeep = 256;
  std::vector<std::unique_ptr<Session>> free_;
};

SessionPool& session_pool() {
  thread_local SessionPool pool;
  return pool;
}

class SessionLease {
 public:
  SessionLease(const ServerCore& core, const Http1Options& opt) : session_(session_pool().acquire(core, opt)) {}
  ~SessionLease() { session_pool().release(std::move(session_)); }
  SessionLease(const SessionLease&) = delete;
  SessionLease& operator=(const SessionLease&) = delete;
  Session& get() noexcept { return *session_; }

 private:
  std::unique_ptr<Session> session_;
};

// Nothing buffered, everything sent: park until the next request (unless shutting down), on
// `owner` (the connection comes back to it), or for the connection handler to run again.
void park_idle(transport::Connection& conn, const Http1Options& opt, transport::Resumable* owner) noexcept {
  if (conn.is_draining()) return;
  conn.set_read_timeout(opt.idle_timeout);
  if (owner != nullptr) conn.park(*owner); else conn.park();
}

// Idle between requests: every buffer node goes back to the loop's pool (and, as serve_http1
// returns, the session to its pool), so a waiting keep-alive connection holds neither.
void release_and_park(transport::Connection& conn, const Http1Options& opt, transport::Resumable* owner) noexcept {
  conn.input().release();
  conn.input().shrink();
  conn.output().shrink();
  park_idle(conn, opt, owner);
}

// A file body after its head (already in output()): each piece's text, then its range by
// send_file (sendfile(2) on plaintext netpoll), one flush per piece; then the tail, left in
// output() for the usual flush. An error leaves part of the body sent: close.
Task<std::error_code> send_file_body(transport::Connection& conn, const FileBody& body) {
  for (const FileBody::Piece& p : body.pieces) {
    conn.output().append(p.head);
    conn.send_file(body.fd, p.offset, p.length);
    if (auto ec = co_await conn.flush()) co_return ec;
  }
  conn.output().append(body.tail);
  co_return std::error_code{};
}

}  // namespace

namespace protocol::http1 {

Task<void> serve_connection(transport::Connection& conn, ServerCore& core, std::shared_ptr<const Http1Options> options,
                            transport::Resumable* owner, const protocol::H2cUpgrade* h2c) {
  const Http1Options& opt = *options;
  // A new or idle keep-alive connection: parked until the first bytes of a request arrive
  // (then the transporter runs this again), holding no coroutine, session or buffer.
  if (conn.input().empty()) {
    park_idle(conn, opt, owner);
    co_return;
  }
  // The bytes waiting were just read (the transporter ran this on their arrival).
  std::uint64_t read_ticks = opt.stamp_reads ? TickClock::now() : 0;
  conn.set_write_timeout(opt.write_timeout);
  SessionLease lease(core, opt);  // back to the pool when this returns
  Session& session = lease.get();
  protocol::http1::RequestParser& parser = session.parser;
  Exchange& exchange = session.exchange;
  exchange.connection = &conn;  // the peer's address is formatted only if someone asks
  session.hangup.bind(&conn);
  exchange.cancel_signal = &session.hangup;
  StreamWriter writer(conn, exchange);
  exchange.body_writer = &writer;
  LinkedBuffer& in = conn.input();
  LinkedBuffer& out = conn.output();
  std::size_t parsed = 0;  // bytes of `in` the parser has taken for the current message

  bool sent_continue = false;
  StreamReader reader(conn, parser, parsed, opt, sent_continue);

  for (bool first = true;; first = false) {
    // Everything read so far is answered, and (with no input left) the last turn flushed:
    // park now, before clearing the exchange for a request that may be long in coming.
    if (!first && in.empty()) {
      release_and_park(conn, opt, owner);
      co_return;
    }
    parser.start(exchange.request);
    exchange.response.clear();
    exchange.failed = false;
    exchange.hijack = nullptr;
    exchange.body_reader = nullptr;
    sent_continue = false;
    bool streaming = false;  // the core takes the body as it arrives
    // Set when the first byte of the request arrives: the header section must be complete by then.
    std::chrono::steady_clock::time_point header_deadline{};

    // ---- read one request
    while (!parser.done() && !parser.failed()) {
      if (parsed < in.size()) {
        parsed += parser.feed(in.segment(parsed));
        if (parser.needs_body_decision()) {
          BodyPolicy policy = core.body_policy(exchange);
          parser.configure_body(policy.stream, policy.max_bytes != 0 ? policy.max_bytes : opt.max_body_bytes);
          if (policy.stream && !parser.failed()) {
            streaming = true;
            break;
          }
        }
        continue;
      }
      // Out of bytes. First let go of what is ready: pipelined responses, or a 100 Continue
      // (RFC 9110 §10.1.1), which is not sent when the body is refused (that fails earlier).
      if (parser.expects_continue() && !sent_continue && !parser.body_started()) {
        out.append(kContinue);
        sent_continue = true;
      }
      if (!out.empty()) {
        if (auto ec = co_await conn.flush()) co_return;
      }
      if (!parser.began()) {
        // Idle: everything read is answered and sent.
        in.skip(parsed);  // stray CRLFs between messages
        parsed = 0;
        release_and_park(conn, opt, owner);
        co_return;
      }
      if (!parser.headers_done()) {
        auto now = std::chrono::steady_clock::now();
        if (header_deadline == std::chrono::steady_clock::time_point{}) header_deadline = now + opt.header_timeout;
        if (now >= header_deadline) {
          KHZ_LOG(info, "http1 " << conn.peer_address() << ": header section not complete within the header timeout; 408 and close");
          co_await refuse_http1(conn, 408, options);
          co_return;
        }
        conn.set_read_timeout(header_deadline - now);
      } else {
        conn.set_read_timeout(opt.read_timeout);
      }
      std::error_code ec = co_await conn.fill(in.size() + 1);
      if (ec) {
        if (parser.began() && ec == transport::errc::timed_out) {
          KHZ_LOG(info, "http1 " << conn.peer_address() << ": request read timed out; 408 and close");
          co_await refuse_http1(conn, 408, options);
        } else if (parser.began() && ec == transport::errc::eof) {
          KHZ_LOG(debug, "http1 " << conn.peer_address() << ": peer closed in the middle of a request");
        }
        co_return;
      }
      if (opt.stamp_reads) read_ticks = TickClock::now();
    }
    exchange.received_ticks = read_ticks;

    if (parser.failed()) {
      KHZ_LOG(info, "http1 " << conn.peer_address() << ": " << parser.error_status() << " " << reason_phrase(parser.error_status())
                             << " (" << parser.error_reason() << "); closing");
      co_await refuse_http1(conn, parser.error_status(), options);
      co_return;
    }

    if (streaming) {
      // The body flows through the buffer behind the header section: the request's views move
      // to its own storage so the buffer can be released piece by piece.
      exchange.request.own();
      in.skip(parsed);
      parsed = 0;
      in.release();
      exchange.body_reader = &reader;
    }

    // ---- h2c by Upgrade (RFC 7540 §3.2): hand the connection to protocol/http2, where this
    // request (read whole: not with a streamed body) becomes stream 1. Its views point into
    // `in`, which HTTP/2 takes over: copy first.
    if (h2c != nullptr && !streaming && protocol::wants_h2c_upgrade(exchange.request)) {
      Request upgraded(exchange.request);
      in.skip(parsed);
      in.release();
      co_await h2c->serve_upgraded(conn, core, std::move(upgraded));
      co_return;
    }

    // ---- serve
    const bool wants_keep_alive = parser.keep_alive() && !conn.is_draining();
    protocol::http1::HeadOptions head{exchange.request.version(), wants_keep_alive, false,
                            exchange.request.method() == "HEAD", opt.server_name};
    writer.reset(head);
    {
      Task<void> serving = core.serve(exchange);
      serving.set_cancel_signal(&session.hangup);
      co_await serving;
      session.hangup.reset();  // stops a hang-up watch
    }

    if (!writer.started()) require_final_status(exchange);  // (a stream did at its head)

    // ---- hand the connection over (Upgrade)
    if (exchange.hijack && !writer.started()) {
      protocol::http1::write_response(out, exchange.response, head);
      in.skip(parsed);  // what follows the request belongs to the new protocol
      in.release();
      if (auto ec = co_await conn.flush()) co_return;
      KHZ_LOG(debug, "http1 " << conn.peer_address() << ": connection handed over after " << exchange.response.status());
      HijackHandler takeover = std::move(exchange.hijack);
      co_await takeover(conn);
      co_return;
    }

    // ---- respond
    bool keep_alive = false;
    if (writer.started()) {
      if (exchange.failed) {
        KHZ_LOG(info, "http1 " << conn.peer_address() << ": streamed response broke off; closing without the last chunk");
        co_return;
      }
      keep_alive = writer.finish();
      if (streaming && keep_alive && !co_await reader.drain()) keep_alive = false;
    } else {
      // A body the core left unread must be read past (or the connection closed) before the
      // next request; decided before the head goes out, which says whether the connection stays.
      const bool body_complete = !streaming || co_await reader.drain();
      head.keep_alive = wants_keep_alive && body_complete && !conn.is_draining() &&
                        !has_token(exchange.response.header("Connection"), "close");
      keep_alive = head.keep_alive;
      protocol::http1::write_response(out, exchange.response, head);
      const FileBody* file = exchange.response.file_body();
      if (file != nullptr && !head.head_request && status_allows_body(exchange.response.status())) {
        if (auto ec = co_await send_file_body(conn, *file)) {
          KHZ_LOG(info, "http1 " << conn.peer_address() << ": file response broke off: " << ec.message());
          co_return;
        }
      }
    }
    in.skip(parsed);  // the request's views end here
    parsed = 0;
    in.release();
    if (!keep_alive) {
      (void)co_await conn.flush();
      co_return;
    }
    // Pipelined requests already buffered: answer them first, then flush all in one write.
    if (in.empty() || out.size() >= opt.max_pipelined_output) {
      if (auto ec = co_await conn.flush()) co_return;
    }
  }
}

}  // namespace protocol::http1

Task<void> refuse_http1(transport::Connection& conn, int status, std::shared_ptr<const Http1Options> options) {
  conn.set_write_timeout(options->write_timeout);
  protocol::http1::write_error(conn.output(), status, options->server_name);
  (void)co_await conn.flush();
}

}  // namespace khz

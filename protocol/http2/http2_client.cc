// SPDX-License-Identifier: Apache-2.0
// The client side of an HTTP/2 connection: nghttp2 as a sans-I/O codec (mem_recv on the input
// buffer, send into the output buffer), shared by the coroutines of many requests.
//
// Coroutines of one connection (all on its loop, so no locks):
//   reader   fill -> nghttp2_session_mem_recv -> run_ready() -> kick the writer
//   writer   nghttp2_session_send -> flush, while there is something to send
//   callers  wait_for_slot / Http2Stream::{write, read_head, read_body, read_all}
// nghttp2 callbacks never resume a caller: they queue its handle in ready_, which run_ready()
// drains at a safe point (after mem_recv, after a send). A caller that submitted frames kicks
// an idle writer directly. Waits with a deadline (the caller's, the read gap) are checked by
// one ticker per connection (a LoopTimer every 10 ms while any such wait is pending), so a
// request arms no timer of its own.
// The Session is reference counted by its handles (the connection, each Http2Stream) and its
// two coroutines; the last one to go deletes it. RFC 8441 tunnels over a stream: client_tunnel.cc.
#include <khz/common/event_loop.h>
#include <khz/common/log.h>
#include <khz/common/loop_clock.h>
#include <khz/protocol/error.h>
#include <khz/protocol/http2_client.h>
#include <khz/transport/dial.h>
#include <khz/transport/error.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "../common/header_rules.h"
#include "nghttp2_glue.h"

namespace khz {

namespace {
using Clock = std::chrono::steady_clock;

using protocol::http2::make_nv;
using protocol::http2::sv;

// Fields not copied from a request into HTTP/2: the connection-specific ones (RFC 9113 §8.2.2;
// "te: trailers" goes through), Host (it becomes :authority) and Content-Length (ours to set).
bool dropped_from_request(std::string_view name, std::string_view value) noexcept {
  return protocol::is_connection_specific_header(name, value) || iequals(name, "host") ||
         iequals(name, "content-length");
}

// A suspended caller. Past `deadline` the ticker sets `timed_out` and resumes it.
struct Waiting {
  std::coroutine_handle<> handle;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  bool timed_out = false;
};

constexpr std::chrono::milliseconds kTick{10};

}  // namespace

struct Http2Stream::State {
  Http2ClientConnection::Session* session = nullptr;
  std::int32_t id = 0;
  std::size_t live_index = 0;
  Response* response = nullptr;
  bool handle_alive = false;
  // response
  bool interim = false;        // the HEADERS being decoded is a 1xx
  bool head_done = false;      // final head in
  bool ended = false;          // END_STREAM received
  bool began = false;          // any response frame
  bool closed = false;         // nghttp2 closed the stream
  bool tunnel = false;         // an extended CONNECT (RFC 8441): no read gap, no body limit
  std::size_t header_bytes = 0;
  std::uint64_t body_bytes = 0;  // DATA payload received
  std::uint64_t delivered = 0;   // of which the caller was told (read_body returned)
  std::uint64_t consumed = 0;    // of which the window was given back
  std::error_code error;
  // request body
  std::string body;            // a whole body (copied; capacity reused)
  std::string_view out;        // bytes the data provider sends from out_off
  std::size_t out_off = 0;
  bool out_end = false;        // no more pieces after `out`
  bool deferred = false;
  bool eof_sent = false;
  bool reset_submitted = false;  // one RST_STREAM per stream (see Session::reset_stream)
  // waiting
  Waiting wait;        // read_head, read_body
  Waiting write_wait;  // write: a tunnel (RFC 8441) reads and writes at once

  void reset(Http2ClientConnection::Session* s, Response* r) {
    session = s;
    id = 0;
    response = r;
    handle_alive = true;
    interim = head_done = ended = began = closed = tunnel = false;
    header_bytes = 0;
    body_bytes = delivered = consumed = 0;
    error.clear();
    body.clear();
    out = {};
    out_off = 0;
    out_end = deferred = eof_sent = reset_submitted = false;
    wait.handle = {};
    wait.deadline = Clock::time_point::max();
    wait.timed_out = false;
    write_wait.handle = {};
    write_wait.deadline = Clock::time_point::max();
    write_wait.timed_out = false;
  }
};

struct Http2ClientConnection::Session {
  using State = Http2Stream::State;

  Session(std::unique_ptr<transport::Connection> c, Http2ClientOptions o) : conn(std::move(c)), opt(o) {
    if (protocol::http2::OptionPtr option = protocol::http2::new_option()) {
      nghttp2_option_set_no_auto_window_update(option.get(), 1);  // windows open as callers read
      ng = protocol::http2::new_session(protocol::http2::Role::client,
                              {.send = &on_send,
                               .begin_headers = &on_begin_headers,
                               .header = &on_header,
                               .frame_recv = &on_frame_recv,
                               .invalid_frame_recv = &on_invalid_frame_recv,
                               .data_chunk_recv = &on_data_chunk_recv,
                               .stream_close = &on_stream_close},
                              this, option.get());
    }
    if (!ng) {  // out of memory: a closed connection (start() is not called)
      KHZ_LOG(warn, "http2 client: cannot make the nghttp2 session; closing");
      closing = true;
      conn_error = std::make_error_code(std::errc::not_enough_memory);
      conn->close();
      return;
    }
    conn->set_read_timeout({});  // streams keep their own deadlines
    conn->set_write_timeout(opt.write_timeout);
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 0},  // we accept no pushed streams
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, std::min<std::uint32_t>(opt.initial_window_size, NGHTTP2_MAX_WINDOW_SIZE)},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(opt.max_header_list_size)},
    };
    nghttp2_submit_settings(ng.get(), NGHTTP2_FLAG_NONE, settings, std::size(settings));
    protocol::http2::raise_connection_window(ng.get(), opt.connection_window_size);
  }

  ~Session() {
    ng.reset();  // the codec first, then the transport
    conn.reset();
  }

  // ---- references: the connection handle, each stream handle, the reader and the writer
  void ref() noexcept { ++refs; }
  void unref() noexcept {
    if (--refs == 0) delete this;
  }

  // ---- scheduling
  void wake(Waiting& w) {
    if (!w.handle) return;
    ready.push_back(std::exchange(w.handle, {}));
  }
  void wake(State& s) {
    wake(s.wait);
    wake(s.write_wait);
  }

  void run_ready() {
    if (in_dispatch) return;
    in_dispatch = true;
    while (!ready.empty()) {
      batch.swap(ready);
      for (auto h : batch) h.resume();
      batch.clear();
    }
    in_dispatch = false;
  }

  // Lets an idle writer send what was just submitted (not from inside nghttp2 callbacks). While
  // ready callers run (run_ready), the writer waits for all of them: their frames go out in one
  // write, not one each (whoever runs the dispatch kicks after it).
  void kick() {
    if (writer_waiting && !in_codec && !in_dispatch && !closing) {
      writer_waiting = false;
      writer.resume();
    }
  }

  // Ends the waits whose deadline passed; runs again while timed waits remain.
  static void on_tick(void* context) {
    Session& self = *static_cast<Session*>(context);
    self.ref();
    const auto now = LoopClock::now();
    bool pending = false;
    auto check = [&](Waiting& w) {
      if (!w.handle || w.deadline == Clock::time_point::max()) return;
      if (w.deadline <= now) {
        w.timed_out = true;
        self.ready.push_back(std::exchange(w.handle, {}));
      } else {
        pending = true;
      }
    };
    for (auto& st : self.live) {
      check(st->wait);
      check(st->write_wait);
    }
    for (Waiting* w : self.slot_waiters) check(*w);
    self.run_ready();
    self.kick();
    if (pending && !self.ticker.armed()) self.ticker.start(kTick, &Session::on_tick, &self);
    self.unref();
  }

  struct Wait {
    Session& session;
    Waiting& w;
    Clock::time_point deadline;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
      w.handle = h;
      w.timed_out = false;
      w.deadline = deadline;
      if (deadline != Clock::time_point::max() && !session.ticker.armed()) {
        session.ticker.start(kTick, &Session::on_tick, &session);
      }
    }
    void await_resume() const noexcept {}
  };

  Clock::time_point read_deadline(Clock::time_point deadline) const {
    if (opt.read_gap.count() <= 0) return deadline;
    return std::min(deadline, LoopClock::now() + opt.read_gap);
  }

  // ---- streams
  State& new_state(Response* r) {
    std::unique_ptr<State> s;
    if (!spare.empty()) {
      s = std::move(spare.back());
      spare.pop_back();
    } else {
      s = std::make_unique<State>();
    }
    s->reset(this, r);
    s->live_index = live.size();
    live.push_back(std::move(s));
    return *live.back();
  }

  // Once neither the handle nor nghttp2 needs it.
  void recycle_if_done(State& s) {
    if (s.handle_alive || (s.id > 0 && !s.closed && !closing)) return;
    std::size_t i = s.live_index;
    if (i >= live.size() || live[i].get() != &s) return;  // recycled already
    std::unique_ptr<State> owned = std::move(live[i]);
    if (i + 1 != live.size()) {
      live[i] = std::move(live.back());
      live[i]->live_index = i;
    }
    live.pop_back();
    owned->response = nullptr;
    if (spare.size() < 64) spare.push_back(std::move(owned));
  }

  void fail(State& s, std::error_code ec) {
    if (!s.error) s.error = ec;
    wake(s);
  }

  // Gives the window back for what the caller has been handed.
  void give_back(State& s) {
    if (s.delivered > s.consumed && !s.closed && !closing) {
      nghttp2_session_consume(ng.get(), s.id, static_cast<std::size_t>(s.delivered - s.consumed));
      s.consumed = s.delivered;
      kick();
    }
  }

  // Once per stream. A stream cancelled before its HEADERS went out (the handle's cancel(), then
  // its destructor, before the writer's turn) has its queued HEADERS dropped by nghttp2 at the
  // first submit; a second one found nothing to drop and queued a real RST_STREAM for a stream
  // the server never saw: RST_STREAM on an idle stream is a connection error (RFC 9113 §6.4),
  // and the server ended the connection and every request on it.
  void reset_stream(State& s, std::uint32_t code) {
    if (s.id <= 0 || s.closed || s.reset_submitted || closing) return;
    s.reset_submitted = true;
    nghttp2_submit_rst_stream(ng.get(), NGHTTP2_FLAG_NONE, s.id, code);
  }

  void wake_slot_waiter() {
    while (!slot_waiters.empty()) {
      Waiting* w = slot_waiters.front();
      slot_waiters.pop_front();
      if (w->handle) {
        wake(*w);
        return;
      }
    }
  }
  void wake_all_slot_waiters() {
    while (!slot_waiters.empty()) {
      wake(*slot_waiters.front());
      slot_waiters.pop_front();
    }
  }

  std::size_t limit() const noexcept {
    std::uint32_t remote = nghttp2_session_get_remote_settings(ng.get(), NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    return std::min<std::size_t>(remote, opt.max_concurrent_streams);
  }
  bool usable() const noexcept { return !closing && !goaway && !shut; }
  bool can_open() const noexcept { return usable() && open_streams < limit(); }

  // ---- nghttp2 callbacks
  static Session& self(void* p) { return *static_cast<Session*>(p); }
  State* state_of(std::int32_t id) { return static_cast<State*>(nghttp2_session_get_stream_user_data(ng.get(), id)); }

  static ssize_t on_send(nghttp2_session*, const std::uint8_t* data, std::size_t length, int, void* user) {
    self(user).conn->output().append(sv(data, length));
    return static_cast<ssize_t>(length);
  }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    Session& s = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    State* st = s.state_of(frame->hd.stream_id);
    s.header_state = st;  // for on_header, called next for this block's fields
    s.header_stream = frame->hd.stream_id;
    if (st == nullptr) return 0;
    st->began = true;
    st->interim = false;
    if (!st->head_done) st->header_bytes = 0;
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
    Session& s = self(user);
    State* st = frame->hd.stream_id == s.header_stream ? s.header_state : s.state_of(frame->hd.stream_id);
    if (st == nullptr || st->error || st->response == nullptr) return 0;
    std::string_view n = sv(name, namelen);
    std::string_view v = sv(value, valuelen);
    st->header_bytes += namelen + valuelen + 32;
    if (st->header_bytes > s.opt.max_header_list_size) {
      KHZ_LOG(debug, "http2 client: stream " << st->id << ": response head over " << s.opt.max_header_list_size
                                             << " bytes; RST_STREAM");
      st->error = protocol::errc::header_too_large;
      s.wake(*st);
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // nghttp2 resets the stream
    }
    Response& r = *st->response;
    if (st->head_done) {  // trailers (pseudo-fields there are rejected by nghttp2)
      r.trailers().add(n, v);
      return 0;
    }
    if (n == ":status") {
      int status = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), status);
      if (ec != std::errc() || p != v.data() + v.size() || v.size() != 3) {
        st->error = protocol::errc::malformed_response;
        s.wake(*st);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
      }
      st->interim = status < 200;
      if (!st->interim) r.set_status(status);
      return 0;
    }
    if (st->interim || n.starts_with(':')) return 0;
    r.headers().add(n, v);
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    Session& s = self(user);
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS: {
        State* st = s.state_of(frame->hd.stream_id);
        if (st == nullptr) return 0;
        if (st->interim) {
          st->interim = false;
          st->header_bytes = 0;
          return 0;
        }
        if (!st->head_done) {
          st->head_done = true;
          s.wake(*st);
        }
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
          st->ended = true;
          s.wake(*st);
        }
        return 0;
      }
      case NGHTTP2_DATA: {
        State* st = s.state_of(frame->hd.stream_id);
        if (st != nullptr && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
          st->ended = true;
          s.wake(*st);
        }
        return 0;
      }
      case NGHTTP2_RST_STREAM: {
        State* st = s.state_of(frame->hd.stream_id);
        if (st == nullptr) return 0;
        std::uint32_t code = frame->rst_stream.error_code;
        KHZ_LOG(debug, "http2 client: stream " << st->id << " reset by the server: " << nghttp2_http2_strerror(code));
        // RFC 9113 §8.1: NO_ERROR after a complete response only asks us to stop sending; the
        // response stands (a server answering before the request, or a tunnel it refused, ended).
        if (code == NGHTTP2_NO_ERROR && st->ended) return 0;
        s.fail(*st, code == NGHTTP2_REFUSED_STREAM ? protocol::errc::stream_refused : protocol::errc::stream_reset);
        return 0;
      }
      case NGHTTP2_GOAWAY: {
        s.goaway = true;
        s.goaway_last_id = frame->goaway.last_stream_id;
        KHZ_LOG(debug, "http2 client: GOAWAY (last stream " << s.goaway_last_id << ", "
                                                            << nghttp2_http2_strerror(frame->goaway.error_code) << ")");
        for (auto& st : s.live) {
          if (st->id > s.goaway_last_id && !st->closed) s.fail(*st, protocol::errc::stream_refused);
        }
        s.wake_all_slot_waiters();
        return 0;
      }
      case NGHTTP2_SETTINGS:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK) && !s.settings_received) {
          s.settings_received = true;
          s.wake_all_slot_waiters();  // wait_for_settings waits there too
        } else if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
          for (std::size_t i = s.open_streams; i < s.limit() && !s.slot_waiters.empty(); ++i) s.wake_slot_waiter();
        }
        return 0;
      default:
        return 0;
    }
  }

  static int on_data_chunk_recv(nghttp2_session* ng, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                                std::size_t len, void* user) {
    Session& s = self(user);
    State* st = s.state_of(id);
    if (st == nullptr || st->error || st->response == nullptr) {
      nghttp2_session_consume(ng, id, len);  // nobody reads it: keep the connection window open
      return 0;
    }
    if (st->body_bytes + len > s.opt.max_body_bytes && !st->tunnel) {
      KHZ_LOG(debug, "http2 client: stream " << id << ": response body over " << s.opt.max_body_bytes
                                             << " bytes; RST_STREAM CANCEL");
      nghttp2_session_consume(ng, id, len);
      nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
      s.fail(*st, protocol::errc::response_too_large);
      return 0;
    }
    st->response->body_buffer().append(sv(data, len));
    st->body_bytes += len;
    s.wake(*st);
    return 0;
  }

  static int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* user) {
    Session& s = self(user);
    State* st = s.state_of(id);
    if (st == nullptr) return 0;
    st->closed = true;
    --s.open_streams;
    if (s.header_state == st) s.header_stream = -1;
    if (!st->ended && !st->error) {
      if (code == NGHTTP2_REFUSED_STREAM) {
        st->error = protocol::errc::stream_refused;
      } else if (code == NGHTTP2_NO_ERROR) {
        st->error = protocol::errc::truncated_response;
      } else {
        // A reset from the server set the error in on_frame_recv: this one is nghttp2's own,
        // for a response breaking the rules (e.g. DATA not matching content-length).
        st->error = protocol::errc::malformed_response;
      }
    }
    // Bytes received but never handed out no longer count against the connection window
    // (nghttp2 gives the stream's part back itself once the stream is gone).
    if (st->body_bytes > st->consumed && !s.closing) {
      nghttp2_session_consume_connection(s.ng.get(), static_cast<std::size_t>(st->body_bytes - st->consumed));
      st->consumed = st->body_bytes;
    }
    s.wake(*st);
    s.wake_slot_waiter();
    s.recycle_if_done(*st);
    return 0;
  }

  static int on_invalid_frame_recv(nghttp2_session*, const nghttp2_frame* frame, int lib_error, void* user) {
    Session& s = self(user);
    State* st = frame->hd.stream_id > 0 ? s.state_of(frame->hd.stream_id) : nullptr;
    KHZ_LOG(debug, "http2 client: invalid frame (type " << int(frame->hd.type) << ", stream " << frame->hd.stream_id
                                                        << "): " << nghttp2_strerror(lib_error));
    if (st != nullptr) s.fail(*st, protocol::errc::malformed_response);
    return 0;
  }

  static ssize_t read_body_source(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                                  std::uint32_t* flags, nghttp2_data_source* source, void* user) {
    Session& s = self(user);
    State& st = *static_cast<State*>(source->ptr);
    std::size_t n = std::min(length, st.out.size() - st.out_off);
    if (n > 0) std::memcpy(buf, st.out.data() + st.out_off, n);
    st.out_off += n;
    if (st.out_off == st.out.size()) {
      if (st.out_end) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        st.eof_sent = true;
      } else if (n == 0) {
        st.deferred = true;
        return NGHTTP2_ERR_DEFERRED;
      }
      s.wake(st);  // the piece was taken
    }
    return static_cast<ssize_t>(n);
  }

  // ---- coroutines
  struct WriterIdle {
    Session& s;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      s.writer = h;
      s.writer_waiting = true;
    }
    void await_resume() const noexcept {}
  };

  static Task<void> writer_loop(Session* self) {
    Session& s = *self;
    for (;;) {
      if (s.closing) break;
      if (!nghttp2_session_want_write(s.ng.get())) {
        if (!nghttp2_session_want_read(s.ng.get())) {
          KHZ_LOG(debug, "http2 client: session over; closing");
          s.conn->close();  // ends the reader's fill
          break;
        }
        co_await WriterIdle{s};
        continue;
      }
      s.in_codec = true;
      int rv = nghttp2_session_send(s.ng.get());
      s.in_codec = false;
      if (rv != 0) {
        KHZ_LOG(info, "http2 client: " << nghttp2_strerror(rv) << "; closing");
        if (!s.conn_error) s.conn_error = protocol::errc::malformed_response;
        s.conn->close();
        break;
      }
      s.run_ready();
      if (!s.conn->output().empty()) {
        if (auto ec = co_await s.conn->flush()) {
          if (!s.closing) KHZ_LOG(debug, "http2 client: write failed: " << ec.message() << "; closing");
          if (!s.conn_error) s.conn_error = ec;
          s.conn->close();
          break;
        }
      }
    }
    s.writer_waiting = false;
    s.writer_alive = false;
    s.unref();
  }

  static Task<void> reader_loop(Session* self) {
    Session& s = *self;
    LinkedBuffer& in = s.conn->input();
    for (;;) {
      while (!in.empty()) {
        std::string_view seg = in.segment(0);
        s.in_codec = true;
        ssize_t n = nghttp2_session_mem_recv(s.ng.get(), protocol::http2::bytes_of(seg), seg.size());
        s.in_codec = false;
        if (n < 0) {
          KHZ_LOG(info, "http2 client: " << nghttp2_strerror(static_cast<int>(n)) << "; closing");
          in.skip(in.size());
          s.conn_error = protocol::errc::malformed_response;
          break;
        }
        in.skip(static_cast<std::size_t>(n));
      }
      in.release();
      if (s.conn_error) break;
      s.run_ready();
      s.kick();
      if (s.closing) break;
      if (s.live.empty()) in.shrink();
      std::error_code ec = co_await s.conn->fill(in.size() + 1);
      if (ec) {
        if (!s.conn_error) s.conn_error = ec;
        if (ec != transport::errc::eof && ec != transport::errc::cancelled) {
          KHZ_LOG(debug, "http2 client: read failed: " << ec.message());
        }
        break;
      }
    }
    // The connection is over: every open stream fails, the writer stops.
    s.closing = true;
    s.conn->close();
    for (auto& st : s.live) {
      if (!st->ended || st->id == 0) {
        s.fail(*st, st->began ? std::error_code(protocol::errc::truncated_response) : s.conn_error);
      }
    }
    s.wake_all_slot_waiters();
    s.run_ready();
    if (s.writer_waiting) {
      s.writer_waiting = false;
      s.writer.resume();  // sees closing and ends
    }
    // Streams whose handles are gone are no longer needed by nghttp2 either.
    for (std::size_t i = s.live.size(); i-- > 0;) {
      if (i < s.live.size()) s.recycle_if_done(*s.live[i]);
    }
    s.reader_alive = false;
    s.unref();
  }

  void start() {
    refs += 2;
    writer_alive = reader_alive = true;
    spawn(writer_loop(this));  // sends the preface and SETTINGS, then waits
    spawn(reader_loop(this));
  }

  std::unique_ptr<transport::Connection> conn;
  Http2ClientOptions opt;
  protocol::http2::SessionPtr ng;  // null only when it could not be made (the connection is then closed)
  transport::LoopTimer ticker;  // while waits with a deadline are pending
  EventLoop* loop = EventLoop::current();  // the loop it runs on
  int refs = 1;
  std::vector<std::unique_ptr<State>> live;
  std::vector<std::unique_ptr<State>> spare;
  std::vector<std::coroutine_handle<>> ready;
  std::vector<std::coroutine_handle<>> batch;
  std::deque<Waiting*> slot_waiters;
  std::vector<nghttp2_nv> nva;
  std::string names;  // lower-cased field names of the request being submitted
  State* header_state = nullptr;  // the stream whose header block is being decoded
  std::int32_t header_stream = -1;
  std::size_t open_streams = 0;
  bool in_dispatch = false;
  bool in_codec = false;
  bool settings_received = false;  // the server's first SETTINGS frame
  std::coroutine_handle<> writer;
  bool writer_waiting = false;
  bool writer_alive = false;
  bool reader_alive = false;
  bool closing = false;
  bool goaway = false;
  bool shut = false;
  std::int32_t goaway_last_id = 0;
  std::error_code conn_error;
};

// ---- Http2ClientConnection

std::unique_ptr<Http2ClientConnection> Http2ClientConnection::make(std::unique_ptr<transport::Connection> conn,
                                                                   Http2ClientOptions options) {
  auto* s = new Session(std::move(conn), options);
  if (s->ng) s->start();
  return std::unique_ptr<Http2ClientConnection>(new Http2ClientConnection(s));
}

Http2ClientConnection::~Http2ClientConnection() {
  Session* s = s_;
  if (s->loop != nullptr && EventLoop::current() != s->loop) {
    // Destroyed off its loop (e.g. a Client destroyed by another thread while the loop runs):
    // the session is closed and released there, never raced with its loop.
    s->loop->post([s] {
      if (!s->closing) {
        if (!s->conn_error) s->conn_error = transport::errc::cancelled;
        s->conn->close();
      }
      s->unref();
    });
    return;
  }
  close();
  s->unref();
}

void Http2ClientConnection::close() noexcept {
  if (!s_->closing) {
    if (!s_->conn_error) s_->conn_error = transport::errc::cancelled;
    s_->conn->close();
  }
}

void Http2ClientConnection::shutdown() noexcept {
  if (s_->closing || s_->shut) return;
  s_->shut = true;
  nghttp2_submit_goaway(s_->ng.get(), NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
  s_->wake_all_slot_waiters();
  s_->run_ready();
  s_->kick();
}

bool Http2ClientConnection::can_open_stream() const noexcept { return s_->can_open(); }
bool Http2ClientConnection::usable() const noexcept { return s_->usable(); }
std::size_t Http2ClientConnection::active_streams() const noexcept { return s_->open_streams; }
std::size_t Http2ClientConnection::stream_limit() const noexcept { return s_->limit(); }
bool Http2ClientConnection::closed() const noexcept { return s_->closing; }
bool Http2ClientConnection::goaway_received() const noexcept { return s_->goaway; }
bool Http2ClientConnection::settings_received() const noexcept { return s_->settings_received; }
bool Http2ClientConnection::connect_protocol_enabled() const noexcept {
  return s_->settings_received && s_->ng &&
         nghttp2_session_get_remote_settings(s_->ng.get(), NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1;
}

std::string Http2ClientConnection::peer_address() const { return s_->conn->peer_address(); }
std::string Http2ClientConnection::local_address() const { return s_->conn->local_address(); }

Task<std::error_code> Http2ClientConnection::wait_for_settings(Clock::time_point deadline) {
  Session& s = *s_;
  s.ref();
  std::error_code out;
  Waiting w;
  while (!s.settings_received) {
    if (s.closing) {
      out = protocol::errc::connection_closed;
      break;
    }
    s.slot_waiters.push_back(&w);  // woken by the first SETTINGS (and by the close)
    co_await Session::Wait{s, w, deadline};
    auto it = std::find(s.slot_waiters.begin(), s.slot_waiters.end(), &w);
    if (it != s.slot_waiters.end()) s.slot_waiters.erase(it);
    if (w.timed_out && !s.settings_received) {
      out = s.closing ? std::error_code(protocol::errc::connection_closed) : std::error_code(transport::errc::timed_out);
      break;
    }
  }
  s.unref();
  co_return out;
}

Task<std::error_code> Http2ClientConnection::wait_for_slot(Clock::time_point deadline) {
  Session& s = *s_;
  s.ref();
  std::error_code out;
  Waiting w;
  while (!s.can_open()) {
    if (!s.usable()) {
      out = protocol::errc::connection_closed;
      break;
    }
    s.slot_waiters.push_back(&w);
    co_await Session::Wait{s, w, deadline};
    if (w.timed_out) {
      auto it = std::find(s.slot_waiters.begin(), s.slot_waiters.end(), &w);
      if (it != s.slot_waiters.end()) s.slot_waiters.erase(it);
      if (!s.can_open()) {
        out = s.usable() ? std::error_code(transport::errc::timed_out) : protocol::errc::connection_closed;
        break;
      }
    }
  }
  // A slot this waiter was woken for but does not need goes to the next one.
  if (out && s.can_open()) s.wake_slot_waiter();
  s.unref();
  co_return out;
}

Result<Http2Stream> Http2ClientConnection::open(const Request& request, Response& response,
                                                const Http2RequestInfo& info) {
  Http2RequestInfo with_host = info;
  if (with_host.authority.empty()) with_host.authority = request.header("Host");
  if (with_host.connect_protocol.empty()) with_host.connect_protocol = request.connect_protocol();
  return open(request.method(), request.target(), request.headers(), {}, response, with_host);
}

Result<Http2Stream> Http2ClientConnection::open(std::string_view method, std::string_view target,
                                                const HeaderMap& headers, std::span<const ExtraField> extra,
                                                Response& response, const Http2RequestInfo& info) {
  Session& s = *s_;
  if (!s.usable()) return std::error_code(protocol::errc::connection_closed);
  if (!s.can_open()) return std::make_error_code(std::errc::resource_unavailable_try_again);
  const bool tunnel = !info.connect_protocol.empty();
  if (tunnel) {
    // RFC 8441 §3: only once the server said so in its SETTINGS.
    if (!s.settings_received) return std::make_error_code(std::errc::resource_unavailable_try_again);
    if (!connect_protocol_enabled()) return std::error_code(protocol::errc::connect_protocol_disabled);
  }
  response.clear();
  std::string_view authority = info.authority;
  std::string_view path = target.empty() ? std::string_view("/") : target;
  char length_text[24];
  std::string_view length;
  if (info.streamed_body ? info.content_length >= 0 : !info.body.empty()) {
    std::int64_t n = info.streamed_body ? info.content_length : static_cast<std::int64_t>(info.body.size());
    auto [end, ec] = std::to_chars(length_text, length_text + sizeof length_text, n);
    length = std::string_view(length_text, static_cast<std::size_t>(end - length_text));
  }
  // Field names lower-cased into one buffer, sized first so the views stay put.
  std::size_t name_bytes = 0;
  for (const auto& f : headers) name_bytes += f.name.size();
  for (const auto& [n, v] : extra) name_bytes += n.size();
  s.names.clear();
  s.names.reserve(name_bytes);
  s.nva.clear();
  s.nva.push_back(make_nv(":method", method));
  s.nva.push_back(make_nv(":scheme", info.scheme));
  s.nva.push_back(make_nv(":authority", authority));
  s.nva.push_back(make_nv(":path", path));
  if (tunnel) s.nva.push_back(make_nv(":protocol", info.connect_protocol));
  if (!length.empty()) s.nva.push_back(make_nv("content-length", length));
  auto add = [&](std::string_view name, std::string_view value) {
    if (dropped_from_request(name, value)) return;
    std::size_t at = s.names.size();
    s.names.resize(at + name.size());  // within the capacity reserved above
    char* out = s.names.data() + at;
    for (std::size_t i = 0; i < name.size(); ++i) {
      char c = name[i];
      out[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    }
    s.nva.push_back(make_nv(std::string_view(out, name.size()), value));
  };
  for (const auto& f : headers) add(f.name, f.value);
  for (const auto& [n, v] : extra) add(n, v);
  Http2Stream::State& st = s.new_state(&response);
  st.tunnel = tunnel;
  nghttp2_data_provider provider{};
  const bool has_body = info.streamed_body || !info.body.empty();
  if (has_body) {
    if (!info.streamed_body) {
      st.body.assign(info.body);
      st.out = st.body;
      st.out_end = true;
    }
    provider.source.ptr = &st;
    provider.read_callback = &Session::read_body_source;
  }
  std::int32_t id = nghttp2_submit_request(s.ng.get(), nullptr, s.nva.data(), s.nva.size(), has_body ? &provider : nullptr, &st);
  if (id < 0) {
    KHZ_LOG(info, "http2 client: cannot submit a request: " << nghttp2_strerror(id));
    st.handle_alive = false;
    s.recycle_if_done(st);
    return std::error_code(id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE ? protocol::errc::connection_closed
                                                                     : protocol::errc::malformed_response);
  }
  st.id = id;
  ++s.open_streams;
  s.ref();
  s.kick();
  return Http2Stream(&st);
}

// ---- Http2Stream

Http2Stream& Http2Stream::operator=(Http2Stream&& other) noexcept {
  if (this != &other) {
    this->~Http2Stream();
    s_ = std::exchange(other.s_, nullptr);
  }
  return *this;
}

Http2Stream::~Http2Stream() {
  if (s_ == nullptr) return;
  auto& session = *s_->session;
  if (!s_->closed) session.reset_stream(*s_, NGHTTP2_CANCEL);  // unfinished either way
  s_->handle_alive = false;
  s_->response = nullptr;
  session.recycle_if_done(*s_);
  session.kick();  // sends the RST (nghttp2 then closes the stream and it is recycled)
  session.unref();
}

std::int32_t Http2Stream::id() const noexcept { return s_->id; }
bool Http2Stream::response_began() const noexcept { return s_->began; }
bool Http2Stream::body_done() const noexcept { return s_->ended && s_->delivered == s_->body_bytes; }

void Http2Stream::cancel() noexcept {
  auto& session = *s_->session;
  if (s_->closed && s_->ended && !s_->error) return;  // already complete
  session.reset_stream(*s_, NGHTTP2_CANCEL);
  session.fail(*s_, protocol::errc::cancelled);  // queues its waiting coroutine, if any
  // The RST goes out and the waiter resumes from the loop, never inside the canceller's call
  // (the resumed coroutine may destroy this very stream).
  session.ref();
  auto* sp = &session;
  EventLoop::current()->post([sp] {
    sp->run_ready();
    sp->kick();
    sp->unref();
  });
}

Task<std::error_code> Http2Stream::write(std::string_view bytes, Clock::time_point deadline) {
  Http2Stream::State& st = *s_;
  auto& s = *st.session;
  if (st.error) co_return st.error;
  if (bytes.empty()) co_return std::error_code();
  st.out = bytes;
  st.out_off = 0;
  if (st.deferred) {
    st.deferred = false;
    nghttp2_session_resume_data(s.ng.get(), st.id);
  }
  s.kick();
  Clock::time_point until = s.opt.write_timeout.count() > 0 ? std::min(deadline, LoopClock::now() + s.opt.write_timeout)
                                                            : deadline;
  while (st.out_off < st.out.size() && !st.error && !st.closed) {
    co_await Http2ClientConnection::Session::Wait{s, st.write_wait, until};
    if (st.write_wait.timed_out && st.out_off < st.out.size()) {
      s.reset_stream(st, NGHTTP2_CANCEL);
      s.fail(st, transport::errc::timed_out);
      s.kick();
    }
  }
  st.out = {};
  st.out_off = 0;
  if (st.error) co_return st.error;
  if (st.closed && !st.ended) co_return protocol::errc::stream_reset;
  co_return std::error_code();
}

Task<std::error_code> Http2Stream::write_end(Clock::time_point) {
  Http2Stream::State& st = *s_;
  auto& s = *st.session;
  if (st.error) co_return st.error;
  st.out = {};
  st.out_off = 0;
  st.out_end = true;
  if (st.deferred) {
    st.deferred = false;
    nghttp2_session_resume_data(s.ng.get(), st.id);
  }
  s.kick();
  co_return st.error;
}

namespace {
// A read's wait timed out: the stream is given up.
void read_timed_out(Http2ClientConnection::Session& s, Http2Stream::State& st);
}  // namespace

Task<std::error_code> Http2Stream::read_head(Clock::time_point deadline) {
  Http2Stream::State& st = *s_;
  auto& s = *st.session;
  while (!st.head_done && !st.error) {
    co_await Http2ClientConnection::Session::Wait{s, st.wait, s.read_deadline(deadline)};
    if (st.wait.timed_out && !st.head_done) read_timed_out(s, st);
  }
  if (st.error) co_return st.error;
  co_return std::error_code();
}

Task<std::error_code> Http2Stream::read_body(Clock::time_point deadline) {
  Http2Stream::State& st = *s_;
  auto& s = *st.session;
  while (st.body_bytes == st.delivered && !st.ended && !st.error) {
    s.give_back(st);
    co_await Http2ClientConnection::Session::Wait{s, st.wait, st.tunnel ? deadline : s.read_deadline(deadline)};
    if (st.wait.timed_out && st.body_bytes == st.delivered && !st.ended) read_timed_out(s, st);
  }
  if (st.error) co_return st.error;
  st.delivered = st.body_bytes;
  s.give_back(st);
  co_return std::error_code();
}

Task<std::error_code> Http2Stream::read_all(Clock::time_point deadline) {
  while (!body_done()) {
    if (auto ec = co_await read_body(deadline)) co_return ec;
  }
  co_return std::error_code();
}

namespace {
void read_timed_out(Http2ClientConnection::Session& s, Http2Stream::State& st) {
  KHZ_LOG(debug, "http2 client: stream " << st.id << ": no response data in time; RST_STREAM CANCEL");
  s.reset_stream(st, NGHTTP2_CANCEL);
  s.fail(st, transport::errc::timed_out);
  s.kick();
}
}  // namespace

}  // namespace khz

// SPDX-License-Identifier: Apache-2.0
// Private to protocol/http2: the client side of one HTTP/2 connection, shared by the
// Http2ClientConnection handle and its Http2Stream handles (their methods: http2_client.cc).
// nghttp2 is a sans-I/O codec here (mem_recv on the input buffer, send into the output
// buffer); the session's nghttp2 callbacks and its two coroutines are in client_session.cc.
//
// Coroutines of one connection (all on its loop, so no locks):
//   reader   fill -> nghttp2_session_mem_recv -> run_ready() -> kick the writer
//   writer   nghttp2_session_send -> flush, while there is something to send
//   callers  wait_for_slot / Http2Stream::{write, read_head, read_body, read_all}
// nghttp2 callbacks never resume a caller: they queue its handle in `ready`, which run_ready()
// drains at a safe point (after mem_recv, after a send). A caller that submitted frames kicks
// an idle writer directly. Waits with a deadline (the caller's, the read gap) are checked by
// one ticker per connection (a LoopTimer every kTick while any such wait is pending), so a
// request arms no timer of its own.
// The Session is reference counted by its handles (the connection, each Http2Stream) and its
// two coroutines; the last one to go deletes it. RFC 8441 tunnels over a stream are built on
// the public stream API alone (client_tunnel.cc).
#pragma once

#include <khz/common/event_loop.h>
#include <khz/common/loop_clock.h>
#include <khz/common/task.h>
#include <khz/protocol/http2_client.h>
#include <khz/transport/dial.h>

#include <algorithm>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "nghttp2_glue.h"

namespace khz {

namespace protocol::http2 {

// A suspended caller. Past `deadline` the ticker sets `timed_out` and resumes it.
struct Waiting {
  std::coroutine_handle<> handle;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  bool timed_out = false;
};

// How often pending deadlines are checked (one ticker a connection, armed while any is).
inline constexpr std::chrono::milliseconds kTick{10};

}  // namespace protocol::http2

struct Http2Stream::State {
  using Waiting = protocol::http2::Waiting;
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
  using Waiting = protocol::http2::Waiting;

  Session(std::unique_ptr<transport::Connection> c, Http2ClientOptions o);

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
  static void on_tick(void* context);

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
        session.ticker.start(protocol::http2::kTick, &Session::on_tick, &session);
      }
    }
    void await_resume() const noexcept {}
  };

  Clock::time_point read_deadline(Clock::time_point deadline) const {
    if (opt.read_gap.count() <= 0) return deadline;
    return std::min(deadline, LoopClock::now() + opt.read_gap);
  }

  // ---- streams
  State& new_state(Response* r);

  // Once neither the handle nor nghttp2 needs it.
  void recycle_if_done(State& s);

  void fail(State& s, std::error_code ec) {
    if (!s.error) s.error = ec;
    wake(s);
  }

  // Gives the window back for what the caller has been handed.
  void give_back(State& s);

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

  void wake_slot_waiter();
  void wake_all_slot_waiters();

  std::size_t limit() const noexcept {
    std::uint32_t remote = nghttp2_session_get_remote_settings(ng.get(), NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    return std::min<std::size_t>(remote, opt.max_concurrent_streams);
  }
  bool usable() const noexcept { return !closing && !goaway && !shut; }
  bool can_open() const noexcept { return usable() && open_streams < limit(); }

  // ---- nghttp2 callbacks (client_session.cc, but on_send)
  static Session& self(void* p) { return *static_cast<Session*>(p); }
  State* state_of(std::int32_t id) { return static_cast<State*>(nghttp2_session_get_stream_user_data(ng.get(), id)); }

  static ssize_t on_send(nghttp2_session*, const std::uint8_t* data, std::size_t length, int, void* user) {
    self(user).conn->output().append(protocol::http2::sv(data, length));
    return static_cast<ssize_t>(length);
  }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_data_chunk_recv(nghttp2_session* ng, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                                std::size_t len, void* user);
  static int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* user);
  static int on_invalid_frame_recv(nghttp2_session*, const nghttp2_frame* frame, int lib_error, void* user);
  static ssize_t read_body_source(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                                  std::uint32_t* flags, nghttp2_data_source* source, void* user);

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

  // The writer and the reader (client_session.cc); start() spawns both.
  static Task<void> writer_loop(Session* self);
  static Task<void> reader_loop(Session* self);
  void start();

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

}  // namespace khz

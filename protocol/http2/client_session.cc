// SPDX-License-Identifier: Apache-2.0
// The client session's nghttp2 callbacks (what arrives: heads, data, resets, GOAWAY, SETTINGS)
// and its two coroutines: the reader (fill, mem_recv) and the writer (send, flush).
#include "client_session.h"

#include <khz/common/log.h>
#include <khz/protocol/error.h>
#include <khz/transport/error.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <utility>

namespace khz {

using protocol::http2::sv;
using Clock = std::chrono::steady_clock;

Http2ClientConnection::Session::Session(std::unique_ptr<transport::Connection> c, Http2ClientOptions o)
    : conn(std::move(c)), opt(o) {
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

void Http2ClientConnection::Session::on_tick(void* context) {
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
  if (pending && !self.ticker.armed()) self.ticker.start(protocol::http2::kTick, &Session::on_tick, &self);
  self.unref();
}

Http2Stream::State& Http2ClientConnection::Session::new_state(Response* r) {
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

void Http2ClientConnection::Session::recycle_if_done(State& s) {
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

void Http2ClientConnection::Session::give_back(State& s) {
  if (s.delivered > s.consumed && !s.closed && !closing) {
    nghttp2_session_consume(ng.get(), s.id, static_cast<std::size_t>(s.delivered - s.consumed));
    s.consumed = s.delivered;
    kick();
  }
}

void Http2ClientConnection::Session::wake_slot_waiter() {
  while (!slot_waiters.empty()) {
    Waiting* w = slot_waiters.front();
    slot_waiters.pop_front();
    if (w->handle) {
      wake(*w);
      return;
    }
  }
}

void Http2ClientConnection::Session::wake_all_slot_waiters() {
  while (!slot_waiters.empty()) {
    wake(*slot_waiters.front());
    slot_waiters.pop_front();
  }
}

int Http2ClientConnection::Session::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
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

int Http2ClientConnection::Session::on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                                              std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                                              std::uint8_t, void* user) {
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
    r.trailers().add_parsed(n, v);  // nghttp2 has checked it
    return 0;
  }
  if (n == ":status") {
    int status = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), status);
    // Three digits, 100 and up, as the HTTP/1.1 client reads a status line. nghttp2 takes any
    // three digits and calls a status final unless it is 1xx: "099" read here as interim (below
    // 200) while nghttp2 read it as final, so the trailers that followed became the head of a
    // response with the default status 200.
    if (ec != std::errc() || p != v.data() + v.size() || v.size() != 3 || status < 100) {
      st->error = protocol::errc::malformed_response;
      s.wake(*st);
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    st->interim = status < 200;
    if (!st->interim) r.set_status(status);
    return 0;
  }
  if (st->interim || n.starts_with(':')) return 0;
  r.headers().add_parsed(n, v);
  return 0;
}

int Http2ClientConnection::Session::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
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

int Http2ClientConnection::Session::on_data_chunk_recv(nghttp2_session* ng, std::uint8_t, std::int32_t id,
                                                       const std::uint8_t* data, std::size_t len, void* user) {
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

int Http2ClientConnection::Session::on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* user) {
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

int Http2ClientConnection::Session::on_invalid_frame_recv(nghttp2_session*, const nghttp2_frame* frame, int lib_error,
                                                          void* user) {
  Session& s = self(user);
  State* st = frame->hd.stream_id > 0 ? s.state_of(frame->hd.stream_id) : nullptr;
  KHZ_LOG(debug, "http2 client: invalid frame (type " << int(frame->hd.type) << ", stream " << frame->hd.stream_id
                                                      << "): " << nghttp2_strerror(lib_error));
  if (st != nullptr) s.fail(*st, protocol::errc::malformed_response);
  return 0;
}

ssize_t Http2ClientConnection::Session::read_body_source(nghttp2_session*, std::int32_t, std::uint8_t* buf,
                                                         std::size_t length, std::uint32_t* flags,
                                                         nghttp2_data_source* source, void* user) {
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

Task<void> Http2ClientConnection::Session::writer_loop(Session* self) {
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

Task<void> Http2ClientConnection::Session::reader_loop(Session* self) {
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
    } else {
      // The response is whole and stays readable; a request body still going out (the server
      // answered before reading it all, RFC 9113 §8.1) ends here, not at its write timeout.
      s.wake(st->write_wait);
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

void Http2ClientConnection::Session::start() {
  refs += 2;
  writer_alive = reader_alive = true;
  spawn(writer_loop(this));  // sends the preface and SETTINGS, then waits
  spawn(reader_loop(this));
}

}  // namespace khz

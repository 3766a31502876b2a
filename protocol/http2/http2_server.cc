// SPDX-License-Identifier: Apache-2.0
// The HTTP/2 connection: nghttp2 as a sans-I/O codec (mem_recv on the input buffer, send into
// the output buffer), each stream's exchange served by its own coroutine on the connection's loop.
//
// Coroutines of one connection (all on its loop, so no locks):
//   reader (serve_http2's own frame)  fill -> nghttp2_session_mem_recv -> pump()
//   writer                            nghttp2_session_send -> flush, while there is something to send
//   ticker                            timeouts: idle, streamed-body reads, zero-window stalls
//   one per stream                    ServerCore::serve, then the response is submitted
// nghttp2 callbacks never run handler code: they only queue a stream (to start, or to resume
// its waiting coroutine) in ready_; run_ready() resumes them at a safe point (after mem_recv,
// after a send, after a tick). A stream that needs frames sent hands control to an idle writer
// by symmetric transfer (StreamWait, YieldToWriter), so nothing waits for a loop iteration.
// The connection ends when the reader stops; serve_http2 then waits for every stream coroutine,
// the writer and the ticker before the session (and the Streams they point to) goes away.
#include <khz/common/event_loop.h>
#include <khz/common/log.h>
#include <khz/protocol/error.h>
#include <khz/protocol/http2.h>
#include <khz/transport/error.h>

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <bitset>
#include <charconv>
#include <cstring>
#include <string>
#include <vector>

#include "../common/http_date.h"
#include "frame_scanner.h"
#include "h2c_upgrade.h"

namespace khz {
namespace {

using Clock = std::chrono::steady_clock;

class Session;

// One stream: its exchange and the state shared by its coroutine and the nghttp2 callbacks.
// Owned by the Session; reused for later streams of the connection (the core's state with it).
struct Stream final : BodyWriter, BodyReader {
  explicit Stream(Session& s) : session(s) {
    exchange.body_writer = this;
    exchange.cancel_signal = &cancel;
  }

  Task<std::error_code> write(std::string_view chunk) override;
  bool started() const noexcept override { return writer_started; }
  Task<Result<std::string_view>> read() override;
  bool done() const noexcept override { return body_read_done; }
  std::int64_t content_length() const noexcept override { return announced_length; }

  void reset(std::int32_t stream_id) {
    id = stream_id;
    exchange.clear();
    exchange.body_reader = nullptr;
    cancel.reset();
    header_bytes = 0;
    headers_too_large = false;
    authority = {};
    request_complete = false;
    streaming_body = false;
    body_limit = 0;
    body_received = 0;
    body_too_large = false;
    body_read_done = false;
    announced_length = -1;
    body_pending.clear();
    body_handed.clear();
    refused = false;
    response_submitted = false;
    writer_started = false;
    body_done = false;
    deferred = false;
    eof_sent = false;
    out = {};
    out_off = 0;
    handler = HandlerState::none;
    closed = false;
    waiter = {};
    wait_error.clear();
    stall_since = {};
  }

  Session& session;
  std::int32_t id = 0;
  std::size_t live_index = 0;  // in Session::live_
  Exchange exchange;
  CancelSignal cancel;  // the client reset the stream, or the connection ended, mid-exchange
  // ---- request
  std::size_t header_bytes = 0;  // decoded, RFC 9113 §6.5.2 accounting (name + value + 32)
  bool headers_too_large = false;
  std::string_view authority;
  bool request_complete = false;  // END_STREAM received
  bool streaming_body = false;    // body goes to body_reader, window opens as it is read
  std::size_t body_limit = 0;
  std::size_t body_received = 0;
  bool body_too_large = false;
  bool body_read_done = false;
  std::int64_t announced_length = -1;
  std::string body_pending;  // streamed body received, not yet read
  std::string body_handed;   // the piece the reader holds (valid until its next read)
  // ---- response
  bool refused = false;  // answered by the server itself (413, 431); no handler
  bool response_submitted = false;
  bool writer_started = false;
  bool body_done = false;  // no more body bytes will come (out is the last piece)
  bool deferred = false;   // the data provider returned NGHTTP2_ERR_DEFERRED
  bool eof_sent = false;
  std::string_view out;  // body bytes being sent; nghttp2 reads them from out_off
  std::size_t out_off = 0;
  char status_text[4] = {};
  char length_text[24] = {};
  // ---- lifecycle
  enum class HandlerState { none, queued, running, done } handler = HandlerState::none;
  bool closed = false;  // nghttp2 closed the stream
  std::coroutine_handle<> waiter;  // the stream's coroutine, waiting for body data or window
  enum class WaitKind { body, send } wait_kind = WaitKind::body;
  Clock::time_point wait_since{};
  std::error_code wait_error;  // why the wait ended early
  Clock::time_point stall_since{};
};

bool is_connection_specific(std::string_view name) noexcept {
  // RFC 9113 §8.2.2, plus the fields the server sets itself.
  return iequals(name, "Connection") || iequals(name, "Keep-Alive") || iequals(name, "Proxy-Connection") ||
         iequals(name, "Transfer-Encoding") || iequals(name, "Upgrade") || iequals(name, "Content-Length") ||
         iequals(name, "Date") || iequals(name, "Server");
}

nghttp2_nv make_nv(std::string_view name, std::string_view value) noexcept {
  return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NONE};
}

std::string_view sv(const std::uint8_t* p, std::size_t n) noexcept { return {reinterpret_cast<const char*>(p), n}; }

// RFC 9113 §3.4: the client connection preface is this magic, then a SETTINGS frame.
constexpr std::string_view kClientMagic = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

class Session {
 public:
  Session(transport::Connection& conn, ServerCore& core, std::shared_ptr<const Http2Options> options)
      : conn_(conn),
        core_(core),
        options_(std::move(options)),
        opt_(*options_),
        max_acks_(std::max<std::size_t>(1, opt_.max_outbound_control_frames)) {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, &Session::on_send);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &Session::on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, &Session::on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &Session::on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &Session::on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &Session::on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, &Session::on_frame_send);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, &Session::on_invalid_frame_recv);
    nghttp2_session_callbacks_set_on_begin_frame_callback(cb, &Session::on_begin_frame);
    nghttp2_option* option = nullptr;
    nghttp2_option_new(&option);
    // Request-body windows open only as bodies are consumed (nghttp2_session_consume).
    nghttp2_option_set_no_auto_window_update(option, 1);
    // The client magic is checked by khz (take_magic): to nghttp2 a wrong one is a fatal error,
    // and the session could not send the GOAWAY PROTOCOL_ERROR due (RFC 9113 §3.4).
    nghttp2_option_set_no_recv_client_magic(option, 1);
    // khz keeps the flood limits itself and answers GOAWAY ENHANCE_YOUR_CALM (calm()); at
    // nghttp2's own limits, which are fatal errors of mem_recv, it could only drop the
    // connection. One above khz's, they are never reached: the reader in run() keeps the ACKs
    // owed at most max_acks_, and hands nghttp2 no CONTINUATION over khz's limit.
    nghttp2_option_set_max_outbound_ack(option, max_acks_ + 1);
    nghttp2_option_set_max_continuations(option, opt_.max_continuations + 1);
    nghttp2_option_set_max_settings(option, opt_.max_settings_entries);
    nghttp2_session_server_new2(&ng_, cb, this, option);
    nghttp2_option_del(option);
    nghttp2_session_callbacks_del(cb);
    conn_.set_write_timeout(opt_.write_timeout);
    conn_.set_read_timeout({});  // the ticker keeps the deadlines of an HTTP/2 connection
    auto shortest = std::min({opt_.idle_timeout, opt_.read_timeout, opt_.stall_timeout});
    tick_ = std::clamp(shortest / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  }

  ~Session() { nghttp2_session_del(ng_); }

  Task<void> run(Request* upgraded, std::string_view upgrade_settings);

 private:
  static constexpr std::size_t kSmallestAckedFrame = 9;  // SETTINGS with no entries: a frame header
  // ---- awaiters
  // Suspends the stream's coroutine until woken; hands control to the writer if it has work.
  struct StreamWait {
    Session& session;
    Stream& stream;
    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) noexcept {
      stream.waiter = h;
      stream.wait_since = Clock::now();
      stream.wait_error.clear();
      return session.writer_if_wanted();
    }
    void await_resume() const noexcept {}
  };
  // Lets an idle writer send what the calling coroutine just submitted, then continues.
  struct YieldToWriter {
    Session& session;
    bool await_ready() const noexcept {
      return !(session.write_wanted_ && session.writer_waiting_ && !session.in_dispatch_ && !session.closing_);
    }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) noexcept {
      session.ready_.push_back({nullptr, h});
      session.writer_waiting_ = false;
      return session.writer_;
    }
    void await_resume() const noexcept {}
  };
  struct WriterIdle {
    Session& session;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      session.writer_ = h;
      session.writer_waiting_ = true;
    }
    void await_resume() const noexcept {}
  };
  struct AllDone {
    Session& session;
    bool await_ready() const noexcept { return session.all_done(); }
    void await_suspend(std::coroutine_handle<> h) noexcept { session.main_waiter_ = h; }
    void await_resume() const noexcept {}
  };

  friend struct Stream;

  // ---- scheduling
  std::coroutine_handle<> writer_if_wanted() noexcept {
    if (write_wanted_ && writer_waiting_ && !in_dispatch_ && !closing_) {
      writer_waiting_ = false;
      return writer_;
    }
    return std::noop_coroutine();
  }

  void request_write() noexcept { write_wanted_ = true; }

  void wake(Stream& s, std::error_code ec = {}) {
    if (!s.waiter) return;
    s.wait_error = ec;
    ready_.push_back({&s, std::exchange(s.waiter, {})});
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
    if (writer_waiting_ && !closing_ && (write_wanted_ || nghttp2_session_want_write(ng_))) {
      writer_waiting_ = false;
      writer_.resume();
    }
  }

  // From the reader, in the middle of a batch: an idle writer puts what nghttp2 holds (the ACKs
  // owed, first of all) into the socket now. It flushes inline when the socket takes it all,
  // and control comes back here; streams it would wake wait for the end of the batch.
  void hand_to_writer() {
    if (writer_waiting_ && !closing_) {
      writer_waiting_ = false;
      write_wanted_ = true;
      writer_.resume();
    }
  }

  bool all_done() const noexcept { return handlers_ == 0 && !writer_alive_ && !ticker_alive_; }

  void notify_done() {
    if (closing_ && main_waiter_ && all_done()) {
      auto h = std::exchange(main_waiter_, {});
      EventLoop::current()->post([h] { h.resume(); });
    }
  }

  // ---- streams
  Stream& new_stream(std::int32_t id) {
    std::unique_ptr<Stream> s;
    if (!spare_.empty()) {
      s = std::move(spare_.back());
      spare_.pop_back();
    } else {
      s = std::make_unique<Stream>(*this);
    }
    s->reset(id);
    s->exchange.connection = &conn_;  // the peer's address is formatted only if someone asks
    s->wait_since = Clock::now();  // for the read timeout of a collected body
    s->live_index = live_.size();
    live_.push_back(std::move(s));
    return *live_.back();
  }

  void release(Stream& s) {
    if (!s.body_pending.empty() && !closing_) {
      nghttp2_session_consume_connection(ng_, s.body_pending.size());
      request_write();
    }
    last_activity_ = Clock::now();
    std::size_t i = s.live_index;
    std::unique_ptr<Stream> owned = std::move(live_[i]);
    if (i + 1 != live_.size()) {
      live_[i] = std::move(live_.back());
      live_[i]->live_index = i;
    }
    live_.pop_back();
    owned->exchange.request.clear();
    owned->exchange.response.clear();
    if (spare_.size() < kMaxSpareStreams) spare_.push_back(std::move(owned));
  }

  void queue_start(Stream& s) {
    s.handler = Stream::HandlerState::queued;
    ready_.push_back({&s, {}});
  }

  void start_stream(Stream& s) {
    if (s.closed || closing_) {
      s.handler = Stream::HandlerState::none;
      release(s);
      return;
    }
    s.handler = Stream::HandlerState::running;
    ++handlers_;
    spawn(run_stream(this, &s));
  }

  static Task<void> run_stream(Session* self, Stream* s) {
    {
      Task<void> serving = self->core_.serve(s->exchange);
      serving.set_cancel_signal(&s->cancel);
      co_await serving;
    }
    self->finish_handler(*s);
    if (self->conn_.is_draining() && !self->goaway_sent_ && !self->closing_) self->send_graceful_goaway();
    co_await YieldToWriter{*self};
    s->handler = Stream::HandlerState::done;
    --self->handlers_;
    if (s->closed || self->closing_) {
      if (!self->closing_) self->release(*s);
    }
    self->notify_done();
  }

  void finish_handler(Stream& s) {
    if (closing_ || s.closed) return;
    Exchange& ex = s.exchange;
    if (ex.hijack) {
      KHZ_LOG(warn, "http2 " << conn_.peer_address() << ": stream " << s.id << ": hijack is not available on HTTP/2; ignored");
      ex.hijack = nullptr;
      if (!s.writer_started && ex.response.status() < 200) {
        ex.response.clear();
        ex.response.set_status(501);
        ex.response.set_body("501 not implemented on HTTP/2", "text/plain; charset=utf-8");
      }
    }
    if (s.writer_started) {
      if (ex.failed) {
        KHZ_LOG(info, "http2 " << conn_.peer_address() << ": stream " << s.id << ": streamed response broke off; RST_STREAM");
        nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_INTERNAL_ERROR);
      } else {
        s.body_done = true;
        resume_data(s);
      }
      request_write();
      return;
    }
    submit_response(s, false);
  }

  void resume_data(Stream& s) {
    if (s.deferred) {
      s.deferred = false;
      nghttp2_session_resume_data(ng_, s.id);
    }
    request_write();
  }

  // Answers a request the server refuses itself (no handler runs).
  void refuse(Stream& s, int status) {
    s.refused = true;
    Response& r = s.exchange.response;
    r.clear();
    r.set_status(status);
    r.set_body(status == 413 ? "413 request entity too large" : "431 request header fields too large",
               "text/plain; charset=utf-8");
    submit_response(s, false);
  }

  std::string_view lower_name(Stream& s, std::string_view name) {
    if (std::none_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) return name;
    std::string_view copy = s.exchange.request.arena().copy(name);
    char* p = const_cast<char*>(copy.data());
    for (std::size_t i = 0; i < copy.size(); ++i) {
      if (p[i] >= 'A' && p[i] <= 'Z') p[i] = static_cast<char>(p[i] - 'A' + 'a');
    }
    return copy;
  }

  // Submits the response head; with a data provider unless there is no body to send.
  void submit_response(Stream& s, bool streamed) {
    Exchange& ex = s.exchange;
    Response& r = ex.response;
    int status = r.status();
    if (status < 200 || status > 999) {
      KHZ_LOG(warn, "http2 " << conn_.peer_address() << ": stream " << s.id << ": status " << status << " is not a final status; 500");
      r.clear();
      r.set_status(500);
      status = 500;
    }
    std::to_chars(s.status_text, s.status_text + 3, status);  // 200..999: three digits
    nva_.clear();
    nva_.push_back(make_nv(":status", s.status_text));
    if (!opt_.server_name.empty()) nva_.push_back(make_nv("server", opt_.server_name));
    nva_.push_back(make_nv("date", protocol::http_date()));
    for (const auto& f : r.headers()) {
      if (is_connection_specific(f.name) || iequals(f.name, "TE")) continue;
      nva_.push_back(make_nv(lower_name(s, f.name), f.value));
    }
    const bool head = ex.request.method() == "HEAD";
    const bool body_allowed = status_allows_body(status);
    if (body_allowed && !streamed) {
      auto [end, ec] = std::to_chars(s.length_text, s.length_text + sizeof s.length_text, r.body().size());
      nva_.push_back(make_nv("content-length", std::string_view(s.length_text, static_cast<std::size_t>(end - s.length_text))));
    }
    const bool provide = body_allowed && !head && (streamed || !r.body().empty() || !r.trailers().empty());
    if (!streamed) {
      s.out = r.body();
      s.out_off = 0;
      s.body_done = true;
    }
    nghttp2_data_provider provider{};
    provider.source.ptr = &s;
    provider.read_callback = &Session::read_body;
    s.response_submitted = true;
    if (!provide) s.eof_sent = true;
    int rv = nghttp2_submit_response(ng_, s.id, nva_.data(), nva_.size(), provide ? &provider : nullptr);
    if (rv != 0) {
      KHZ_LOG(warn, "http2 " << conn_.peer_address() << ": stream " << s.id << ": cannot submit the response: " << nghttp2_strerror(rv));
      nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_INTERNAL_ERROR);
    }
    request_write();
  }

  // ---- the stream's side (called from its coroutine)
  Task<std::error_code> stream_write(Stream& s, std::string_view chunk) {
    if (closing_ || s.closed) co_return transport::errc::cancelled;
    if (!s.writer_started) {
      s.writer_started = true;
      submit_response(s, true);
    }
    if (s.eof_sent || chunk.empty()) {  // HEAD, 204, 304: the body is dropped
      co_await YieldToWriter{*this};
      co_return std::error_code{};
    }
    s.out = chunk;
    s.out_off = 0;
    resume_data(s);
    s.wait_kind = Stream::WaitKind::send;
    co_await StreamWait{*this, s};
    const bool sent = !s.wait_error && s.out_off >= s.out.size();
    s.out = {};
    s.out_off = 0;
    if (!sent) co_return s.wait_error ? s.wait_error : std::error_code(transport::errc::cancelled);
    co_return std::error_code{};
  }

  Task<Result<std::string_view>> stream_read(Stream& s) {
    s.body_handed.clear();
    for (;;) {
      if (s.body_too_large) co_return std::error_code(protocol::errc::body_too_large);
      if (!s.body_pending.empty()) {
        s.body_handed.swap(s.body_pending);
        if (!closing_) {
          // Opens the stream's and the connection's windows by what was read.
          nghttp2_session_consume(ng_, s.id, s.body_handed.size());
          request_write();
          co_await YieldToWriter{*this};
        }
        co_return std::string_view(s.body_handed);
      }
      if (s.request_complete) {
        s.body_read_done = true;
        co_return std::string_view();
      }
      if (s.closed || closing_) co_return std::error_code(protocol::errc::malformed_body);
      s.wait_kind = Stream::WaitKind::body;
      co_await StreamWait{*this, s};
      if (s.wait_error) co_return s.wait_error;
    }
  }

  // ---- nghttp2 callbacks
  static Session& self(void* user_data) { return *static_cast<Session*>(user_data); }
  Stream* stream_of(std::int32_t id) {
    return static_cast<Stream*>(nghttp2_session_get_stream_user_data(ng_, id));
  }

  static ssize_t on_send(nghttp2_session*, const std::uint8_t* data, std::size_t length, int, void* user_data) {
    self(user_data).conn_.output().append(sv(data, length));
    return static_cast<ssize_t>(length);
  }

  static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* data_flags, nghttp2_data_source* source, void* user_data) {
    Session& session = self(user_data);
    Stream& s = *static_cast<Stream*>(source->ptr);
    std::size_t n = std::min(length, s.out.size() - s.out_off);
    if (n != 0) std::memcpy(buf, s.out.data() + s.out_off, n);
    s.out_off += n;
    s.stall_since = {};
    if (s.out_off == s.out.size()) {
      if (s.body_done) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        s.eof_sent = true;
        if (!s.exchange.response.trailers().empty()) {
          *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
          session.submit_trailers(s);
        }
      } else if (n == 0) {
        s.deferred = true;
        return NGHTTP2_ERR_DEFERRED;
      } else if (s.wait_kind == Stream::WaitKind::send) {
        session.wake(s);  // the chunk is out: the writer may give the next one
      }
    }
    return static_cast<ssize_t>(n);
  }

  void submit_trailers(Stream& s) {
    nva_.clear();
    for (const auto& f : s.exchange.response.trailers()) {
      if (is_connection_specific(f.name)) continue;
      nva_.push_back(make_nv(lower_name(s, f.name), f.value));
    }
    int rv = nghttp2_submit_trailer(ng_, s.id, nva_.data(), nva_.size());
    if (rv != 0) KHZ_LOG(warn, "http2 " << conn_.peer_address() << ": stream " << s.id << ": trailers: " << nghttp2_strerror(rv));
  }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    Session& session = self(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    if (session.closing_) return 0;
    Stream& s = session.new_stream(frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(session.ng_, s.id, &s);
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name_p, std::size_t name_len,
                       const std::uint8_t* value_p, std::size_t value_len, std::uint8_t, void* user_data) {
    Session& session = self(user_data);
    Stream* s = session.stream_of(frame->hd.stream_id);
    if (s == nullptr || s->refused) return 0;
    s->header_bytes += name_len + value_len + 32;
    if (s->header_bytes > session.opt_.max_header_list_size) {
      if (!s->headers_too_large) {
        KHZ_LOG(info, "http2 " << session.conn_.peer_address() << ": stream " << s->id << ": header list over "
                               << session.opt_.max_header_list_size << " bytes; 431");
      }
      s->headers_too_large = true;
      return 0;
    }
    // nghttp2's buffers do not outlive the callback: the request keeps copies in its arena.
    Request& req = s->exchange.request;
    std::string_view name = sv(name_p, name_len);
    std::string_view value = req.arena().copy(sv(value_p, value_len));
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) {  // trailers
      req.trailers().add(name, value);
      return 0;
    }
    if (!name.empty() && name[0] == ':') {
      if (name == ":method") {
        req.set_method_ref(value);
      } else if (name == ":path") {
        req.set_target_ref(value);
      } else if (name == ":authority") {
        s->authority = value;
      }
      return 0;  // :scheme, :protocol: nothing to keep
    }
    req.headers().add_ref(req.arena().copy(name), value);
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    Session& session = self(user_data);
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS: {
        Stream* s = session.stream_of(frame->hd.stream_id);
        if (s == nullptr) return 0;
        const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
          session.on_request_headers(*s, end_stream);
        } else if (end_stream) {
          session.on_request_end(*s);
        }
        return 0;
      }
      case NGHTTP2_DATA:
        if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
          if (Stream* s = session.stream_of(frame->hd.stream_id)) session.on_request_end(*s);
        }
        return 0;
      case NGHTTP2_RST_STREAM:
        session.count_reset();
        return 0;
      case NGHTTP2_PING:
      case NGHTTP2_SETTINGS:
        // nghttp2 has queued the ACK (it does so before this callback); on_frame_send counts it out.
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) ++session.acks_owed_;
        return 0;
      default:
        return 0;
    }
  }

  // RFC 9113 §3.4: takes the bytes of the client magic in `in` (they may come in pieces);
  // false when they differ from it.
  bool take_magic(LinkedBuffer& in) {
    std::size_t n = std::min(in.size(), kClientMagic.size() - magic_seen_);
    if (in.peek(n) != kClientMagic.substr(magic_seen_, n)) return false;
    in.skip(n);
    magic_seen_ += n;
    return true;
  }

  // Not the HTTP/2 client preface (an HTTP/1.1 request on an HTTP/2-only port, or a magic that
  // starts right and then differs): a connection error PROTOCOL_ERROR. The server's SETTINGS
  // (its preface) and a GOAWAY for stream 0 go out, then the connection closes. The SETTINGS
  // frame that must follow the magic is nghttp2's to check ("SETTINGS expected").
  void refuse_preface() {
    KHZ_LOG(info, "http2 " << conn_.peer_address() << ": not the HTTP/2 client preface; GOAWAY PROTOCOL_ERROR");
    goaway_sent_ = true;
    drop_input_ = true;
    nghttp2_session_terminate_session(ng_, NGHTTP2_PROTOCOL_ERROR);
    request_write();
  }

  // A client that abuses the protocol: one log line, GOAWAY ENHANCE_YOUR_CALM, and its input is
  // dropped from here on, read but not parsed (so a client still sending finds the socket open
  // and can read the GOAWAY); the writer closes the connection once the GOAWAY is out.
  void calm(const std::string& why) {
    if (calmed_) return;
    calmed_ = true;
    goaway_sent_ = true;
    drop_input_ = true;
    KHZ_LOG(warn, "http2 " << conn_.peer_address() << ": " << why << "; GOAWAY ENHANCE_YOUR_CALM");
    nghttp2_session_terminate_session(ng_, NGHTTP2_ENHANCE_YOUR_CALM);
    request_write();
  }

  void count_reset() {
    // CVE-2023-44487 (rapid reset): a client that opens and cancels streams faster than this
    // is not a browser navigating away.
    auto now = Clock::now();
    if (now - reset_window_start_ >= std::chrono::seconds(1)) {
      reset_window_start_ = now;
      resets_ = 0;
    }
    if (++resets_ > opt_.max_resets_per_second) {
      calm("more than " + std::to_string(opt_.max_resets_per_second) + " RST_STREAM in a second (rapid reset)");
    }
  }

  void on_request_headers(Stream& s, bool end_stream) {
    Exchange& ex = s.exchange;
    Request& req = ex.request;
    req.set_version(Version::http2);
    if (s.headers_too_large) {
      refuse(s, 431);
      return;
    }
    if (!s.authority.empty()) {  // RFC 9113 §8.3.1: :authority is the Host
      req.headers().remove("Host");
      req.headers().add_ref("Host", s.authority);
    }
    if (req.headers().count("Cookie") > 1) {  // RFC 9113 §8.2.3: one field again
      std::string joined;
      for (const auto& f : req.headers()) {
        if (!iequals(f.name, "Cookie")) continue;
        if (!joined.empty()) joined += "; ";
        joined += f.value;
      }
      req.headers().remove("Cookie");
      req.headers().add_ref("Cookie", req.arena().copy(joined));
    }
    if (end_stream) {
      s.request_complete = true;
      s.body_read_done = true;
      queue_start(s);
      return;
    }
    std::string_view length = req.header("Content-Length");
    if (!length.empty()) {
      std::int64_t n = -1;
      auto [p, ec] = std::from_chars(length.data(), length.data() + length.size(), n);
      if (ec == std::errc() && p == length.data() + length.size()) s.announced_length = n;
    }
    BodyPolicy policy = core_.body_policy(ex);
    s.body_limit = policy.max_bytes != 0 ? policy.max_bytes : opt_.max_body_bytes;
    if (s.announced_length >= 0 && static_cast<std::uint64_t>(s.announced_length) > s.body_limit) {
      KHZ_LOG(info, "http2 " << conn_.peer_address() << ": stream " << s.id << ": announced body of " << s.announced_length
                             << " bytes over the limit; 413");
      refuse(s, 413);
      return;
    }
    if (policy.stream) {
      s.streaming_body = true;
      ex.body_reader = &s;
      queue_start(s);
    }
  }

  void on_request_end(Stream& s) {
    s.request_complete = true;
    if (s.refused || s.body_too_large) return;
    if (s.streaming_body) {
      wake(s);
    } else if (s.handler == Stream::HandlerState::none) {
      s.body_read_done = true;
      queue_start(s);
    }
  }

  static int on_data_chunk_recv(nghttp2_session*, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                                std::size_t len, void* user_data) {
    Session& session = self(user_data);
    Stream* s = session.stream_of(stream_id);
    const bool keep = s != nullptr && !s->refused && !s->body_too_large && !session.closing_ &&
                      (!s->streaming_body || s->handler == Stream::HandlerState::running ||
                       s->handler == Stream::HandlerState::queued);
    if (!keep) {
      nghttp2_session_consume(session.ng_, stream_id, len);
      return 0;
    }
    s->body_received += len;
    if (s->body_received > s->body_limit) {
      s->body_too_large = true;
      nghttp2_session_consume(session.ng_, stream_id, len);
      KHZ_LOG(info, "http2 " << session.conn_.peer_address() << ": stream " << s->id << ": body over " << s->body_limit << " bytes");
      if (s->streaming_body) {
        session.wake(*s);
      } else {
        s->exchange.request.body_buffer().clear();
        session.refuse(*s, 413);
      }
      return 0;
    }
    s->wait_since = Clock::now();
    if (s->streaming_body) {
      s->body_pending.append(reinterpret_cast<const char*>(data), len);
      session.wake(*s);
    } else {
      s->exchange.request.body_buffer().append(reinterpret_cast<const char*>(data), len);
      nghttp2_session_consume(session.ng_, stream_id, len);
    }
    return 0;
  }

  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user_data) {
    Session& session = self(user_data);
    Stream* s = session.stream_of(stream_id);
    if (s == nullptr) return 0;
    s->closed = true;
    if (error_code != NGHTTP2_NO_ERROR) {
      KHZ_LOG(debug, "http2 " << session.conn_.peer_address() << ": stream " << stream_id << " closed: "
                              << nghttp2_http2_strerror(error_code));
    }
    session.wake(*s, error_code == NGHTTP2_NO_ERROR ? std::error_code(transport::errc::cancelled)
                                                     : std::error_code(protocol::errc::malformed_body));
    if (error_code != NGHTTP2_NO_ERROR && s->handler == Stream::HandlerState::running) s->cancel.trigger();
    if (s->handler == Stream::HandlerState::none || s->handler == Stream::HandlerState::done) session.release(*s);
    return 0;
  }

  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    Session& session = self(user_data);
    if ((frame->hd.type == NGHTTP2_PING || frame->hd.type == NGHTTP2_SETTINGS) &&
        (frame->hd.flags & NGHTTP2_FLAG_ACK) != 0 && session.acks_owed_ != 0) {
      --session.acks_owed_;
    }
    if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
      // RFC 9113 §8.1: the response is complete but the request is not; ask the client to stop.
      Stream* s = session.stream_of(frame->hd.stream_id);
      if (s != nullptr && !s->request_complete) {
        nghttp2_submit_rst_stream(session.ng_, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
      }
    }
    return 0;
  }

  static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user_data) {
    if (hd->type == NGHTTP2_HEADERS && (hd->stream_id & 1) == 1) self(user_data).check_stream_id(hd->stream_id);
    return 0;
  }

  // Called by the frame scanner for each frame header, before nghttp2 parses the frame; false:
  // nghttp2 must not see it. CONTINUATION flood (CVE-2024-27316 and kin): a header block that
  // never ends, decoded frame by frame. Counted here, not in a callback, since nghttp2 reports
  // the frames of a block it ignores (a refused stream's) to none.
  bool look_at_frame(const http2::FrameScanner::Header& h) {
    if (h.type == NGHTTP2_HEADERS || h.type == NGHTTP2_PUSH_PROMISE) {
      continuations_ = 0;
    } else if (h.type == NGHTTP2_CONTINUATION && ++continuations_ > opt_.max_continuations) {
      return false;
    }
    return true;
  }

  // RFC 9113 §5.1.1: a client's new stream id is above every id it used before; HEADERS on a
  // lower id it never opened is a connection error (nghttp2 drops such a block silently). The
  // ids near the highest are remembered in a bitmap; older ones are left to nghttp2.
  void check_stream_id(std::int32_t id) {
    auto slot = [](std::int32_t i) { return static_cast<std::size_t>(i >> 1) % kIdWindow; };
    if (id > highest_id_) {
      if ((id - highest_id_) / 2 >= static_cast<std::int32_t>(kIdWindow)) {
        opened_.reset();
      } else {
        for (std::int32_t skipped = highest_id_ + 2; skipped < id; skipped += 2) opened_.reset(slot(skipped));
      }
      opened_.set(slot(id));
      highest_id_ = id;
      return;
    }
    if ((highest_id_ - id) / 2 >= static_cast<std::int32_t>(kIdWindow) || opened_.test(slot(id)) || goaway_sent_) return;
    KHZ_LOG(info, "http2 " << conn_.peer_address() << ": HEADERS on stream " << id << ", below stream " << highest_id_
                           << " and never opened; GOAWAY PROTOCOL_ERROR");
    goaway_sent_ = true;
    nghttp2_session_terminate_session(ng_, NGHTTP2_PROTOCOL_ERROR);
  }

  static int on_invalid_frame_recv(nghttp2_session*, const nghttp2_frame* frame, int lib_error, void* user_data) {
    KHZ_LOG(debug, "http2 " << self(user_data).conn_.peer_address() << ": invalid frame (type " << int(frame->hd.type) << ", stream "
                            << frame->hd.stream_id << "): " << nghttp2_strerror(lib_error));
    return 0;
  }

  // ---- the connection's coroutines
  static Task<void> writer_loop(Session* self);
  static Task<void> ticker_loop(Session* self);
  void tick();
  void send_graceful_goaway() {
    if (goaway_sent_) return;
    goaway_sent_ = true;
    nghttp2_submit_goaway(ng_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(ng_), NGHTTP2_NO_ERROR, nullptr, 0);
    request_write();
  }
  bool session_over() const { return !nghttp2_session_want_read(ng_) && !nghttp2_session_want_write(ng_); }

  struct Ready {
    Stream* stream;                 // to start, when handle is null
    std::coroutine_handle<> handle;  // to resume
  };

  transport::Connection& conn_;
  ServerCore& core_;
  std::shared_ptr<const Http2Options> options_;
  const Http2Options& opt_;
  nghttp2_session* ng_ = nullptr;
  std::vector<std::unique_ptr<Stream>> live_;
  std::vector<std::unique_ptr<Stream>> spare_;
  std::vector<Ready> ready_;
  std::vector<Ready> batch_;
  std::vector<nghttp2_nv> nva_;
  bool in_dispatch_ = false;
  // writer
  std::coroutine_handle<> writer_;
  bool writer_waiting_ = false;
  bool writer_alive_ = false;
  bool write_wanted_ = true;
  // lifecycle
  bool ticker_alive_ = false;
  bool closing_ = false;
  bool goaway_sent_ = false;
  bool calmed_ = false;      // calm() ran
  bool drop_input_ = false;  // the session is over for the peer: its bytes are read, not parsed
  // reader
  bool parsing_ = false;  // the reader is inside a batch (run_ready waits for its end)
  // PING and SETTINGS ACKs nghttp2 holds, not yet taken by the writer (the peer's socket is
  // full, or the writer had no turn yet); at most max_acks_ (see the reader in run()).
  std::size_t acks_owed_ = 0;
  const std::size_t max_acks_;          // Http2Options::max_outbound_control_frames, at least 1
  std::size_t magic_seen_ = 0;  // bytes of kClientMagic received so far
  http2::FrameScanner frames_;  // the client's frame headers (after the magic), before nghttp2 parses them
  std::size_t continuations_ = 0;       // CONTINUATION frames since the last HEADERS
  int handlers_ = 0;
  std::coroutine_handle<> main_waiter_;
  Clock::time_point last_activity_ = Clock::now();
  Clock::time_point reset_window_start_{};
  std::uint32_t resets_ = 0;
  Clock::duration tick_{};
  static constexpr std::size_t kIdWindow = 1024;
  // Streams (with their exchange and the core's state) kept for reuse while the connection is busy.
  static constexpr std::size_t kMaxSpareStreams = 64;
  std::int32_t highest_id_ = 0;  // highest client stream id seen
  std::bitset<kIdWindow> opened_;
};

Task<std::error_code> Stream::write(std::string_view chunk) { return session.stream_write(*this, chunk); }
Task<Result<std::string_view>> Stream::read() { return session.stream_read(*this); }

Task<void> Session::writer_loop(Session* self) {
  Session& s = *self;
  for (;;) {
    if (s.closing_) break;
    if (!s.write_wanted_ && !nghttp2_session_want_write(s.ng_)) {
      if (s.session_over()) {
        KHZ_LOG(debug, "http2 " << s.conn_.peer_address() << ": session over; closing");
        s.conn_.close();  // ends the reader's fill
        break;
      }
      co_await WriterIdle{s};
      continue;
    }
    s.write_wanted_ = false;
    int rv = nghttp2_session_send(s.ng_);
    if (rv != 0) {
      KHZ_LOG(info, "http2 " << s.conn_.peer_address() << ": " << nghttp2_strerror(rv) << "; closing");
      s.conn_.close();
      break;
    }
    s.run_ready();
    if (!s.conn_.output().empty()) {
      if (auto ec = co_await s.conn_.flush()) {
        if (!s.closing_) KHZ_LOG(debug, "http2 " << s.conn_.peer_address() << ": write failed: " << ec.message() << "; closing");
        s.conn_.close();
        break;
      }
    }
  }
  s.writer_alive_ = false;
  s.writer_waiting_ = false;
  s.notify_done();
}

Task<void> Session::ticker_loop(Session* self) {
  Session& s = *self;
  while (!s.closing_) {
    co_await sleep_for(s.tick_);
    if (s.closing_) break;
    s.tick();
    s.pump();
  }
  s.ticker_alive_ = false;
  s.notify_done();
}

void Session::tick() {
  auto now = Clock::now();
  if (conn_.is_draining() && !goaway_sent_) {
    KHZ_LOG(debug, "http2 " << conn_.peer_address() << ": shutting down; GOAWAY after stream "
                            << nghttp2_session_get_last_proc_stream_id(ng_));
    send_graceful_goaway();
  }
  if (live_.empty()) {
    // Idle: keep a couple of streams for the next request, hand the rest's memory back.
    if (spare_.size() > 2) spare_.resize(2);
    if (now - last_activity_ >= opt_.idle_timeout && !goaway_sent_) {
      KHZ_LOG(debug, "http2 " << conn_.peer_address() << ": idle timeout; GOAWAY and close");
      goaway_sent_ = true;
      nghttp2_session_terminate_session(ng_, NGHTTP2_NO_ERROR);
      request_write();
    }
    return;
  }
  for (std::size_t i = 0; i < live_.size(); ++i) {
    Stream& s = *live_[i];
    if (s.closed) continue;
    const bool collecting = s.handler == Stream::HandlerState::none && !s.refused && !s.request_complete;
    if (collecting && now - s.wait_since >= opt_.read_timeout) {
      KHZ_LOG(info, "http2 " << conn_.peer_address() << ": stream " << s.id << ": request body stalled; RST_STREAM CANCEL");
      nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_CANCEL);
      request_write();
      continue;
    }
    if (s.waiter && s.wait_kind == Stream::WaitKind::body && now - s.wait_since >= opt_.read_timeout) {
      KHZ_LOG(info, "http2 " << conn_.peer_address() << ": stream " << s.id << ": request body read timed out; RST_STREAM CANCEL");
      nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_CANCEL);
      request_write();
      wake(s, transport::errc::timed_out);
      continue;
    }
    // A response with bytes to send and no window to send them in (RFC 9113 §6.9).
    const bool pending = s.response_submitted && !s.eof_sent && (s.out_off < s.out.size() || s.body_done);
    const bool blocked = pending && (nghttp2_session_get_stream_remote_window_size(ng_, s.id) <= 0 ||
                                     nghttp2_session_get_remote_window_size(ng_) <= 0);
    if (!blocked) {
      s.stall_since = {};
    } else if (s.stall_since == Clock::time_point{}) {
      s.stall_since = now;
    } else if (now - s.stall_since >= opt_.stall_timeout) {
      KHZ_LOG(info, "http2 " << conn_.peer_address() << ": stream " << s.id << ": flow-control window closed for "
                             << opt_.stall_timeout.count() << " ms; RST_STREAM CANCEL");
      s.out = {};
      s.out_off = 0;
      nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_CANCEL);
      request_write();
      wake(s, transport::errc::timed_out);
    }
  }
}

Task<void> Session::run(Request* upgraded, std::string_view upgrade_settings) {
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, opt_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, opt_.initial_window_size},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, opt_.max_frame_size},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, opt_.max_header_list_size},
  };
  nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  if (opt_.connection_window_size > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE) {
    nghttp2_session_set_local_window_size(ng_, NGHTTP2_FLAG_NONE, 0,
                                          static_cast<std::int32_t>(std::min<std::uint32_t>(opt_.connection_window_size, NGHTTP2_MAX_WINDOW_SIZE)));
  }
  if (upgraded != nullptr) {
    const bool head = upgraded->method() == "HEAD";
    int rv = nghttp2_session_upgrade2(ng_, reinterpret_cast<const std::uint8_t*>(upgrade_settings.data()),
                                      upgrade_settings.size(), head ? 1 : 0, nullptr);
    if (rv != 0) {
      KHZ_LOG(info, "http2 " << conn_.peer_address() << ": bad HTTP2-Settings in the upgrade: " << nghttp2_strerror(rv) << "; closing");
      co_return;
    }
    check_stream_id(1);
    Stream& s = new_stream(1);
    nghttp2_session_set_stream_user_data(ng_, 1, &s);
    s.exchange.request = std::move(*upgraded);
    s.exchange.request.set_version(Version::http2);
    s.request_complete = true;
    s.body_read_done = true;
    queue_start(s);
  }

  writer_alive_ = true;
  spawn(writer_loop(this));  // runs until it has sent the SETTINGS and waits
  ticker_alive_ = true;
  spawn(ticker_loop(this));
  pump();  // stream 1 of an upgrade

  LinkedBuffer& in = conn_.input();
  for (;;) {
    // A batch is parsed in slices small enough that nghttp2 cannot owe more than max_acks_
    // ACKs by the end of one (the smallest frame that asks for an ACK, an empty SETTINGS, is
    // 9 bytes), and the writer is handed the ACKs between slices. So the count only grows
    // while the socket will not take them: a client that sends a burst and reads is served;
    // one that floods and does not read is at the limit once the kernel's buffers are full.
    parsing_ = true;
    while (!in.empty() && !drop_input_) {
      if (magic_seen_ < kClientMagic.size()) {
        if (!take_magic(in)) refuse_preface();
        continue;
      }
      if (acks_owed_ != 0) hand_to_writer();
      if (acks_owed_ >= max_acks_) {
        // The writer is waiting for the socket: give the loop a turn to write, once.
        co_await sleep_for(std::chrono::nanoseconds(1));
        hand_to_writer();
        if (acks_owed_ >= max_acks_) {
          calm(std::to_string(acks_owed_) + " PING/SETTINGS ACKs owed that the client does not read (flood)");
          break;
        }
      }
      std::string_view seg = in.segment(0);
      std::size_t slice = std::min(seg.size(), (max_acks_ - acks_owed_) * kSmallestAckedFrame);
      // Stopped: the frame over the limit is not parsed; what came before it still is.
      slice = frames_.scan(seg.substr(0, slice),
                           [this](const http2::FrameScanner::Header& h) { return look_at_frame(h); });
      ssize_t n = slice == 0 ? 0 : nghttp2_session_mem_recv(ng_, reinterpret_cast<const std::uint8_t*>(seg.data()), slice);
      if (n < 0) {
        KHZ_LOG(info, "http2 " << conn_.peer_address() << ": " << nghttp2_strerror(static_cast<int>(n)) << "; closing");
        in.skip(in.size());
        in.release();
        closing_ = true;
        break;
      }
      in.skip(static_cast<std::size_t>(n));
      if (frames_.stopped()) {
        calm("more than " + std::to_string(opt_.max_continuations) +
             " CONTINUATION frames in a header block (CONTINUATION flood)");
      }
    }
    parsing_ = false;
    if (closing_) break;
    if (drop_input_) in.skip(in.size());
    in.release();
    request_write();
    pump();
    if (live_.empty()) {
      in.shrink();
      if (conn_.output().empty() && writer_waiting_) conn_.output().shrink();
    }
    if (conn_.is_draining() && !goaway_sent_) {
      send_graceful_goaway();
      pump();
    }
    // Idle and not shutting down yet: a graceful shutdown ends this fill at once.
    const bool idle = live_.empty() && !goaway_sent_;
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
    last_activity_ = Clock::now();
  }

  // ---- the connection is over: stop the writer and the ticker, end every stream's waits
  closing_ = true;
  conn_.close();
  for (auto& s : live_) wake(*s, transport::errc::cancelled);
  for (auto& s : live_) {
    if (s->handler == Stream::HandlerState::running) s->cancel.trigger();
  }
  run_ready();
  if (writer_waiting_) {
    writer_waiting_ = false;
    writer_.resume();  // sees closing_ and ends
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
  Session session(conn, core, std::move(options));
  co_await session.run(nullptr, {});
}

namespace http2 {
namespace {

// RFC 4648 §5 (base64url), padding optional; false on a bad character.
bool decode_base64url(std::string_view in, std::string& out) {
  out.clear();
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-' || c == '+') v = 62;
    else if (c == '_' || c == '/') v = 63;
    else if (c == '=') break;
    else return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

}  // namespace

Task<void> serve_upgraded(transport::Connection& conn, ServerCore& core, std::shared_ptr<const Http2Options> options,
                          Request request) {
  std::string settings;
  if (!decode_base64url(request.header("HTTP2-Settings"), settings) || settings.size() % 6 != 0) {
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
  Session session(conn, core, std::move(options));
  co_await session.run(&request, settings);
}

}  // namespace http2
}  // namespace khz

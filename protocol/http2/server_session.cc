// SPDX-License-Identifier: Apache-2.0
// The sans-I/O HTTP/2 server session (see server_session.h): its start, bytes in and out, the
// protections khz keeps itself (the client magic, floods, stream ids, deadlines), the streams'
// lifecycle, the responses submitted to nghttp2 and the streamed bodies handed to handlers.
// The nghttp2 callbacks, which fill the requests, are in server_callbacks.cc.
#include "server_session.h"

#include <khz/common/log.h>
#include <khz/common/loop_clock.h>
#include <khz/protocol/error.h>
#include <khz/transport/error.h>

#include <algorithm>
#include <charconv>

#include "../common/field_value.h"
#include "../common/header_rules.h"

namespace khz::protocol::http2 {
namespace {

// Fields not copied from a Response into HTTP/2: the connection-specific ones (RFC 9113
// §8.2.2), TE (a request field), and those the server sets itself.
bool dropped_from_response(std::string_view name, std::string_view value) noexcept {
  return protocol::is_connection_specific_header(name, value) || iequals(name, "te") ||
         iequals(name, "content-length") || iequals(name, "date") || iequals(name, "server");
}

}  // namespace

void ServerStream::reset(std::int32_t stream_id) noexcept {
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
  out_pending = {};
  file_pending = 0;
  file_sent = 0;
  tunnel = false;
  tunnel_out = nullptr;
  tunnel_open = false;
  tunnel_ended = false;
  linger_since = {};
  handler = HandlerState::none;
  closed = false;
  waiting = WaitKind::none;
  stall_since = {};
}

ServerSession::ServerSession(Driver& driver, LinkedBuffer& output, const Http2Options& options, nghttp2_mem* mem)
    : driver_(driver), output_(output), opt_(options), max_acks_(std::max<std::size_t>(1, opt_.max_outbound_control_frames)) {
  OptionPtr option = new_option();
  if (!option) return;
  // Request-body windows open only as bodies are consumed (nghttp2_session_consume).
  nghttp2_option_set_no_auto_window_update(option.get(), 1);
  // The client magic is checked by khz (receive): to nghttp2 a wrong one is a fatal error, and
  // the session could not send the GOAWAY PROTOCOL_ERROR due (RFC 9113 §3.4).
  nghttp2_option_set_no_recv_client_magic(option.get(), 1);
  // khz keeps the flood limits itself and answers GOAWAY ENHANCE_YOUR_CALM (calm()); at
  // nghttp2's own limits, which are fatal errors of mem_recv, it could only drop the
  // connection. One above khz's, they are never reached: receive() keeps the ACKs owed at most
  // max_acks_, and hands nghttp2 no CONTINUATION over khz's limit.
  nghttp2_option_set_max_outbound_ack(option.get(), max_acks_ + 1);
  nghttp2_option_set_max_continuations(option.get(), opt_.max_continuations + 1);
  nghttp2_option_set_max_settings(option.get(), opt_.max_settings_entries);
  ng_ = new_session(Role::server,
                    {.send = &on_send,
                     .begin_frame = &on_begin_frame,
                     .begin_headers = &on_begin_headers,
                     .header = &on_header,
                     .frame_recv = &on_frame_recv,
                     .invalid_frame_recv = &on_invalid_frame_recv,
                     .data_chunk_recv = &on_data_chunk_recv,
                     .frame_send = &on_frame_send,
                     .stream_close = &on_stream_close,
                     .send_data = &on_send_data},
                    this, option.get(), mem);
}

ServerSession::~ServerSession() = default;

std::error_code ServerSession::start() {
  if (!ng_) return std::make_error_code(std::errc::not_enough_memory);
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, opt_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, opt_.initial_window_size},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, opt_.max_frame_size},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, opt_.max_header_list_size},
      {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},  // RFC 8441 §3; left out when disabled
  };
  const std::size_t count = std::size(settings) - (opt_.enable_connect_protocol ? 0 : 1);
  if (int rv = nghttp2_submit_settings(ng_.get(), NGHTTP2_FLAG_NONE, settings, count); rv != 0) {
    return nghttp2_error(rv);
  }
  raise_connection_window(ng_.get(), opt_.connection_window_size);
  return {};
}

std::error_code ServerSession::upgrade(Request&& request, std::string_view settings) {
  const bool head = request.method() == "HEAD";
  int rv = nghttp2_session_upgrade2(ng_.get(), bytes_of(settings), settings.size(), head ? 1 : 0, nullptr);
  if (rv != 0) {
    KHZ_LOG(info, "http2 " << driver_.peer_address() << ": bad HTTP2-Settings in the upgrade: " << nghttp2_strerror(rv) << "; closing");
    return nghttp2_error(rv);
  }
  check_stream_id(1);
  ServerStream& s = new_stream(1);
  nghttp2_session_set_stream_user_data(ng_.get(), 1, &s);
  s.exchange.request = std::move(request);
  s.exchange.request.set_version(Version::http2);
  s.request_complete = true;
  s.body_read_done = true;
  queue_start(s);
  return {};
}

// ---- bytes in and out

Result<std::size_t> ServerSession::receive(std::string_view bytes) {
  if (drop_input_ || ended_) return bytes.size();
  constexpr std::string_view magic = protocol::kHttp2ClientPreface;
  if (magic_seen_ < magic.size()) {
    // RFC 9113 §3.4: the bytes of the client magic (they may come in pieces), then SETTINGS.
    std::size_t n = std::min(bytes.size(), magic.size() - magic_seen_);
    if (bytes.substr(0, n) != magic.substr(magic_seen_, n)) {
      refuse_preface();
      return std::size_t{0};
    }
    magic_seen_ += n;
    return n;
  }
  // Parsed in slices small enough that nghttp2 cannot owe more than max_acks_ ACKs by the end
  // of one (the smallest frame that asks for an ACK, an empty SETTINGS, is 9 bytes); the driver
  // hands the writer the ACKs between slices.
  std::size_t slice = std::min(bytes.size(), (max_acks_ - std::min(acks_owed_, max_acks_)) * kSmallestAckedFrame);
  // Stopped: the frame over the limit is not parsed; what came before it still is.
  slice = frames_.scan(bytes.substr(0, slice), [this](const FrameScanner::Header& h) { return look_at_frame(h); });
  ssize_t n = slice == 0 ? 0 : nghttp2_session_mem_recv(ng_.get(), bytes_of(bytes), slice);
  if (n < 0) {
    ended_ = true;
    return nghttp2_error(static_cast<int>(n));
  }
  if (frames_.stopped()) {
    calm("more than " + std::to_string(opt_.max_continuations) + " CONTINUATION frames in a header block (CONTINUATION flood)");
  }
  return static_cast<std::size_t>(n);
}

std::error_code ServerSession::send() {
  write_wanted_ = false;
  if (int rv = nghttp2_session_send(ng_.get()); rv != 0) return nghttp2_error(rv);
  return {};
}

bool ServerSession::want_write() const noexcept { return write_wanted_ || nghttp2_session_want_write(ng_.get()); }

bool ServerSession::over() const noexcept {
  return !nghttp2_session_want_read(ng_.get()) && !nghttp2_session_want_write(ng_.get());
}

// ---- the connection

void ServerSession::send_graceful_goaway() {
  if (goaway_sent_) return;
  goaway_sent_ = true;
  nghttp2_submit_goaway(ng_.get(), NGHTTP2_FLAG_NONE, last_stream_id(), NGHTTP2_NO_ERROR, nullptr, 0);
  request_write();
}

std::int32_t ServerSession::last_stream_id() const noexcept { return nghttp2_session_get_last_proc_stream_id(ng_.get()); }

// Not the HTTP/2 client preface (an HTTP/1.1 request on an HTTP/2-only port, or a magic that
// starts right and then differs): a connection error PROTOCOL_ERROR. The server's SETTINGS
// (its preface) and a GOAWAY for stream 0 go out, then the connection closes. The SETTINGS
// frame that must follow the magic is nghttp2's to check ("SETTINGS expected").
void ServerSession::refuse_preface() {
  KHZ_LOG(info, "http2 " << driver_.peer_address() << ": not the HTTP/2 client preface; GOAWAY PROTOCOL_ERROR");
  goaway_sent_ = true;
  drop_input_ = true;
  nghttp2_session_terminate_session(ng_.get(), NGHTTP2_PROTOCOL_ERROR);
  request_write();
}

void ServerSession::calm(const std::string& why) {
  if (calmed_) return;
  calmed_ = true;
  goaway_sent_ = true;
  drop_input_ = true;
  KHZ_LOG(warn, "http2 " << driver_.peer_address() << ": " << why << "; GOAWAY ENHANCE_YOUR_CALM");
  nghttp2_session_terminate_session(ng_.get(), NGHTTP2_ENHANCE_YOUR_CALM);
  request_write();
}

void ServerSession::count_reset() {
  // CVE-2023-44487 (rapid reset): a client that opens and cancels streams faster than this,
  // most of what it opens, is not a browser navigating away. A proxy is not either: it cancels
  // the calls whose own clients left, which at thousands of requests a second is hundreds of
  // resets, but a share of its streams, never most of them. So the limit counts only while the
  // resets are more than half of the streams opened in the window (as Envoy's premature-reset
  // check); a stream opened and reset in one batch never starts a handler either way.
  roll_reset_window(LoopClock::now());
  if (++resets_ > opt_.max_resets_per_second && resets_ * std::uint64_t{2} > opened_in_window_) {
    calm("more than " + std::to_string(opt_.max_resets_per_second) + " RST_STREAM in a second, most of its streams (rapid reset)");
  }
}

// Called by the frame scanner for each frame header, before nghttp2 parses the frame; false:
// nghttp2 must not see it. CONTINUATION flood (CVE-2024-27316 and kin): a header block that
// never ends, decoded frame by frame. Counted here, not in a callback, since nghttp2 reports
// the frames of a block it ignores (a refused stream's) to none.
bool ServerSession::look_at_frame(const FrameScanner::Header& h) {
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
void ServerSession::check_stream_id(std::int32_t id) {
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
  KHZ_LOG(info, "http2 " << driver_.peer_address() << ": HEADERS on stream " << id << ", below stream " << highest_id_
                         << " and never opened; GOAWAY PROTOCOL_ERROR");
  goaway_sent_ = true;
  nghttp2_session_terminate_session(ng_.get(), NGHTTP2_PROTOCOL_ERROR);
}

void ServerSession::check_deadlines(Clock::time_point now) {
  if (live_.empty()) {
    // Idle: keep a couple of streams for the next request, hand the rest's memory back.
    if (spare_.size() > 2) spare_.resize(2);
    if (now - last_activity_ >= opt_.idle_timeout && !goaway_sent_) {
      KHZ_LOG(debug, "http2 " << driver_.peer_address() << ": idle timeout; GOAWAY and close");
      goaway_sent_ = true;
      nghttp2_session_terminate_session(ng_.get(), NGHTTP2_NO_ERROR);
      request_write();
    }
    return;
  }
  for (std::size_t i = 0; i < live_.size(); ++i) {
    ServerStream& s = *live_[i];
    if (s.closed) continue;
    if (s.linger_since != Clock::time_point{} && !s.request_complete && now - s.linger_since >= opt_.tunnel_close_grace) {
      KHZ_LOG(debug, "http2 " << driver_.peer_address() << ": stream " << s.id << ": tunnel closed, the client's half still open; RST_STREAM CANCEL");
      s.linger_since = {};
      submit_rst(s, NGHTTP2_CANCEL);
      continue;
    }
    const bool collecting = s.handler == ServerStream::HandlerState::none && !s.refused && !s.request_complete;
    if (collecting && now - s.wait_since >= opt_.read_timeout) {
      KHZ_LOG(info, "http2 " << driver_.peer_address() << ": stream " << s.id << ": request body stalled; RST_STREAM CANCEL");
      submit_rst(s, NGHTTP2_CANCEL);
      continue;
    }
    if (s.waiting == ServerStream::WaitKind::body && now - s.wait_since >= opt_.read_timeout) {
      KHZ_LOG(info, "http2 " << driver_.peer_address() << ": stream " << s.id << ": request body read timed out; RST_STREAM CANCEL");
      submit_rst(s, NGHTTP2_CANCEL);
      wake(s, transport::errc::timed_out);
      continue;
    }
    // A response with bytes to send and no window to send them in (RFC 9113 §6.9).
    const bool unsent = s.out_off < s.out.size() || (s.tunnel_out != nullptr && !s.tunnel_out->empty());
    const bool pending = s.response_submitted && !s.eof_sent && (unsent || s.body_done);
    const bool blocked = pending && (nghttp2_session_get_stream_remote_window_size(ng_.get(), s.id) <= 0 ||
                                     nghttp2_session_get_remote_window_size(ng_.get()) <= 0);
    if (!blocked) {
      s.stall_since = {};
    } else if (s.stall_since == Clock::time_point{}) {
      s.stall_since = now;
    } else if (now - s.stall_since >= opt_.stall_timeout) {
      KHZ_LOG(info, "http2 " << driver_.peer_address() << ": stream " << s.id << ": flow-control window closed for "
                             << opt_.stall_timeout.count() << " ms; RST_STREAM CANCEL");
      s.out = {};
      s.out_off = 0;
      submit_rst(s, NGHTTP2_CANCEL);
      wake(s, transport::errc::timed_out);
    }
  }
}

void ServerSession::end() {
  ended_ = true;
  for (auto& s : live_) wake(*s, transport::errc::cancelled);
  for (auto& s : live_) {
    if (s->handler == ServerStream::HandlerState::running) s->cancel.trigger();
  }
}

// ---- streams

ServerStream& ServerSession::new_stream(std::int32_t id) {
  std::unique_ptr<ServerStream> s;
  if (!spare_.empty()) {
    s = std::move(spare_.back());
    spare_.pop_back();
  } else {
    s = driver_.new_stream();
  }
  s->reset(id);
  s->wait_since = LoopClock::now();  // for the read timeout of a collected body
  roll_reset_window(s->wait_since);
  ++opened_in_window_;
  s->live_index = live_.size();
  live_.push_back(std::move(s));
  return *live_.back();
}

void ServerSession::release(ServerStream& s) {
  if (!s.body_pending.empty() && !ended_) {
    nghttp2_session_consume_connection(ng_.get(), s.body_pending.size());
    request_write();
  }
  last_activity_ = LoopClock::now();
  if (last_found_ == &s) last_found_ = nullptr;
  std::size_t i = s.live_index;
  std::unique_ptr<ServerStream> owned = std::move(live_[i]);
  if (i + 1 != live_.size()) {
    live_[i] = std::move(live_.back());
    live_[i]->live_index = i;
  }
  live_.pop_back();
  owned->exchange.request.clear();
  owned->exchange.response.clear();
  if (spare_.size() < kMaxSpareStreams) spare_.push_back(std::move(owned));
}

void ServerSession::queue_start(ServerStream& s) {
  s.handler = ServerStream::HandlerState::queued;
  driver_.start(s);
}

ServerStream* ServerSession::stream_of(std::int32_t id) const noexcept {
  if (last_found_ != nullptr && last_found_->id == id) return last_found_;
  auto* s = static_cast<ServerStream*>(nghttp2_session_get_stream_user_data(ng_.get(), id));
  if (s != nullptr) last_found_ = s;
  return s;
}

void ServerSession::submit_rst(ServerStream& s, std::uint32_t code) {
  nghttp2_submit_rst_stream(ng_.get(), NGHTTP2_FLAG_NONE, s.id, code);
  request_write();
}

bool ServerSession::begin_handler(ServerStream& s) {
  if (s.closed || ended_) {
    s.handler = ServerStream::HandlerState::none;
    release(s);
    return false;
  }
  s.handler = ServerStream::HandlerState::running;
  return true;
}

void ServerSession::finish_handler(ServerStream& s) {
  if (ended_ || s.closed) return;
  Exchange& ex = s.exchange;
  if (ex.hijack && s.tunnel) {
    // An extended CONNECT refused (non-2xx): an ordinary response, the tunnel never opens.
    KHZ_LOG(debug, "http2 " << driver_.peer_address() << ": stream " << s.id << ": tunnel answered " << ex.response.status()
                            << "; not opened");
    ex.hijack = nullptr;
  }
  if (ex.hijack) {
    KHZ_LOG(warn, "http2 " << driver_.peer_address() << ": stream " << s.id << ": hijack is not available on HTTP/2; ignored");
    ex.hijack = nullptr;
    if (!s.writer_started && ex.response.status() < 200) {
      ex.response.clear();
      ex.response.set_status(501);
      ex.response.set_body("501 not implemented on HTTP/2", "text/plain; charset=utf-8");
    }
  }
  if (s.writer_started) {
    if (ex.failed) {
      KHZ_LOG(info, "http2 " << driver_.peer_address() << ": stream " << s.id << ": streamed response broke off; RST_STREAM");
      nghttp2_submit_rst_stream(ng_.get(), NGHTTP2_FLAG_NONE, s.id, NGHTTP2_INTERNAL_ERROR);
    } else {
      s.body_done = true;
      resume_data(s);
    }
    request_write();
    return;
  }
  submit_response(s, false);
}

void ServerSession::handler_done(ServerStream& s) {
  s.handler = ServerStream::HandlerState::done;
  if (s.closed && !ended_) release(s);
}

void ServerSession::resume_data(ServerStream& s) {
  if (s.deferred) {
    s.deferred = false;
    nghttp2_session_resume_data(ng_.get(), s.id);
  }
  request_write();
}

// Answers a request the server refuses itself (no handler runs).
void ServerSession::refuse(ServerStream& s, int status) {
  s.refused = true;
  Response& r = s.exchange.response;
  r.clear();
  r.set_status(status);
  r.set_body(status == 413 ? "413 request entity too large" : "431 request header fields too large",
             "text/plain; charset=utf-8");
  submit_response(s, false);
}

std::string_view ServerSession::lower_name(ServerStream& s, std::string_view name) {
  if (std::none_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) return name;
  if (std::string_view known = known_lower_case_name(name); !known.empty()) return known;
  std::string_view copy = s.exchange.request.arena().copy(name);
  char* p = const_cast<char*>(copy.data());
  for (std::size_t i = 0; i < copy.size(); ++i) {
    if (p[i] >= 'A' && p[i] <= 'Z') p[i] = static_cast<char>(p[i] - 'A' + 'a');
  }
  return copy;
}

// Submits the response head; with a data provider unless there is no body to send.
void ServerSession::submit_response(ServerStream& s, bool streamed) {
  Exchange& ex = s.exchange;
  Response& r = ex.response;
  int status = r.status();
  if (status < 200 || status > 999) {
    KHZ_LOG(warn, "http2 " << driver_.peer_address() << ": stream " << s.id << ": status " << status << " is not a final status; 500");
    r.clear();
    r.set_status(500);
    status = 500;
  }
  std::to_chars(s.status_text, s.status_text + 3, status);  // 200..999: three digits
  // A finished handler's response stays as it is until the stream is released, which is after
  // nghttp2 has sent the HEADERS or dropped them with the stream: nghttp2 reads the fields in
  // place. A streamed one may still be changed by its handler: copied. The other texts live in
  // the stream (status, length), the options (server) or the thread's date buffer, whose text
  // changes in place once a second.
  const std::uint8_t flags = streamed ? NGHTTP2_NV_FLAG_NONE : NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
  nva_.clear();
  nva_.push_back(make_nv(":status", s.status_text, flags));
  if (!opt_.server_name.empty()) nva_.push_back(make_nv("server", opt_.server_name, flags));
  nva_.push_back(make_nv("date", driver_.date(), flags));
  const bool check = r.headers().may_hold_unsendable();
  for (const auto& f : r.headers()) {
    if (dropped_from_response(f.name, f.value)) continue;
    if (check && !is_sendable_field(f.name, f.value)) {  // a peer would reset the stream; a proxy behind it, split it
      log_unsendable_field("http2 server", f.name);
      continue;
    }
    nva_.push_back(make_nv(lower_name(s, f.name), f.value, flags));
  }
  const bool head = ex.request.method() == "HEAD";
  const bool body_allowed = status_allows_body(status);
  const FileBody* file = streamed ? nullptr : r.file_body();
  // RFC 9110 §8.6: no Content-Length in a 2xx answer to CONNECT (nghttp2 clients reject one).
  const bool connect_2xx = ex.request.method() == "CONNECT" && status / 100 == 2;
  if (body_allowed && !streamed && !connect_2xx) {
    auto [end, ec] = std::to_chars(s.length_text, s.length_text + sizeof s.length_text,
                                  head ? r.head_content_length() : r.content_length());
    nva_.push_back(make_nv("content-length", std::string_view(s.length_text, static_cast<std::size_t>(end - s.length_text)), flags));
  }
  const bool provide = body_allowed && !head &&
                       (file != nullptr ? file->size() != 0 : streamed || !r.body().empty() || !r.trailers().empty());
  if (!streamed) {
    s.out = r.body();
    s.out_off = 0;
    s.body_done = true;
  }
  nghttp2_data_provider provider{};
  provider.source.ptr = &s;
  provider.read_callback = file != nullptr ? &ServerSession::read_response_file : &ServerSession::read_response_body;
  s.file_sent = 0;
  s.response_submitted = true;
  if (!provide) s.eof_sent = true;
  int rv = nghttp2_submit_response(ng_.get(), s.id, nva_.data(), nva_.size(), provide ? &provider : nullptr);
  if (rv != 0) {
    KHZ_LOG(warn, "http2 " << driver_.peer_address() << ": stream " << s.id << ": cannot submit the response: " << nghttp2_strerror(rv));
    nghttp2_submit_rst_stream(ng_.get(), NGHTTP2_FLAG_NONE, s.id, NGHTTP2_INTERNAL_ERROR);
  }
  request_write();
}

void ServerSession::submit_trailers(ServerStream& s) {
  nva_.clear();
  const bool check = s.exchange.response.trailers().may_hold_unsendable();
  for (const auto& f : s.exchange.response.trailers()) {
    if (dropped_from_response(f.name, f.value)) continue;
    if (check && !is_sendable_field(f.name, f.value)) {
      log_unsendable_field("http2 trailer", f.name);
      continue;
    }
    nva_.push_back(make_nv(lower_name(s, f.name), f.value));
  }
  int rv = nghttp2_submit_trailer(ng_.get(), s.id, nva_.data(), nva_.size());
  if (rv != 0) KHZ_LOG(warn, "http2 " << driver_.peer_address() << ": stream " << s.id << ": trailers: " << nghttp2_strerror(rv));
}

// ---- a stream's handler side

Result<bool> ServerSession::write_body(ServerStream& s, std::string_view chunk) {
  if (ended_ || s.closed) return std::error_code(transport::errc::cancelled);
  if (!s.writer_started) {
    s.writer_started = true;
    submit_response(s, true);
  }
  if (s.eof_sent || chunk.empty()) return false;  // HEAD, 204, 304: the body is dropped
  s.out = chunk;
  s.out_off = 0;
  resume_data(s);
  return true;
}

bool ServerSession::chunk_taken(ServerStream& s) noexcept {
  const bool taken = s.out_off >= s.out.size();
  s.out = {};
  s.out_off = 0;
  return taken;
}

ServerSession::BodyRead ServerSession::read_body(ServerStream& s) {
  s.body_handed.clear();
  if (s.body_too_large) return {protocol::errc::body_too_large, {}};
  if (!s.body_pending.empty()) {
    s.body_handed.swap(s.body_pending);
    if (!ended_) {
      // Opens the stream's and the connection's windows by what was read.
      nghttp2_session_consume(ng_.get(), s.id, s.body_handed.size());
      request_write();
    }
    return {{}, s.body_handed};
  }
  if (s.request_complete) {
    s.body_read_done = true;
    return {};
  }
  if (s.closed || ended_) return {protocol::errc::malformed_body, {}};
  return {{}, {}, true};
}

// ---- a tunnel's side (RFC 8441)

bool ServerSession::begin_tunnel(ServerStream& s, LinkedBuffer& out) {
  const int status = s.exchange.response.status();
  if (!s.tunnel || !s.exchange.hijack || ended_ || s.closed || s.writer_started || status < 200 || status > 299) return false;
  s.tunnel_out = &out;
  s.tunnel_open = true;
  s.writer_started = true;
  submit_response(s, true);
  return !s.eof_sent;
}

std::size_t ServerSession::tunnel_receive(ServerStream& s, LinkedBuffer& in) {
  const std::size_t n = s.body_pending.size();
  if (n == 0) return 0;
  in.append(s.body_pending);
  s.body_pending.clear();
  if (!ended_ && !s.closed) {
    nghttp2_session_consume(ng_.get(), s.id, n);
    request_write();
  } else if (!ended_) {
    nghttp2_session_consume_connection(ng_.get(), n);
    request_write();
  }
  return n;
}

std::error_code ServerSession::tunnel_send(ServerStream& s) {
  if (ended_ || s.closed || s.tunnel_ended) return transport::errc::cancelled;
  resume_data(s);
  return {};
}

void ServerSession::end_tunnel(ServerStream& s, bool reset) {
  if (s.tunnel_ended) return;
  s.tunnel_ended = true;
  if (s.tunnel_out != nullptr) {
    s.tunnel_out->skip(s.tunnel_out->size());
    s.tunnel_out->release();
    s.tunnel_out = nullptr;
  }
  if (!s.body_pending.empty() && !ended_) {
    // Received, never read: back to the connection window (the stream's no longer matters).
    nghttp2_session_consume_connection(ng_.get(), s.body_pending.size());
    s.body_pending.clear();
    request_write();
  }
  if (ended_ || s.closed) return;
  if (reset) {
    submit_rst(s, NGHTTP2_CANCEL);
    return;
  }
  s.body_done = true;  // the data provider sends END_STREAM
  resume_data(s);
}

}  // namespace khz::protocol::http2

// SPDX-License-Identifier: Apache-2.0
// Http2ClientConnection and Http2Stream: the handles over the shared client session
// (client_session.h, which says how the connection's coroutines work together).
#include <khz/common/event_loop.h>
#include <khz/common/log.h>
#include <khz/common/loop_clock.h>
#include <khz/protocol/error.h>
#include <khz/protocol/http2_client.h>
#include <khz/transport/dial.h>
#include <khz/transport/error.h>

#include <algorithm>
#include <charconv>
#include <string>
#include <vector>

#include "../common/field_value.h"
#include "../common/header_rules.h"
#include "client_session.h"

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
}  // namespace

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
  Session::Waiting w;
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
  Session::Waiting w;
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
  auto add = [&](std::string_view name, std::string_view value, bool check) {
    if (dropped_from_request(name, value)) return;
    if (check && !protocol::is_sendable_field(name, value)) {
      protocol::log_unsendable_field("http2 client", name);
      return;
    }
    std::size_t at = s.names.size();
    s.names.resize(at + name.size());  // within the capacity reserved above
    char* out = s.names.data() + at;
    for (std::size_t i = 0; i < name.size(); ++i) {
      char c = name[i];
      out[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    }
    s.nva.push_back(make_nv(std::string_view(out, name.size()), value));
  };
  for (const auto& f : headers) add(f.name, f.value, headers.may_hold_unsendable());
  for (const auto& [n, v] : extra) add(n, v, true);
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
  while (st.out_off < st.out.size() && !st.error && !st.closed && !s.closing) {
    co_await Http2ClientConnection::Session::Wait{s, st.write_wait, until};
    if (st.write_wait.timed_out && st.out_off < st.out.size()) {
      s.reset_stream(st, NGHTTP2_CANCEL);
      s.fail(st, transport::errc::timed_out);
      s.kick();
    }
  }
  const bool unsent = st.out_off < st.out.size();
  st.out = {};
  st.out_off = 0;
  if (st.error) co_return st.error;
  // Closed after a whole response (RST_STREAM NO_ERROR: stop sending): the response stands.
  if (st.closed) co_return st.ended ? std::error_code() : std::error_code(protocol::errc::stream_reset);
  // The connection closed first (a stream with a whole response is not failed then).
  if (unsent) co_return s.conn_error ? s.conn_error : std::error_code(transport::errc::cancelled);
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

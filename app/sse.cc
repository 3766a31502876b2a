// SPDX-License-Identifier: Apache-2.0
// Server-Sent Events: the writer a handler gets from ctx.sse(), its heartbeat and its watch on
// the request's cancel signal.
#include <khz/app/request_context.h>
#include <khz/app/sse.h>

#include "sse_state.h"

#include <coroutine>
#include <stdexcept>
#include <string>
#include <utility>

namespace khz {
namespace detail {

void SseState::on_timer(void* self) {
  auto& s = *static_cast<SseState*>(self);
  if (s.busy || s.gone) return;  // a write in flight re-arms the timer when it completes
  s.busy = true;
  spawn(beat(&s));
}

Task<void> SseState::beat(SseState* self) {
  SseState& s = *self;
  constexpr std::string_view keep_alive = ": keep-alive\n";
  std::error_code ec = co_await s.body->write(keep_alive);
  if (ec) s.failed(ec); else { *s.sent += keep_alive.size(); s.arm(); }
  s.release();  // last: a waiting end_sse() may destroy the state
}

Task<std::error_code> sse_write(SseState* self, std::string chunk) {
  SseState& s = *self;
  if (s.gone) co_return s.closed_error();
  co_await SseState::Turn{s};
  if (s.gone) {
    co_return s.closed_error();
  }
  s.busy = true;
  s.timer.cancel();
  std::error_code ec = co_await s.body->write(chunk);
  if (ec) s.failed(ec); else { *s.sent += chunk.size(); s.arm(); }
  s.busy = false;  // nobody waits: the handler was the one writing
  co_return ec;
}

Task<std::error_code> sse_refused(std::error_code ec) { co_return ec; }

}  // namespace detail

Task<std::error_code> SseWriter::send(const SseEvent& event) {
  std::string chunk;
  if (auto ec = protocol::encode_event(event, chunk)) return detail::sse_refused(ec);
  return detail::sse_write(state_, std::move(chunk));
}

Task<std::error_code> SseWriter::comment(std::string_view text) {
  std::string chunk;
  protocol::encode_comment(text, chunk);
  return detail::sse_write(state_, std::move(chunk));
}

std::string_view SseWriter::last_event_id() const noexcept { return state_->last_event_id; }
bool SseWriter::closed() const noexcept { return state_->gone; }

Task<SseWriter> RequestContext::sse(SseOptions options) {
  check_live("sse");
  KHZ_ASSERT(exchange_->body_writer != nullptr);
  KHZ_ASSERT(!sse_);  // once per request
  sse_ = std::make_unique<detail::SseState>();
  detail::SseState& s = *sse_;
  s.body = exchange_->body_writer;
  s.sent = &streamed_bytes_;
  s.last_event_id = std::string(header("Last-Event-ID"));
  s.heartbeat = options.heartbeat;
  Response& r = response();
  r.set_status(200);
  r.headers().set("Content-Type", protocol::kEventStreamType);
  r.headers().set("Cache-Control", "no-cache");
  r.headers().set("X-Accel-Buffering", "no");
  r.body_buffer().clear();
  s.watch.attach(cancel_signal(), &detail::SseState::on_cancel, &s);  // may fire at once
  std::string first;
  if (options.retry) {
    if (options.retry->count() < 0) throw std::invalid_argument("SseOptions::retry: negative");
    first = "retry: " + std::to_string(options.retry->count()) + "\n\n";
  }
  SseWriter writer(&s);
  if (!s.gone) {
    s.busy = true;
    std::error_code ec = co_await s.body->write(first);  // the head (and the retry line)
    if (ec) s.failed(ec); else { *s.sent += first.size(); s.arm(); }
    s.busy = false;
  }
  co_return writer;
}

Task<void> RequestContext::end_sse() {
  detail::SseState& s = *sse_;
  s.timer.cancel();
  s.watch.detach();
  s.gone = true;  // no new heartbeat
  co_await detail::SseState::Turn{s};
  sse_.reset();
}

}  // namespace khz

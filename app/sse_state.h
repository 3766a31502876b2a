// SPDX-License-Identifier: Apache-2.0
// The state behind an SseWriter (app/sse.cc), private to app: RequestContext owns it.
#pragma once

#include <khz/app/sse.h>
#include <khz/common/cancel.h>
#include <khz/common/log.h>
#include <khz/protocol/server_core.h>
#include <khz/transport/dial.h>
#include <khz/transport/error.h>

#include <chrono>
#include <cstdint>
#include <coroutine>
#include <string>
#include <system_error>
#include <utility>

namespace khz::detail {

// One SSE response's state, owned by its RequestContext from ctx.sse() until Engine::serve
// ends. At most one write is in flight (`busy`): the handler's, or a heartbeat's, which the
// timer starts as a task of its own when the handler has written nothing for a while. The one
// who finds the writer busy waits in `waiter` (the handler's send, or end_sse).
// Threading: the request's loop only.
struct SseState {
  BodyWriter* body = nullptr;
  std::uint64_t* sent = nullptr;  // the context's count of streamed bytes (CompletedResponse)
  std::string last_event_id;  // the request's Last-Event-ID, copied
  std::chrono::milliseconds heartbeat{};
  transport::LoopTimer timer;
  CancelSignal::Watch watch;
  bool busy = false;
  bool gone = false;            // the client left or a write failed
  std::error_code error;        // the failed write's error, if that is why
  std::coroutine_handle<> waiter;

  ~SseState() {
    timer.cancel();
    watch.detach();
  }

  std::error_code closed_error() const noexcept { return error ? error : std::error_code(transport::errc::cancelled); }

  void arm() {
    if (heartbeat.count() > 0 && !gone) timer.start(heartbeat, &on_timer, this);
  }

  void failed(std::error_code ec) noexcept {
    if (!gone) KHZ_LOG(debug, "sse: write failed: " << ec.message() << "; the stream is closed");
    gone = true;
    if (!error) error = ec;
    timer.cancel();
  }

  // Hands the writer over to whoever waits for it.
  void release() noexcept {
    busy = false;
    if (auto w = std::exchange(waiter, {})) w.resume();
  }

  struct Turn {  // waits until no write is in flight
    SseState& s;
    bool await_ready() const noexcept { return !s.busy; }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      KHZ_ASSERT(!s.waiter);  // one send() at a time (see sse.h)
      s.waiter = h;
    }
    void await_resume() const noexcept {}
  };

  static void on_cancel(void* self) noexcept {
    auto& s = *static_cast<SseState*>(self);
    KHZ_LOG(debug, "sse: the client left; the stream is closed");
    s.gone = true;
    s.timer.cancel();
  }

  static void on_timer(void* self);
  static Task<void> beat(SseState* self);
};

}  // namespace khz::detail

// SPDX-License-Identifier: Apache-2.0
// khz/app/sse.h: Server-Sent Events from a handler, on HTTP/1.1 (chunked) and HTTP/2 (DATA
// frames) alike. `co_await ctx.sse()` sends the head and hands back an SseWriter.
//
//   server.get("/feed", [](khz::RequestContext& ctx) -> khz::Task<> {
//     auto sse = co_await ctx.sse({.heartbeat = std::chrono::seconds(15)});
//     std::uint64_t next = khz::parse_id(sse.last_event_id());   // "" on a first connection
//     for (;;) {
//       khz::SseEvent ev{.id = std::to_string(++next), .event = "tick", .data = render(next)};
//       if (auto ec = co_await sse.send(ev)) co_return;            // the client left
//       co_await khz::sleep_for(std::chrono::seconds(1));
//     }
//   });
//
// The head: 200, Content-Type: text/event-stream, Cache-Control: no-cache and
// X-Accel-Buffering: no (so nginx-style proxies pass each event on at once); headers the
// handler set before ctx.sse() go out too. Each send() is written and flushed before it
// completes (the encoding is <khz/protocol/event_stream.h>: multi-line data is split into data
// lines; an id or event type with CR or LF, or an id with NUL, is refused with
// protocol::event_stream_errc::bad_field and nothing is written: such names are not sanitized).
//
// Heartbeats: while nothing has been written for `heartbeat`, the writer sends a comment line
// (": keep-alive") on its own, whatever the handler is awaiting meanwhile; a send() that
// arrives during a heartbeat's write waits for it. The Engine waits for a heartbeat in flight
// when the handler returns, before the stream is ended.
// The client leaving: the writer watches the request's cancel signal (ctx.cancel_signal();
// the HTTP/1.1 server then watches the socket for a hang-up, HTTP/2 sees RST_STREAM). From
// then on, and after any failed write, closed() is true and send() fails at once with
// transport::errc::cancelled (or the write's own error), so a loop like the one above ends.
// GCC 12: name the event (`SseEvent ev{...}; co_await sse.send(ev);`), never
// `co_await sse.send({...})`: a braced temporary in a co_await is destroyed twice (PR 99576).
// Lifetimes and threading: an SseWriter is a handle into its request's context: use it inside
// the handler (and what it awaits) only, on the request's loop. One send() at a time.
#pragma once

#include <khz/common/task.h>
#include <khz/protocol/event_stream.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace khz {

class RequestContext;
using SseEvent = protocol::SseEvent;

namespace detail {
struct SseState;  // app/sse.cc
}

struct SseOptions {
  // A comment after this long without a write; zero: none.
  std::chrono::milliseconds heartbeat{std::chrono::seconds(15)};
  // Sent with the head ("retry: N"): the client's reconnection delay. Unset: the client's own.
  std::optional<std::chrono::milliseconds> retry{};
};

class SseWriter {
 public:
  // Encodes `event` (it may go once send() returns its Task) and writes it; {} once flushed.
  Task<std::error_code> send(const SseEvent& event);
  // A comment (": text"), for a heartbeat of the handler's own or a note for humans.
  Task<std::error_code> comment(std::string_view text);
  // The request's Last-Event-ID ("" when absent): where a reconnecting client left off.
  std::string_view last_event_id() const noexcept;
  // The client left, or a write failed: send() fails from now on.
  bool closed() const noexcept;

 private:
  friend class RequestContext;
  explicit SseWriter(detail::SseState* state) noexcept : state_(state) {}
  detail::SseState* state_;
};

}  // namespace khz

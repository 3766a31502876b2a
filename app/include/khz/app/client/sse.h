// SPDX-License-Identifier: Apache-2.0
// khz/app/client/sse.h: SseReader, an event-stream (Server-Sent Events) client: what a
// browser's EventSource does, as a coroutine. Client::sse(url) makes one; each next() yields
// the next event, connecting, and reconnecting after the stream ends or fails, by itself.
//
//   khz::SseReader feed = client.sse("https://api.example/feed", {.retry = std::chrono::seconds(1)});
//   for (;;) {
//     auto ev = co_await feed.next();
//     if (!ev) break;              // client::errc::cancelled, no_content (204), not_event_stream, ...
//     handle(ev->event, ev->data, ev->id);
//   }
//
// Each connection is a GET with Accept: text/event-stream, Cache-Control: no-cache and, once
// an id has been seen (or SseReaderOptions::last_event_id is set), Last-Event-ID. The body is
// parsed by <khz/protocol/event_stream.h> (the WHATWG rules exactly). When a stream ends or
// fails (a network error, the server closing, ClientOptions::read_timeout passing with nothing
// received), the reader waits and reconnects: the wait is the reconnection time (`retry`, which
// the server's "retry:" field replaces), doubled after each attempt that got no event, up to
// `max_retry`. It stops, and next() fails, on:
//   - 204 No Content (client::errc::no_content), a status other than 200 or a Content-Type
//     other than text/event-stream (not_event_stream): as EventSource, no reconnection;
//   - cancellation (client::errc::cancelled): `cancel` triggered, or the ambient CancelSignal
//     of the coroutine awaiting next() (a server handler's: its own client went away); a
//     connection in use is closed and a wait cut short;
//   - an event larger than `limits` (protocol::event_stream_errc);
//   - `max_reconnects` reconnections without an event between them (the last error).
// A stream that is over keeps failing with the same error. The client's options apply to each
// connection (TLS, proxy, redirects, read_timeout; a total_timeout would cut long streams).
// Lifetimes and threading: the reader borrows its Client, which must outlive it; use it on one
// loop (the one its first next() runs on), one next() at a time; destroy it when no next() is
// pending.
#pragma once

#include <khz/common/cancel.h>
#include <khz/common/result.h>
#include <khz/common/task.h>
#include <khz/protocol/event_stream.h>
#include <khz/protocol/header_map.h>

#include <chrono>
#include <memory>
#include <string>

namespace khz {

class Client;
using SseEvent = protocol::SseEvent;

struct SseReaderOptions {
  HeaderMap headers{};                    // sent with each connection (e.g. Authorization)
  std::string last_event_id{};            // Last-Event-ID of the first connection
  std::chrono::milliseconds retry{3000};  // the reconnection time until the server sets one
  std::chrono::milliseconds max_retry{std::chrono::seconds(30)};  // the backoff's cap
  int max_reconnects = -1;                // in a row without an event; -1: no limit
  CancelSignal* cancel = nullptr;         // stops the reader when triggered (it must outlive it)
  protocol::EventStreamLimits limits{};
};

class SseReader {
 public:
  SseReader(SseReader&&) noexcept;
  SseReader& operator=(SseReader&&) noexcept;
  ~SseReader();

  // The next event (its `event` is "message" unless the server named a type; `id` the last
  // event id in force), or why the reader stopped.
  Task<Result<SseEvent>> next();
  // What the next connection sends as Last-Event-ID.
  const std::string& last_event_id() const noexcept;
  // The reconnection time now (the server's "retry:", else SseReaderOptions::retry).
  std::chrono::milliseconds retry() const noexcept;
  // Connections made so far (the first included).
  int connections() const noexcept;

 private:
  friend class Client;
  struct State;
  explicit SseReader(std::unique_ptr<State> state) noexcept;
  std::unique_ptr<State> state_;
};

}  // namespace khz

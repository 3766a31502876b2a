// SPDX-License-Identifier: Apache-2.0
// text/event-stream (Server-Sent Events, WHATWG HTML §9.2): a sans-I/O encoder for servers and
// an incremental parser for clients.
//
//   std::string out;                                              // the server side
//   khz::protocol::encode_event({.id = "7", .event = "tick", .data = "a\nb"}, out);
//   // out == "id: 7\nevent: tick\ndata: a\ndata: b\n\n"
//
//   khz::protocol::EventStreamParser parser;                      // the client side
//   if (auto ec = parser.feed(piece)) return ec;                  // event_stream_errc::line_too_large, ...
//   khz::protocol::SseEvent ev;
//   while (parser.next(ev)) use(ev.event, ev.data, ev.id);
//   if (auto r = parser.take_retry()) reconnect_delay = *r;
//
// Encoding: each field line is "name: value\n"; data is split at CRLF, LF and CR into one
// "data:" line per line (so a client joins them back with LF), and always written, so every
// encoded event dispatches on the client (an empty data is one "data: " line). An id or event
// type holding CR or LF, an id holding NUL (the parser would drop it), or a negative retry is
// refused (event_stream_errc::bad_field) and nothing is appended: ids and types are names, not
// text to sanitize. A comment (": text\n", a line per line of text) dispatches nothing; it keeps
// a quiet connection alive through proxies.
//
// Parsing follows the WHATWG algorithm exactly: one leading UTF-8 BOM is skipped; lines end in
// CRLF, LF or CR (a CR at the end of a piece waits for the next piece to see whether LF
// follows); invalid UTF-8 becomes U+FFFD as a UTF-8 decoder would make it; a line starting
// with ':' is a comment; "name: value" loses one space after the colon; "data" appends the
// value and LF to the data buffer, "event" sets the type, "id" sets the last event id unless
// the value holds NUL, "retry" sets the reconnection time when the value is ASCII digits only
// (otherwise it is ignored); other names are ignored. A blank line dispatches: the last event
// id is updated even without data, but an event is produced only when the data buffer is not
// empty (the last LF removed; type "message" by default). An event not ended by a blank line
// when the stream ends is never produced.
// Lifetimes: next() moves an event out; last_event_id() is valid until the next feed().
// Threading: a parser or encoder call is used by one thread at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace khz::protocol {

enum class event_stream_errc {
  line_too_large = 1,  // parser: a line longer than EventStreamLimits::max_line_bytes
  data_too_large,      // parser: an event's data buffer larger than max_data_bytes
  bad_field,           // encoder: CR/LF in an id or event type, NUL in an id, a negative retry
};

const std::error_category& event_stream_category() noexcept;
inline std::error_code make_error_code(event_stream_errc e) noexcept {
  return {static_cast<int>(e), event_stream_category()};
}

// One event. Encoding: empty `id` and `event` are left out, `retry` when unset. Parsed: `event`
// is "message" when the stream named none, `id` is the last event id in force at dispatch
// (WHATWG: it persists across events), `retry` is unset (see take_retry()).
struct SseEvent {
  std::string id{};
  std::string event{};
  std::string data{};
  std::optional<std::chrono::milliseconds> retry{};
};

// The media type, for Content-Type and Accept.
inline constexpr std::string_view kEventStreamType = "text/event-stream";

// Appends `event` to `out` (see the banner). On error `out` is unchanged.
std::error_code encode_event(const SseEvent& event, std::string& out);
// Appends a comment: ": text\n" per line of `text` (":\n" for an empty text).
void encode_comment(std::string_view text, std::string& out);

// Each limit is inclusive: exactly at it passes, one more fails with the error named.
struct EventStreamLimits {
  std::size_t max_line_bytes = 1 << 20;   // line_too_large (a line without its end)
  std::size_t max_data_bytes = 8 << 20;   // data_too_large (an event's data, LFs included)
};

class EventStreamParser {
 public:
  explicit EventStreamParser(EventStreamLimits limits = {}) : limits_(limits) {}

  // Parses the next piece of the stream; complete events queue up for next(). After an error
  // the parser is failed: feed() returns the error again and parses nothing more.
  std::error_code feed(std::string_view bytes);
  // Moves the oldest queued event into `out`; false when none is queued.
  bool next(SseEvent& out);
  std::size_t queued() const noexcept { return events_.size(); }
  // The reconnection time a "retry" field set since the last call, once.
  std::optional<std::chrono::milliseconds> take_retry() noexcept { return std::exchange(retry_, std::nullopt); }
  // The last event id as of the last dispatch (what a client sends as Last-Event-ID).
  const std::string& last_event_id() const noexcept { return last_event_id_; }
  // A new connection: the BOM may come again, partial lines and buffers are dropped (the
  // unfinished event is discarded) and the error cleared; last_event_id() and queued events stay.
  void reset() noexcept;

 private:
  void line(std::string_view text);
  void field(std::string_view name, std::string_view value);
  void dispatch();
  std::error_code fail(event_stream_errc e) noexcept;

  EventStreamLimits limits_;
  std::deque<SseEvent> events_;
  std::string line_;            // a line begun in an earlier piece
  std::string data_;            // the data buffer
  std::string type_;            // the event type buffer
  std::string id_buffer_;       // the last event id buffer
  std::string last_event_id_;   // as of the last dispatch
  std::string scratch_;         // a line with invalid UTF-8, repaired
  std::optional<std::chrono::milliseconds> retry_;
  std::size_t bom_seen_ = 0;    // BOM bytes matched so far at the stream's start
  bool at_start_ = true;        // no byte other than a BOM prefix seen yet
  bool after_cr_ = false;       // the last byte was a CR ending a line: a LF next is its pair
  std::error_code error_;
};

}  // namespace khz::protocol

template <>
struct std::is_error_code_enum<khz::protocol::event_stream_errc> : std::true_type {};

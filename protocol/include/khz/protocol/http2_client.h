// SPDX-License-Identifier: Apache-2.0
// khz::Http2ClientConnection: the client side of one HTTP/2 connection (h2 after ALPN, or h2c
// with prior knowledge) over a transport::Connection, multiplexing concurrent requests from
// many coroutines of the connection's loop. Sans policy: pools, retries and redirects live in
// app's Client.
//
//   auto c = Http2ClientConnection::make(std::move(conn), {});   // preface + SETTINGS go out
//   Response resp;                                               // filled as frames arrive
//   if (auto ec = co_await c->wait_for_slot(deadline)) ...;      // closed, GOAWAY, no slot in time
//   auto s = c->open(req, resp, {.scheme = "https", .authority = "example.com"});
//   if (auto ec = co_await s->read_head(deadline)) ...;          // 1xx skipped
//   while (!s->body_done()) {                                    // bytes land in resp.body_buffer()
//     if (auto ec = co_await s->read_body(deadline)) ...;
//     consume(resp.body()); resp.body_buffer().clear();
//   }
//
// Extended CONNECT (RFC 8441): open_tunnel() gives a stream as a transport::Connection.
// A request body is either sent whole with the head (Http2RequestInfo::body) or streamed with Http2Stream::write() pieces (flow control: write() returns once
// the piece was handed to the codec within the peer's windows) and write_end().
// Response bodies: a stream's receive window opens only as the caller reads (read_body /
// read_all return), so a slow reader holds the server back (RFC 9113 §5.2), not memory.
//
// Errors (std::error_code): transport errors of the connection (timed_out, eof,
// connection_reset, ...) for every open stream when the connection fails before their
// response began; protocol::errc::truncated_response when it began; protocol::errc::
// stream_refused (REFUSED_STREAM, or above a GOAWAY's last stream id: never processed, safe to
// retry), stream_reset (any other RST_STREAM), malformed_response (no :status, content-length
// mismatch, bad fields; the stream is reset), header_too_large, response_too_large,
// connection_closed (open() on a closed or GOAWAY'd connection), cancelled (Http2Stream::cancel)
// and transport::errc::timed_out for a deadline or read gap.
// Lifetimes: the connection object and its streams are handles; the session behind them
// lives until the last of them is gone and its reader and writer coroutines ended. Destroying
// the connection handle closes the transport (open streams fail); destroyed on another thread,
// it posts that to its loop (which must still exist). An Http2Stream must be destroyed before
// its Response. Threading: the loop thread that made it, only (but for the destructor).
#pragma once

#include <khz/common/result.h>
#include <khz/common/task.h>
#include <khz/protocol/request.h>
#include <khz/protocol/response.h>
#include <khz/transport/connection.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace khz {

struct Http2ClientOptions {
  std::size_t max_header_list_size = 64 * 1024;           // response head (RFC 9113 §6.5.2 accounting)
  std::uint64_t max_body_bytes = 64 * 1024 * 1024;        // per response
  std::uint32_t initial_window_size = 1024 * 1024;        // each stream's receive window
  std::uint32_t connection_window_size = 16 * 1024 * 1024;  // the connection's (WINDOW_UPDATE at start)
  std::uint32_t max_concurrent_streams = 1000;            // our own cap (the server's limit also holds)
  std::chrono::milliseconds read_gap{std::chrono::seconds(30)};  // longest wait for a stream's next frame
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
};

// How a request goes on the wire (pseudo-header fields and framing).
struct Http2RequestInfo {
  std::string_view scheme = "http";  // :scheme
  std::string_view authority{};      // :authority (else the request's Host field)
  std::string_view body{};           // a whole body, sent with the head (copied); ignored when streamed
  bool streamed_body = false;        // the body follows with Http2Stream::write() / write_end()
  std::int64_t content_length = -1;  // of a streamed body, when known: sent as content-length
  // RFC 8441 extended CONNECT: the :protocol ("websocket"), with method CONNECT and a streamed
  // body. Sent only once the server's SETTINGS enabled it (wait_for_settings first). The stream
  // is a tunnel then: DATA both ways through write() and read_body(), without read_gap or
  // max_body_bytes. Request::connect_protocol() fills it for open(request, ...).
  std::string_view connect_protocol{};
};

class Http2ClientConnection;

// One request/response exchange on an Http2ClientConnection. Move-only handle; destroying it
// before the response ended resets the stream (RST_STREAM CANCEL).
class Http2Stream {
 public:
  using Clock = std::chrono::steady_clock;
  Http2Stream() = default;
  Http2Stream(Http2Stream&& other) noexcept : s_(std::exchange(other.s_, nullptr)) {}
  Http2Stream& operator=(Http2Stream&& other) noexcept;
  ~Http2Stream();

  // Streams a request body piece (copied to the codec as the windows allow; returns once all
  // of it was taken); then write_end() sends END_STREAM.
  Task<std::error_code> write(std::string_view bytes, Clock::time_point deadline);
  Task<std::error_code> write_end(Clock::time_point deadline);
  // Until the final response head is in the Response given to open().
  Task<std::error_code> read_head(Clock::time_point deadline);
  // Until some body bytes were appended to response.body_buffer() or the body ended.
  Task<std::error_code> read_body(Clock::time_point deadline);
  // The rest of the body (and trailers).
  Task<std::error_code> read_all(Clock::time_point deadline);

  bool body_done() const noexcept;
  // Any frame of the response arrived (an error before then on a reused connection means
  // the request was never answered).
  bool response_began() const noexcept;
  std::int32_t id() const noexcept;
  // RST_STREAM CANCEL: this stream's waits end with protocol::errc::cancelled; others go on.
  void cancel() noexcept;
  explicit operator bool() const noexcept { return s_ != nullptr; }

  struct State;  // the stream's state (http2_client.cc)

 private:
  friend class Http2ClientConnection;
  explicit Http2Stream(State* s) noexcept : s_(s) {}
  State* s_ = nullptr;
};

class Http2ClientConnection {
 public:
  using Clock = std::chrono::steady_clock;

  // Sends the preface and SETTINGS and starts the connection's reader and writer coroutines
  // on the calling loop.
  static std::unique_ptr<Http2ClientConnection> make(std::unique_ptr<transport::Connection> conn,
                                                     Http2ClientOptions options);
  ~Http2ClientConnection();
  Http2ClientConnection(const Http2ClientConnection&) = delete;
  Http2ClientConnection& operator=(const Http2ClientConnection&) = delete;

  // Waits until a stream may be opened now (the server's SETTINGS_MAX_CONCURRENT_STREAMS and
  // our cap leave a slot), at most until `deadline`: transport::errc::timed_out, or
  // protocol::errc::connection_closed when the connection closed or received GOAWAY.
  Task<std::error_code> wait_for_slot(Clock::time_point deadline);
  // Opens a stream at once (no suspension: `request` and `info` are read only during the call):
  // HEADERS (:method, :scheme, :authority, :path, then the request's fields lower-cased,
  // connection-specific ones dropped, RFC 9113 §8.2.2) and info.body (copied) unless the body
  // is streamed. `response` is cleared and filled as the response arrives; it must outlive the
  // stream. Fails with connection_closed (closed, GOAWAY) or std::errc::resource_unavailable_try_again
  // (no slot free: wait_for_slot first). With info.connect_protocol: protocol::errc::
  // connect_protocol_disabled (the server's SETTINGS do not allow it), or
  // std::errc::resource_unavailable_try_again before its SETTINGS came.
  Result<Http2Stream> open(const Request& request, Response& response, const Http2RequestInfo& info);
  // The same from parts (no Request to build): `extra` fields follow `headers`; :authority is
  // info.authority.
  using ExtraField = std::pair<std::string_view, std::string_view>;
  Result<Http2Stream> open(std::string_view method, std::string_view target, const HeaderMap& headers,
                           std::span<const ExtraField> extra, Response& response, const Http2RequestInfo& info);

  // Waits until the server's first SETTINGS frame came (at most until `deadline`):
  // transport::errc::timed_out, or protocol::errc::connection_closed.
  Task<std::error_code> wait_for_settings(Clock::time_point deadline);
  bool settings_received() const noexcept;
  // The server's SETTINGS_ENABLE_CONNECT_PROTOCOL is 1 (RFC 8441 §3): extended CONNECT may be sent.
  bool connect_protocol_enabled() const noexcept;
  // RFC 8441: opens an extended CONNECT stream for `request` (method CONNECT, its
  // connect_protocol() the :protocol, its target the :path; info.connect_protocol may give the
  // protocol instead) once the server's SETTINGS allow it and a slot is free, and waits for the
  // response head, all before `deadline`. A 2xx gives the stream as a transport::Connection:
  // fill() takes the DATA received (the window opens as it does; errc::eof at the server's
  // END_STREAM, std::errc::connection_reset at its RST_STREAM; read_timeout() applies, none by
  // default), output() + flush() sends DATA within the windows, close() sends END_STREAM (or
  // RST_STREAM CANCEL while an operation is pending), and destroying it resets a stream that
  // is still open. It must outlive its pending operations, not this connection. Any other
  // status gives null, with the whole response in `response`. `response` gets the head either
  // way and must outlive the call. Errors: those of wait_for_settings, wait_for_slot, open and
  // read_head.
  Task<Result<std::unique_ptr<transport::Connection>>> open_tunnel(Request request, Response& response,
                                                                   Http2RequestInfo info, Clock::time_point deadline);
  // Not closed, no GOAWAY, and a stream slot free now.
  bool can_open_stream() const noexcept;
  // Not closed and no GOAWAY (a new stream may wait for a slot).
  bool usable() const noexcept;
  std::size_t active_streams() const noexcept;
  // The number of streams we may have open at once now (server's limit, our cap).
  std::size_t stream_limit() const noexcept;
  bool closed() const noexcept;
  bool goaway_received() const noexcept;
  // Closes the transport: open streams fail with errc::cancelled (transport) at once.
  void close() noexcept;
  // Sends GOAWAY(NO_ERROR) and lets the open streams finish; no new streams.
  void shutdown() noexcept;
  Clock::time_point created() const noexcept { return created_; }
  // The transport's addresses ("ip:port").
  std::string peer_address() const;
  std::string local_address() const;

  struct Session;

 private:
  explicit Http2ClientConnection(Session* s) noexcept : s_(s), created_(Clock::now()) {}
  Session* s_;
  Clock::time_point created_;
};

}  // namespace khz

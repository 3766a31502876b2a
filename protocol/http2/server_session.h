// SPDX-License-Identifier: Apache-2.0
// Private to protocol/http2: the server side of one HTTP/2 connection as a sans-I/O session:
// nghttp2 and the state of each stream, with khz's protections. Bytes in (receive), events out
// (Driver::start, Driver::wake), bytes out (send, into a LinkedBuffer). It owns no socket,
// spawns and resumes no coroutine; the connection driver (http2_server.cc) does the I/O and
// runs each stream's handler. Defined in server_session.cc and server_callbacks.cc (nghttp2's
// callbacks).
//
//   ServerSession session(driver, conn.output(), options);
//   if (auto ec = session.start()) ...;                      // the server's SETTINGS, queued
//   auto n = session.receive(conn.input().segment(0));       // events: driver.start(stream), ...
//   conn.input().skip(*n);
//   // per started stream: begin_handler(s), serve s.exchange, finish_handler(s), handler_done(s)
//   session.send();                                          // frames into conn.output()
//
// Events: nghttp2 callbacks never run handler code. A request ready for its handler is handed
// to Driver::start (to queue: the driver starts it after the whole input batch, with
// begin_handler, so a stream reset in the batch that opened it never starts one); a handler side
// waiting for body bytes or for its chunk to be sent (ServerStream::waiting) is handed to
// Driver::wake. Both come from inside receive(), send(), check_deadlines() and the stream calls.
// Lifetime of a stream: released (kept for reuse) once nghttp2 closed it and its handler is
// done (or never started); end() leaves every stream where it is, for the driver to finish.
// Threading: one event loop; not thread-safe.
#pragma once

#include <khz/common/linked_buffer.h>
#include <khz/common/result.h>
#include <khz/protocol/http2.h>
#include <khz/protocol/server_core.h>

#include <bitset>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "../common/preface.h"
#include "frame_scanner.h"
#include "nghttp2_glue.h"

namespace khz::protocol::http2 {

class ServerSession;

// One stream: its exchange and the state shared by the session (nghttp2's callbacks) and the
// stream's handler side. The handler side (write/read, the coroutine waits) is the driver's: it
// makes the streams (Driver::new_stream) as subclasses that implement write() and read().
// Owned by the session; reused for later streams of the connection (the core's state with it).
struct ServerStream : BodyWriter, BodyReader {
  ServerStream() noexcept {
    exchange.body_writer = this;
    exchange.cancel_signal = &cancel;
  }
  ServerStream(const ServerStream&) = delete;
  ServerStream& operator=(const ServerStream&) = delete;

  bool started() const noexcept override { return writer_started; }
  bool done() const noexcept override { return body_read_done; }
  std::int64_t content_length() const noexcept override { return announced_length; }

  // Ready for stream `stream_id` (the exchange cleared, the core's state kept).
  void reset(std::int32_t stream_id) noexcept;

  using Clock = std::chrono::steady_clock;
  enum class HandlerState { none, queued, running, done };
  enum class WaitKind { none, body, send };

  std::int32_t id = 0;
  std::size_t live_index = 0;  // in ServerSession::live_
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
  // Without a streamed writer (!writer_started), `out` is the finished handler's body, which
  // stays put until the stream is released: its DATA frames are written straight from it into
  // the output (NGHTTP2_DATA_FLAG_NO_COPY) rather than copied into nghttp2's frame buffer first.
  // `out_pending`: the bytes of the DATA frame nghttp2 has read so but not yet asked to send.
  std::string_view out_pending;
  std::size_t file_pending = 0;  // likewise for a file body: bytes read into the output by on_send_data
  std::uint64_t file_sent = 0;  // bytes of a file body handed to nghttp2
  char status_text[4] = {};
  char length_text[24] = {};
  // ---- tunnel (RFC 8441 extended CONNECT)
  bool tunnel = false;  // an extended CONNECT: the handler starts at the headers, DATA is kept for it
  // While the tunnel is open (begin_tunnel .. end_tunnel): the bytes to send, which the data
  // provider takes from the front; owned by the driver's tunnel connection.
  LinkedBuffer* tunnel_out = nullptr;
  bool tunnel_open = false;        // begin_tunnel said yes
  bool tunnel_ended = false;       // end_tunnel ran: DATA from the client is dropped
  Clock::time_point linger_since{};  // END_STREAM of the tunnel went out, the client's half still open
  // ---- lifecycle
  HandlerState handler = HandlerState::none;
  bool closed = false;  // nghttp2 closed the stream
  // What the handler side waits for; set by the driver while its coroutine is suspended, back
  // to none when it is woken. The session wakes a `send` wait once the chunk is taken, and times
  // out a `body` wait (read_timeout).
  WaitKind waiting = WaitKind::none;
  Clock::time_point wait_since{};  // the wait began, or the collected body last progressed
  Clock::time_point stall_since{};
};

class ServerSession {
 public:
  using Clock = std::chrono::steady_clock;

  // What the session needs from the connection driver. Calls come from inside the session's
  // own (receive, send, the stream calls, check_deadlines, end, upgrade): none may call back
  // into the session.
  class Driver {
   public:
    virtual ~Driver() = default;
    // A new stream object (the session keeps it for reuse).
    virtual std::unique_ptr<ServerStream> new_stream() = 0;
    // The request of `stream` is ready for its handler: queue it; begin_handler later.
    virtual void start(ServerStream& stream) = 0;
    // The handler side of `stream` may go on (its wait, if it has one, ends with `error`).
    virtual void wake(ServerStream& stream, std::error_code error) = 0;
    // ServerCore::body_policy for a request with a body, asked when its headers are in.
    virtual BodyPolicy body_policy(Exchange& exchange) = 0;
    // The value of the date header of the next response (the HTTP-date of now), in memory that
    // stays put while the session lives (nghttp2 reads it when the HEADERS go out).
    virtual std::string_view date() = 0;
    // The peer, for log lines.
    virtual std::string peer_address() const = 0;
  };

  // `options` and `output` must outlive the session; `mem` (null: malloc) too, if given.
  ServerSession(Driver& driver, LinkedBuffer& output, const Http2Options& options, nghttp2_mem* mem = nullptr);
  ~ServerSession();
  ServerSession(const ServerSession&) = delete;
  ServerSession& operator=(const ServerSession&) = delete;

  // Queues the server's SETTINGS and the raised connection window. Call it first; on an error
  // (nghttp2 could not allocate: std::errc::not_enough_memory, or an nghttp2 error) the
  // session is unusable and only its destructor may follow.
  std::error_code start();
  // h2c by Upgrade (RFC 7540 §3.2), after start(): `settings` is the decoded HTTP2-Settings;
  // `request` (owning its bytes, body complete) becomes stream 1, already half-closed by the
  // client, and is handed to Driver::start. An nghttp2 error (bad settings) is logged.
  std::error_code upgrade(Request&& request, std::string_view settings);

  // ---- bytes in
  // Parses the start of `bytes` (the client magic, then frames) and returns how many it took:
  // at most what keeps the PING/SETTINGS ACKs owed within max_acks() (0 once that many are owed:
  // send() first), and nothing of a frame a protection stops. What nghttp2 holds it keeps; the
  // caller skips the bytes taken and may reuse them. Errors: a fatal nghttp2 error (category
  // "nghttp2"); the session is then ended(). Once input_dropped(), bytes are to be dropped.
  Result<std::size_t> receive(std::string_view bytes);
  // The session is over for the client (a wrong preface, calm(), an idle GOAWAY): its bytes are
  // read and dropped, not parsed, so that it can still read the GOAWAY.
  bool input_dropped() const noexcept { return drop_input_; }
  std::size_t acks_owed() const noexcept { return acks_owed_; }
  std::size_t max_acks() const noexcept { return max_acks_; }

  // ---- bytes out
  // Serializes what nghttp2 has to send into `output`. Errors: a fatal nghttp2 error.
  std::error_code send();
  // Something was submitted since the last send() (a stream's frames, a window opened).
  bool write_requested() const noexcept { return write_wanted_; }
  void request_write() noexcept { write_wanted_ = true; }
  // write_requested(), or nghttp2 has frames to send.
  bool want_write() const noexcept;
  // nghttp2 wants neither to read nor to write: the session is done (a GOAWAY went out).
  bool over() const noexcept;

  // ---- the connection
  // A graceful GOAWAY (last stream id: the last one processed), once.
  void send_graceful_goaway();
  bool goaway_sent() const noexcept { return goaway_sent_; }
  std::int32_t last_stream_id() const noexcept;
  // A client that abuses the protocol: one log line (`why`), GOAWAY ENHANCE_YOUR_CALM, and its
  // input dropped from here on.
  void calm(const std::string& why);
  // The idle, body-read and zero-window deadlines (see Http2Options), and the reuse pool's trim.
  void check_deadlines(Clock::time_point now);
  // The client sent bytes (the idle deadline counts from here).
  void note_activity(Clock::time_point now) noexcept { last_activity_ = now; }
  // Streams open (their handler running, or nghttp2 still holding them).
  std::size_t stream_count() const noexcept { return live_.size(); }
  // The connection is over: nothing more is parsed or sent. Every stream's wait is woken with
  // transport::errc::cancelled, and the cancel signal of every running handler fires.
  void end();
  bool ended() const noexcept { return ended_; }

  // ---- a stream's handler side (the driver's coroutines)
  // A stream handed to Driver::start: true if its handler is to run now; false (the stream is
  // closed or the connection over, and it was released) if not.
  bool begin_handler(ServerStream& s);
  // The handler returned: submits its response (or ends a streamed one).
  void finish_handler(ServerStream& s);
  // The handler's coroutine is done with the stream; it is released if nghttp2 closed it.
  void handler_done(ServerStream& s);
  // Hands nghttp2 the next chunk of a streamed response (the first call submits the head).
  // true: wait (ServerStream::waiting = send) until woken, then chunk_taken(); false: nothing to
  // wait for (no body: HEAD, 204, 304; or an empty chunk). Errors: transport::errc::cancelled.
  Result<bool> write_body(ServerStream& s, std::string_view chunk);
  // After a write_body wait: whether nghttp2 took the whole chunk; forgets it.
  bool chunk_taken(ServerStream& s) noexcept;
  // What read_body found: a piece of a streamed body (valid until the next read_body; the
  // windows were opened by its size), the end (`bytes` empty), an error, or nothing yet
  // (`wait`: then wait, ServerStream::waiting = body, until woken).
  struct BodyRead {
    std::error_code error;
    std::string_view bytes;
    bool wait = false;
  };
  BodyRead read_body(ServerStream& s);

  // ---- a tunnel's side (RFC 8441), after the handler returned with Exchange::hijack set
  // Whether stream `s` becomes a tunnel: an extended CONNECT answered 2xx, still open. If so,
  // the response head is submitted without END_STREAM (no content-length), and DATA frames take
  // their payload from the front of `out` as it is sent (tunnel_send); then end_tunnel(s) must
  // follow before `out` goes; the driver runs the hijack handler. If not, finish_handler(s) as
  // for any stream.
  bool begin_tunnel(ServerStream& s, LinkedBuffer& out);
  // Moves the DATA received into `in` and opens the stream's and the connection's windows by as
  // much; returns how many bytes.
  std::size_t tunnel_receive(ServerStream& s, LinkedBuffer& in);
  // The client ended its half (END_STREAM) and every byte of it was taken by tunnel_receive.
  bool tunnel_at_eof(const ServerStream& s) const noexcept { return s.request_complete && s.body_pending.empty(); }
  // The bytes in `out` are to be sent; the driver is woken (Driver::wake) as nghttp2 takes
  // them. Errors: transport::errc::cancelled (the stream or the connection is over).
  std::error_code tunnel_send(ServerStream& s);
  // The tunnel's handler is done (or closed it): what it had not sent is dropped, END_STREAM
  // goes out; the client has tunnel_close_grace to end its half, then RST_STREAM CANCEL.
  // `reset`: RST_STREAM CANCEL now instead. Idempotent.
  void end_tunnel(ServerStream& s, bool reset);

 private:
  static constexpr std::size_t kSmallestAckedFrame = 9;  // SETTINGS with no entries: a frame header
  static constexpr std::size_t kIdWindow = 1024;
  // Streams (with their exchange and the core's state) kept for reuse while the connection is busy.
  static constexpr std::size_t kMaxSpareStreams = 64;

  // ---- streams
  ServerStream& new_stream(std::int32_t id);
  void release(ServerStream& s);
  void queue_start(ServerStream& s);
  ServerStream* stream_of(std::int32_t id) const noexcept;
  void wake(ServerStream& s, std::error_code ec = {}) { driver_.wake(s, ec); }
  void refuse(ServerStream& s, int status);
  std::string_view lower_name(ServerStream& s, std::string_view name);
  void submit_response(ServerStream& s, bool streamed);
  void submit_trailers(ServerStream& s);
  void resume_data(ServerStream& s);
  void submit_rst(ServerStream& s, std::uint32_t code);
  // ---- requests
  void on_request_headers(ServerStream& s, bool end_stream);
  void on_request_end(ServerStream& s);
  // ---- protections
  void refuse_preface();
  void count_reset();
  // Starts a new rapid-reset window when the current one is a second old.
  void roll_reset_window(Clock::time_point now) noexcept {
    if (now - reset_window_start_ < std::chrono::seconds(1)) return;
    reset_window_start_ = now;
    resets_ = 0;
    opened_in_window_ = 0;
  }
  bool look_at_frame(const FrameScanner::Header& h);
  void check_stream_id(std::int32_t id);

  // What one send() leaves in the output at most (plus one frame) before the writer flushes.
  static constexpr std::size_t kMaxBufferedOutput = 256 * 1024;

  // ---- nghttp2 callbacks (user_data: the session)
  static ServerSession& self(void* user_data) { return *static_cast<ServerSession*>(user_data); }
  static ssize_t on_send(nghttp2_session*, const std::uint8_t* data, std::size_t length, int, void* user_data);
  static int on_send_data(nghttp2_session*, nghttp2_frame* frame, const std::uint8_t* framehd, std::size_t length,
                          nghttp2_data_source* source, void* user_data);
  int send_file_frame(ServerStream& s, const std::uint8_t* framehd, std::size_t length);
  // DATA frames at least this long are written straight into the output (NGHTTP2_DATA_FLAG_NO_COPY);
  // shorter ones are copied: the frame in two appends costs more than a copy of so few bytes.
  static constexpr std::size_t kNoCopyFrom = 2048;
  static ssize_t read_response_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                                    std::uint32_t* data_flags, nghttp2_data_source* source, void* user_data);
  // A file body (Response::file_body): read from the file as nghttp2 asks, one frame's worth.
  static ssize_t read_response_file(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                                    std::uint32_t* data_flags, nghttp2_data_source* source, void* user_data);
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name_p, std::size_t name_len,
                       const std::uint8_t* value_p, std::size_t value_len, std::uint8_t, void* user_data);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
  static int on_data_chunk_recv(nghttp2_session*, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                                std::size_t len, void* user_data);
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user_data);
  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
  static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user_data);
  static int on_invalid_frame_recv(nghttp2_session*, const nghttp2_frame* frame, int lib_error, void* user_data);

  Driver& driver_;
  LinkedBuffer& output_;
  const Http2Options& opt_;
  std::vector<std::unique_ptr<ServerStream>> live_;
  std::vector<std::unique_ptr<ServerStream>> spare_;
  std::vector<nghttp2_nv> nva_;
  // The stream stream_of() found last: a request's header fields arrive one callback each, all
  // for one stream. Forgotten when it closes or is released.
  mutable ServerStream* last_found_ = nullptr;
  bool write_wanted_ = true;
  bool ended_ = false;
  bool goaway_sent_ = false;
  bool calmed_ = false;      // calm() ran
  bool drop_input_ = false;  // the session is over for the peer: its bytes are read, not parsed
  // PING and SETTINGS ACKs nghttp2 holds, not yet taken by send() (the peer's socket is full,
  // or the writer had no turn yet); at most max_acks_ (see receive()).
  std::size_t acks_owed_ = 0;
  const std::size_t max_acks_;  // Http2Options::max_outbound_control_frames, at least 1
  std::size_t magic_seen_ = 0;  // bytes of the client magic (kHttp2ClientPreface) received so far
  FrameScanner frames_;         // the client's frame headers (after the magic), before nghttp2 parses them
  std::size_t continuations_ = 0;  // CONTINUATION frames since the last HEADERS
  Clock::time_point last_activity_ = Clock::now();
  // The rapid-reset window (count_reset): the client's RST_STREAMs and the streams it opened
  // since reset_window_start_.
  Clock::time_point reset_window_start_{};
  std::uint32_t resets_ = 0;
  std::uint32_t opened_in_window_ = 0;
  std::int32_t highest_id_ = 0;  // highest client stream id seen
  std::bitset<kIdWindow> opened_;
  // Last: destroyed first, before the streams its user data points to.
  SessionPtr ng_;
};

}  // namespace khz::protocol::http2

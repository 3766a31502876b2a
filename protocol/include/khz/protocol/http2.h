// SPDX-License-Identifier: Apache-2.0
// The HTTP/2 server (RFC 9113): serves one connection through a ServerCore, each stream as its
// own Exchange. The front door (<khz/protocol/serve.h>) chooses it for a connection (ALPN "h2",
// the h2c preface, Upgrade: h2c); an HTTP/2-only port can also serve it directly:
//
//   auto h2 = std::make_shared<const khz::Http2Options>();
//   transporter->start([&, h2](khz::transport::Connection& c) { return khz::serve_http2(c, engine, h2); });
//
// Behaviour: streams run concurrently, each in its own coroutine on the connection's loop
// (up to max_concurrent_streams); responses stream with flow control (BodyWriter), carry
// trailers (Response::trailers), and have no body for HEAD, 1xx, 204 and 304. Request bodies
// are collected into Request::body() (over max_body_bytes: 413), or streamed through
// Exchange::body_reader when the core's body_policy() says so; then the stream's flow-control
// window only opens as the handler reads. :authority becomes the Host header. A graceful
// shutdown sends GOAWAY and lets the streams in hand finish. Protections and their defaults:
// protocol/DESIGN.md.
//
// Tunnels (RFC 8441, extended CONNECT; WebSocket over HTTP/2): with enable_connect_protocol the
// server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and accepts `:method CONNECT` with
// `:protocol` (Request::connect_protocol()), routed by `:path`. Its handler runs at once (the
// stream stays open); a 2xx response with Exchange::hijack set goes out without END_STREAM and
// the hijack handler gets the stream as a transport::Connection: input() receives the DATA
// payloads (the stream's window opens as fill() takes them), output() + flush() sends DATA
// (flush completes once nghttp2 has taken the bytes, within the peer's window), fill() ends with
// errc::eof at the peer's END_STREAM and std::errc::connection_reset at its RST_STREAM, close()
// or the handler's return sends END_STREAM. A non-2xx answer ends the stream as usual. On any
// other stream hijack has no meaning and is ignored (logged).
#pragma once

#include <khz/common/metrics.h>
#include <khz/common/task.h>
#include <khz/protocol/server_core.h>
#include <khz/transport/connection.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace khz {

struct Http2Options {
  // ---- SETTINGS sent to the client
  std::uint32_t max_concurrent_streams = 100;
  std::uint32_t initial_window_size = 65535;    // per stream, for request bodies
  std::uint32_t max_frame_size = 16 * 1024;     // largest frame the client may send
  std::uint32_t max_header_list_size = 64 * 1024;  // decoded header section; over it: 431
  // Receive window of the whole connection (raised from 65535 with a WINDOW_UPDATE).
  std::uint32_t connection_window_size = 1024 * 1024;
  // SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441): extended CONNECT tunnels (WebSocket over h2).
  bool enable_connect_protocol = true;
  std::size_t max_body_bytes = 4 * 1024 * 1024;  // collected request body; over it: 413
  // ---- timeouts
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};   // no stream open
  std::chrono::milliseconds read_timeout{std::chrono::seconds(30)};   // a streamed body read waits
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};  // each socket write
  // A response blocked this long by a zero flow-control window is reset (RST_STREAM CANCEL).
  std::chrono::milliseconds stall_timeout{std::chrono::seconds(30)};
  // A tunnel whose handler is done (END_STREAM sent) waits this long for the client's END_STREAM,
  // then resets the stream (RST_STREAM CANCEL).
  std::chrono::milliseconds tunnel_close_grace{std::chrono::seconds(1)};
  // ---- protections (see protocol/DESIGN.md)
  // Over each: GOAWAY ENHANCE_YOUR_CALM, one log line, and the connection closes.
  // RST_STREAMs from the client in a second (rapid reset), counted while they are more than
  // half of the streams it opened in that second (a proxy cancelling its leaving clients' calls
  // is not an attack)
  std::uint32_t max_resets_per_second = 100;
  std::size_t max_continuations = 8;            // CONTINUATION frames per header block
  // PING/SETTINGS ACKs owed to a client whose socket will not take them (it floods and does
  // not read); a burst from a client that reads does not count against it.
  std::size_t max_outbound_control_frames = 1000;
  std::size_t max_settings_entries = 32;        // per SETTINGS frame
  std::string server_name = "khz";              // server header; empty: none
  // ---- metrics (<khz/common/metrics.h>; Server::enable_metrics sets them): empty handles
  // count nothing.
  metrics::Counter streams_opened{};  // request streams the client opened
  metrics::Counter streams_reset{};   // RST_STREAM received, or sent with an error code
};

// Serves `conn` as HTTP/2 (the client connection preface comes first) until the peer closes, an
// error, a timeout, or a graceful shutdown. `conn` and `core` must outlive the returned Task;
// the Task completes only once every stream's handler has finished. A wrong preface (another
// protocol, a magic that differs, a first frame other than SETTINGS) is answered with GOAWAY
// PROTOCOL_ERROR (RFC 9113 §3.4), then the connection closes.
Task<void> serve_http2(transport::Connection& conn, ServerCore& core, std::shared_ptr<const Http2Options> options);

// Refuses an HTTP/2 connection before any stream (e.g. over the connection limit): the server
// preface, then GOAWAY NO_ERROR with last stream 0, so the client knows nothing was processed
// and may retry; then the connection ends.
Task<void> refuse_http2(transport::Connection& conn, std::shared_ptr<const Http2Options> options);

}  // namespace khz

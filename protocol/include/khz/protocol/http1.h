// SPDX-License-Identifier: Apache-2.0
// The HTTP/1.1 server: serves one connection, exchange after exchange, through a ServerCore.
//
//   auto options = std::make_shared<const khz::Http1Options>(khz::Http1Options{.max_body_bytes = 1 << 20});
//   transporter->start([&, options](khz::transport::Connection& c) {
//     return khz::serve_http1(c, engine, options);
//   });
//
// Behaviour: keep-alive and pipelining (responses in request order; what is ready goes out in
// one flush); Content-Length and chunked request bodies, buffered or streamed as the core's
// body_policy() says (a streamed body is read only as the core asks; what it leaves unread is
// drained up to 256 KiB before the next request, else the connection closes); Content-Length or chunked responses;
// HEAD; HTTP/1.0 with and without keep-alive; Expect: 100-continue (no 100 when the body will be
// refused); Date and Server headers. Limits answer 414 (request target), 431 (header block),
// 413 (body) and close; malformed requests get 400 and close. Timeouts: idle (between
// requests), read (within a request), write.
#pragma once

#include <khz/common/task.h>
#include <khz/protocol/server_core.h>
#include <khz/transport/connection.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace khz {

struct Http2Options;

struct Http1Options {
  std::size_t max_uri_bytes = 8 * 1024;          // request-target; over it: 414
  std::size_t max_header_bytes = 64 * 1024;      // request line + header fields; over it: 431
  std::size_t max_body_bytes = 4 * 1024 * 1024;  // over it: 413
  // The whole request line and header section must arrive within this (slowloris).
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds read_timeout{std::chrono::seconds(30)};   // longest gap while reading a body
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};   // waiting for the next request
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  std::size_t max_pipelined_output = 64 * 1024;  // flush early once this much is queued
  std::string server_name = "khz";                // Server header; empty: none
  // Stamp each request with the khz::TickClock reading of the read that completed it
  // (Exchange::received_ticks; one reading per read, shared by the requests a read brings in):
  // where the server's request-duration metric starts. Off: no reading.
  bool stamp_reads = false;
  // Non-null: a request with "Upgrade: h2c" (and HTTP2-Settings) switches the connection to
  // HTTP/2 with these options (RFC 7540 §3.2); see <khz/protocol/http2.h>.
  std::shared_ptr<const Http2Options> h2c{};
};

// Serves `conn` until the peer closes, an error, a timeout, or a graceful shutdown.
// `conn` and `core` must outlive the returned Task.
Task<void> serve_http1(transport::Connection& conn, ServerCore& core,
                       std::shared_ptr<const Http1Options> options);

// Answers `status` (e.g. 503 when over the connection limit) with "Connection: close" and
// ends; for refusing a connection without reading its request.
Task<void> refuse_http1(transport::Connection& conn, int status, std::shared_ptr<const Http1Options> options);

}  // namespace khz

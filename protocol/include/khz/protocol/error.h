// SPDX-License-Identifier: Apache-2.0
// Protocol error codes, as std::error_code (category "khz.protocol").
//
//   auto chunk = co_await reader.read();
//   if (!chunk && chunk.error() == khz::protocol::errc::body_too_large) ctx.abort_with_status(413);
#pragma once

#include <system_error>

namespace khz::protocol {

enum class errc {
  body_too_large = 1,  // the request body is longer than the limit in force
  malformed_body,      // bad chunked framing, or the peer broke the stream (HTTP/2 RST_STREAM)
  body_unavailable,    // the body was not streamed (it is in Request::body()) or was already read
  // Client side (responses):
  malformed_response,  // bad status line, bad framing (CL with TE, bad chunks), bad fields
  header_too_large,    // the response head is longer than the limit
  truncated_response,  // the peer closed before the response was complete
  response_too_large,  // the response body is longer than the client's limit
  // Client side, HTTP/2 streams:
  stream_refused,      // REFUSED_STREAM, or above a GOAWAY's last stream id: never processed, safe to retry
  stream_reset,        // the server reset the stream (RST_STREAM other than REFUSED_STREAM)
  connection_closed,   // the connection is closed or going away (GOAWAY): it takes no new stream
  cancelled,           // the stream was cancelled by its caller (RST_STREAM CANCEL sent)
  // Client side, again (appended: the values above stay as they are):
  unsupported_transfer_coding,  // a response transfer coding other than chunked (gzip, ...)
  connect_protocol_disabled,    // HTTP/2: the server did not enable extended CONNECT (RFC 8441)
};

const std::error_category& protocol_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), protocol_category()}; }

}  // namespace khz::protocol

template <>
struct std::is_error_code_enum<khz::protocol::errc> : std::true_type {};

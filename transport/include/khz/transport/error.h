// SPDX-License-Identifier: Apache-2.0
// Transport error codes, as std::error_code (category "khz.transport").
//
//   std::error_code ec = co_await conn.fill(1);
//   if (ec == khz::transport::errc::eof) { /* peer closed */ }
#pragma once

#include <system_error>

namespace khz::transport {

enum class errc {
  eof = 1,          // the peer closed its side
  timed_out,        // a read or write deadline passed
  cancelled,        // the connection was closed locally while the operation waited
  shutting_down,    // the transporter is draining and the connection was idle
  buffer_limit,     // fill(n) asked for more than the connection may buffer
  tls_handshake_failed,  // the TLS handshake failed (reason logged)
  tls_error,             // a TLS record could not be read or written (reason logged)
  file_truncated,        // a file queued by send_file ended before its range did
};

const std::error_category& transport_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), transport_category()}; }

}  // namespace khz::transport

template <>
struct std::is_error_code_enum<khz::transport::errc> : std::true_type {};

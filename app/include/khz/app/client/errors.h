// SPDX-License-Identifier: Apache-2.0
// khz/app/client/errors.h: client::errc, the client's own error codes, and their category
// ("khz.client"). A call's Result carries one of these, or a transport error
// (transport::errc::timed_out for the dial, write, response-header, read-gap and total
// timeouts; connection refused, ...), or a protocol one (protocol::errc::{malformed_response,
// header_too_large, response_too_large, truncated_response}).
//
//   auto r = co_await client.get(url);
//   if (!r && r.error() == khz::client::errc::pool_timeout) ctx.string(503, "busy upstream");
//
// Threading: plain values; the category is a constant, usable from any thread.
#pragma once

#include <system_error>
#include <type_traits>

namespace khz::client {

enum class errc {
  bad_url = 1,             // not an absolute http(s) URL
  unsupported_scheme,      // a scheme other than http and https
  too_many_redirects,      // more than ClientOptions::max_redirects
  pool_timeout,            // no connection of the host's pool became free within wait_timeout
  cancelled,               // the request's CancellationToken was triggered
  body_not_replayable,     // a retry or a 307/308 redirect would need a streamed body again
  proxy_refused,           // the proxy answered CONNECT with a non-2xx status (https through a proxy)
  certificate_verify_failed,  // https: the server's certificate could not be verified (untrusted
                              // CA, name mismatch, expired, ...; the reason is logged at debug)
  no_content,        // an event stream's server answered 204 No Content: stop, do not reconnect
  not_event_stream,  // an event stream's server answered a status other than 200, or a
                     // Content-Type other than text/event-stream (no reconnection either)
  bad_method,        // the request's method is not a token (RFC 9110 §9.1): never sent
};
const std::error_category& client_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), client_category()}; }

}  // namespace khz::client

template <>
struct std::is_error_code_enum<khz::client::errc> : std::true_type {};

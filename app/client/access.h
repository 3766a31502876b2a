// SPDX-License-Identifier: Apache-2.0
// Private to app/client: detail::ClientAccess, the one friend through which the client's
// rooms reach the private parts of its public types (a token's active connection or stream,
// ResponseStream's state), and the short names the rooms use for them.
#pragma once

#include <khz/app/client/request.h>
#include <khz/app/client/response_stream.h>

namespace khz {

namespace detail {
struct ClientAccess {
  using StreamState = ResponseStream::State;
  static void set_active(const CancellationToken& t, Http1ClientConnection* c) noexcept { t.set_active(c); }
  static void set_stream(const CancellationToken& t, Http2Stream* s) noexcept { t.set_stream(s); }
};
}  // namespace detail

namespace client {

using StreamState = detail::ClientAccess::StreamState;  // defined in response_stream.h (private)

// What a cancel() of `t` closes (HTTP/1.1) or resets (HTTP/2); nullptr: nothing in use.
inline void set_active(const CancellationToken& t, Http1ClientConnection* c) noexcept {
  detail::ClientAccess::set_active(t, c);
}
inline void set_stream(const CancellationToken& t, Http2Stream* s) noexcept {
  detail::ClientAccess::set_stream(t, s);
}

// A CancelSignal::Watch callback: cancels the CancellationToken* it was given.
void cancel_on_signal(void* token);

}  // namespace client
}  // namespace khz

// SPDX-License-Identifier: Apache-2.0
// CancellationToken: the state its copies share, and what cancel() stops (the request's
// HTTP/1.1 connection is closed, or its HTTP/2 stream reset).
#include <khz/app/client/request.h>
#include <khz/common/small_pool.h>
#include <khz/protocol/http1_client.h>
#include <khz/protocol/http2_client.h>

#include "access.h"

namespace khz {

struct CancellationToken::State {
  bool cancelled = false;
  Http1ClientConnection* active = nullptr;  // the connection the request uses now (HTTP/1.1)
  Http2Stream* stream = nullptr;            // or its HTTP/2 stream (cancel resets just that)
};

// From the thread's small-block pool: every request makes one (two for a streamed call).
CancellationToken::CancellationToken() : state_(std::allocate_shared<State>(detail::PoolAllocator<State>{})) {}

void CancellationToken::cancel() noexcept {
  state_->cancelled = true;
  if (state_->active != nullptr) state_->active->close();
  if (state_->stream != nullptr) state_->stream->cancel();
}

bool CancellationToken::cancelled() const noexcept { return state_->cancelled; }

void CancellationToken::set_active(Http1ClientConnection* conn) const noexcept {
  state_->active = conn;
  state_->stream = nullptr;
}

void CancellationToken::set_stream(Http2Stream* stream) const noexcept {
  state_->stream = stream;
  state_->active = nullptr;
}

void client::cancel_on_signal(void* token) { static_cast<CancellationToken*>(token)->cancel(); }

}  // namespace khz

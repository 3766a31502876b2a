// SPDX-License-Identifier: Apache-2.0
// ResponseStream: a body read piece by piece from the connection (given back to its pool at
// the end) or the HTTP/2 stream an exchange handed over.
#include <khz/app/client/response_stream.h>

#include <khz/app/client/errors.h>

#include "access.h"
#include "pool.h"
#include "stream_state.h"

namespace khz {

using client::set_active;
using client::set_stream;

ResponseStream::ResponseStream(std::unique_ptr<State> state) : state_(std::move(state)) {}
ResponseStream::ResponseStream(ResponseStream&&) noexcept = default;
ResponseStream& ResponseStream::operator=(ResponseStream&&) noexcept = default;
ResponseStream::~ResponseStream() = default;

const Response& ResponseStream::response() const noexcept { return state_->response; }

bool ResponseStream::finished() const noexcept {
  return !state_->conn && !state_->h2 && state_->response.body().empty();
}

Task<Result<std::string_view>> ResponseStream::read() {
  State& s = *state_;
  s.piece.clear();
  if (s.h2) {  // body bytes land in s.response as they arrive; read_body says how far
    if (!s.h2.body_done()) {
      if (auto ec = co_await s.h2.read_body(s.deadline)) {
        set_stream(s.cancel, nullptr);
        std::error_code out = s.cancel.cancelled() ? std::error_code(client::errc::cancelled) : ec;
        s.h2 = Http2Stream();
        co_return out;
      }
    }
    s.piece.swap(s.response.body_buffer());
    if (s.h2.body_done()) {
      set_stream(s.cancel, nullptr);
      s.h2 = Http2Stream();
      client::mark_h2_idle(*s.pool);
    }
    co_return std::string_view(s.piece);
  }
  if (!s.response.body().empty()) {
    s.piece.swap(s.response.body_buffer());
  } else if (s.conn && !s.conn->body_done()) {
    if (auto ec = co_await s.conn->read_body(s.response, s.deadline)) {
      set_active(s.cancel, nullptr);
      std::error_code out = s.cancel.cancelled() ? std::error_code(client::errc::cancelled) : ec;
      s.conn->close();
      s.pools->release(*s.pool, std::move(s.conn));
      co_return out;
    }
    s.piece.swap(s.response.body_buffer());
  }
  if (s.conn && s.conn->body_done()) {
    set_active(s.cancel, nullptr);
    s.pools->release(*s.pool, std::move(s.conn));
  }
  co_return std::string_view(s.piece);
}

}  // namespace khz

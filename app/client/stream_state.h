// SPDX-License-Identifier: Apache-2.0
// Private to app/client: ResponseStream::State, what a ResponseStream holds: the response
// whose head is in, and the HTTP/1.1 connection (leased from its pool) or the HTTP/2 stream
// its body is read from. An exchange fills it (CallState::stream_out) when it hands over.
#pragma once

#include <khz/app/client/request.h>
#include <khz/app/client/response_stream.h>
#include <khz/common/cancel.h>
#include <khz/common/small_pool.h>
#include <khz/protocol/http1_client.h>
#include <khz/protocol/http2_client.h>
#include <khz/protocol/response.h>

#include "access.h"
#include "deadline.h"
#include "pool.h"

#include <memory>
#include <string>

namespace khz {

// Pooled: one per streamed call, made and dropped per request by a proxy.
struct ResponseStream::State : detail::Pooled {
  client::Pools* pools = nullptr;
  client::HostPool* pool = nullptr;
  std::unique_ptr<Http1ClientConnection> conn;
  Response response;
  std::string piece;
  Http2Stream h2;  // or an HTTP/2 stream (holds its connection's session); before `response` goes
  client::Clock::time_point deadline = client::kNever;
  CancellationToken cancel;
  CancelSignal::Watch downstream;  // the server request this body is read for went away

  ~State() {
    if (h2) {
      client::set_stream(cancel, nullptr);
      h2 = Http2Stream();  // resets an unfinished stream
    }
    if (conn) {
      client::set_active(cancel, nullptr);
      conn->close();
      pools->release(*pool, std::move(conn));
    }
  }
};

}  // namespace khz

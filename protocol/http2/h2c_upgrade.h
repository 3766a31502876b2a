// SPDX-License-Identifier: Apache-2.0
// Private to protocol/: h2c by Upgrade (RFC 7540 §3.2), HTTP/2's side of the hand-over from the
// HTTP/1.1 server (the front door, protocol/serve.cc, joins the two; see common/h2c.h).
#pragma once

#include <khz/common/task.h>
#include <khz/protocol/http2.h>
#include <khz/protocol/request.h>
#include <khz/protocol/server_core.h>
#include <khz/transport/connection.h>

#include <memory>

namespace khz::protocol::http2 {

// Answers 101 Switching Protocols, then serves the connection as HTTP/2 with `request` (owning
// copies of its bytes, body complete) as stream 1. Bytes already in conn.input() are the
// client's connection preface and what follows it.
Task<void> serve_upgraded(transport::Connection& conn, ServerCore& core, std::shared_ptr<const Http2Options> options,
                          Request request);

}  // namespace khz::protocol::http2

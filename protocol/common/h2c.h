// SPDX-License-Identifier: Apache-2.0
// Private to protocol/: h2c by Upgrade (RFC 7540 §3.2) as both versions see it. The HTTP/1.1
// server recognises the request and hands the connection to an H2cUpgrade; the front door
// (protocol/serve.cc), which knows both versions, supplies the one that calls HTTP/2. So
// protocol/http1 and protocol/http2 never include each other.
#pragma once

#include <khz/common/task.h>
#include <khz/protocol/request.h>
#include <khz/protocol/server_core.h>
#include <khz/transport/connection.h>

namespace khz::protocol {

// True for a request that asks to switch to h2c: "Upgrade: h2c", one HTTP2-Settings header, and
// both named in Connection.
bool wants_h2c_upgrade(const Request& request) noexcept;

// Takes over a connection whose request asked for h2c.
class H2cUpgrade {
 public:
  // Answers 101 Switching Protocols, then serves the connection as HTTP/2 with `request`
  // (owning copies of its bytes, body complete) as stream 1. Bytes already in conn.input() are
  // the client's connection preface and what follows it. `conn` and `core` outlive the Task.
  virtual Task<void> serve_upgraded(transport::Connection& conn, ServerCore& core, Request request) const = 0;

 protected:
  ~H2cUpgrade() = default;
};

}  // namespace khz::protocol

// SPDX-License-Identifier: Apache-2.0
// Private to protocol/: the HTTP/1.1 server as the front door (protocol/serve.cc) uses it.
// An Http1Server is one server's HTTP/1.1 side (its core, options and h2c hand-over); it
// serves a connection and parks it on itself between requests, so a resumed keep-alive
// connection comes straight back here.
// Threading: immutable after construction; serve() on each connection's loop.
#pragma once

#include <khz/common/task.h>
#include <khz/protocol/http1.h>
#include <khz/protocol/server_core.h>
#include <khz/transport/connection.h>

#include <memory>

namespace khz::protocol {
class H2cUpgrade;
}

namespace khz::protocol::http1 {

// Serves `conn` until it closes, parks or is handed over (see <khz/protocol/http1.h>).
// Parks with park(*owner), or park() when `owner` is null (the connection handler runs
// again). `h2c` null: Upgrade: h2c is not offered.
Task<void> serve_connection(transport::Connection& conn, ServerCore& core, std::shared_ptr<const Http1Options> options,
                            transport::Resumable* owner, const protocol::H2cUpgrade* h2c);

class Http1Server final : public transport::Resumable {
 public:
  // `core`, and `h2c` if not null, outlive the server.
  Http1Server(ServerCore& core, std::shared_ptr<const Http1Options> options, const protocol::H2cUpgrade* h2c)
      : core_(core), options_(std::move(options)), h2c_(h2c) {}

  Task<void> serve(transport::Connection& conn) { return serve_connection(conn, core_, options_, this, h2c_); }
  Task<void> resume(transport::Connection& conn) override { return serve(conn); }

  const Http1Options& options() const noexcept { return *options_; }
  const std::shared_ptr<const Http1Options>& shared_options() const noexcept { return options_; }

 private:
  ServerCore& core_;
  std::shared_ptr<const Http1Options> options_;
  const protocol::H2cUpgrade* h2c_;
};

}  // namespace khz::protocol::http1

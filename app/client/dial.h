// SPDX-License-Identifier: Apache-2.0
// Private to app/client: Dialer, how a pool gets a new connection. Dial (TCP or a Unix socket,
// within the dial timeout and what is left of the call), then for https: a CONNECT tunnel when
// the pool goes through a proxy, and the TLS handshake (SNI and the name check: the URL's host).
// It also holds the codec options every connection of the Client is made with.
#pragma once

#include <khz/app/client/options.h>
#include <khz/common/result.h>
#include <khz/common/task.h>
#include <khz/protocol/http1_client.h>
#include <khz/protocol/http2_client.h>
#include <khz/transport/connection.h>
#include <khz/transport/tls.h>

#include "deadline.h"

#include <memory>

namespace khz::client {

struct HostPool;

// Made once per Client; used from every loop (the TLS context is shared and immutable).
class Dialer {
 public:
  // Builds the TLS client context (CA file, client certificate, ALPN): throws
  // std::invalid_argument when its files cannot be loaded.
  explicit Dialer(const ClientOptions& options);

  // A new connection for `pool`, ready for HTTP: plain, or (pool.tls) a TlsConnection after its
  // handshake, whose alpn() tells the protocol the server picked ("h2"; else HTTP/1.1).
  // Errors: the dial's (transport::errc::timed_out, refused, ...), the tunnel's (open_tunnel),
  // the handshake's; a refused certificate is client::errc::certificate_verify_failed (the
  // reason logged at debug).
  Task<Result<std::unique_ptr<transport::Connection>>> open(const HostPool& pool, Clock::time_point now,
                                                            Clock::time_point deadline);

  // A connection for a protocol that takes the socket over after an HTTP/1.1 handshake
  // (WebSocket): through a proxy it is always a CONNECT tunnel (pool.tunnel set, plain or TLS),
  // and TLS offers only "http/1.1" by ALPN. Errors as open()'s.
  Task<Result<std::unique_ptr<transport::Connection>>> open_stream(const HostPool& pool, Clock::time_point now,
                                                                   Clock::time_point deadline);

  const Http1ClientOptions& http1() const noexcept { return http1_; }
  const Http2ClientOptions& http2() const noexcept { return http2_; }

 private:
  Task<Result<std::unique_ptr<transport::Connection>>> secure(const HostPool& pool,
                                                              std::unique_ptr<transport::Connection> raw,
                                                              Clock::time_point deadline, bool http1_only = false);

  const ClientOptions& options_;
  Http1ClientOptions http1_;
  Http2ClientOptions http2_;
  std::shared_ptr<const transport::TlsClientContext> tls_;
  std::shared_ptr<const transport::TlsClientContext> tls_http1_;  // open_stream: ALPN "http/1.1" only
};

}  // namespace khz::client

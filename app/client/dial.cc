// SPDX-License-Identifier: Apache-2.0
// Dialer: dial, CONNECT tunnel, TLS handshake; the codec options and ALPN offer of a Client's
// connections.
#include "dial.h"

#include <khz/common/log.h>
#include <khz/transport/dial.h>
#include <khz/transport/error.h>

#include "pool.h"
#include "proxy.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace khz::client {
namespace {

// ALPN offered on https connections: "h2" first when HTTP/2 is on (the server's pick decides
// the connection type, see Pools::acquire_h2), "http/1.1" always.
const std::vector<std::string>& client_alpn(bool http2) {
  static const std::vector<std::string> both{"h2", "http/1.1"};
  static const std::vector<std::string> http1{"http/1.1"};
  return http2 ? both : http1;
}

std::shared_ptr<const transport::TlsClientContext> make_tls(const ClientOptions& o, bool http2) {
  transport::TlsClientOptions t;
  t.ca_file = o.tls_ca_file;
  t.insecure_skip_verify = o.insecure_skip_verify;
  t.alpn = client_alpn(http2);
  t.client_certificate = {o.tls_client_cert_file, o.tls_client_key_file};
  t.handshake_timeout = o.tls_handshake_timeout;
  return transport::make_tls_client_context(std::move(t));
}

}  // namespace

Dialer::Dialer(const ClientOptions& o) : options_(o) {
  http1_.max_header_bytes = o.max_header_bytes;
  http1_.max_body_bytes = o.max_body_bytes;
  http1_.read_gap = o.read_timeout;
  http1_.write_timeout = o.write_timeout;
  http2_.max_header_list_size = o.max_header_bytes;
  http2_.max_body_bytes = o.max_body_bytes;
  http2_.read_gap = o.read_timeout;
  http2_.write_timeout = o.write_timeout;
  http2_.max_concurrent_streams = o.http2_max_concurrent_streams;
  tls_ = make_tls(o, o.http2);
  tls_http1_ = o.http2 ? make_tls(o, false) : tls_;
}

Task<Result<std::unique_ptr<transport::Connection>>> Dialer::open(const HostPool& pool, Clock::time_point now,
                                                                  Clock::time_point deadline) {
  auto conn = co_await transport::dial(pool.host, pool.port, within(options_.dial_timeout, deadline, now));
  if (conn && pool.tls) conn = co_await secure(pool, std::move(*conn), deadline);
  co_return conn;
}

Task<Result<std::unique_ptr<transport::Connection>>> Dialer::open_stream(const HostPool& pool, Clock::time_point now,
                                                                         Clock::time_point deadline) {
  auto conn = co_await transport::dial(pool.host, pool.port, within(options_.dial_timeout, deadline, now));
  if (!conn) co_return conn;
  if (pool.tls) co_return co_await secure(pool, std::move(*conn), deadline, true);
  if (!pool.tunnel.empty()) {
    co_return co_await open_tunnel(std::move(*conn), pool, http1_,
                                   std::min(deadline, after(options_.response_header_timeout)));
  }
  co_return conn;
}

// The TlsConnection owns the dialled (or tunnelled) connection; the handshake is bounded by
// tls_handshake_timeout and the total deadline.
Task<Result<std::unique_ptr<transport::Connection>>> Dialer::secure(const HostPool& pool,
                                                                    std::unique_ptr<transport::Connection> raw,
                                                                    Clock::time_point deadline, bool http1_only) {
  if (!pool.tunnel.empty()) {
    auto tunnel = co_await open_tunnel(std::move(raw), pool, http1_,
                                       std::min(deadline, after(options_.response_header_timeout)));
    if (!tunnel) co_return tunnel.error();
    raw = std::move(*tunnel);
  }
  auto conn = std::make_unique<transport::TlsConnection>(std::move(raw), http1_only ? tls_http1_ : tls_, pool.server_name);
  // the total timeout bounds the handshake too
  if (auto t = within(options_.tls_handshake_timeout, deadline, Clock::now()); t != options_.tls_handshake_timeout) {
    conn->set_handshake_timeout(t);
  }
  if (auto ec = co_await conn->handshake()) {
    std::string_view why = options_.insecure_skip_verify ? std::string_view() : conn->verify_error();
    conn->close();
    if (ec == transport::errc::tls_handshake_failed && !why.empty()) {
      KHZ_LOG(debug, "client: " << pool.key << ": certificate not verified: " << why);
      co_return std::error_code(client::errc::certificate_verify_failed);
    }
    co_return ec;
  }
  // ALPN: the caller looks at conn->alpn() ("h2": HTTP/2; "http/1.1" or none: HTTP/1.1).
  co_return std::unique_ptr<transport::Connection>(std::move(conn));
}

}  // namespace khz::client

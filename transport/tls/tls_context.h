// SPDX-License-Identifier: Apache-2.0
// Private to transport/tls: the OpenSSL side of TlsServerContext and TlsClientContext.
//
// A server context holds one SSL_CTX per certificate, configured alike (versions, ALPN,
// client verification, tickets); the first one starts every handshake and, from the
// servername callback, SNI switches the SSL to the SSL_CTX whose certificate names match.
// Threading: built once, then only read (OpenSSL's SSL_CTX is safe to share across threads).
#pragma once

#include <khz/common/c_handle.h>
#include <khz/transport/tls.h>

#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace khz::transport {

using SslCtxPtr = CHandle<SSL_CTX, SSL_CTX_free>;
using SslPtr = CHandle<SSL, SSL_free>;

// What OpenSSL's error queue says (reasons joined by "; "), and clears it. "" when empty.
std::string openssl_errors();

class TlsServerContext {
 public:
  struct Certificate {
    SslCtxPtr ctx;
    std::vector<std::string> names;  // lower-case DNS names; "*.example.com" wildcards
  };

  explicit TlsServerContext(TlsServerOptions options);

  SSL_CTX* default_ctx() const noexcept { return certificates_.front().ctx.get(); }
  // The SSL_CTX whose certificate covers `server_name`; nullptr when none does.
  SSL_CTX* ctx_for(std::string_view server_name) const noexcept;
  std::chrono::milliseconds handshake_timeout() const noexcept { return options_.handshake_timeout; }
  const std::vector<std::string>& alpn() const noexcept { return options_.alpn; }

 private:
  TlsServerOptions options_;
  std::vector<Certificate> certificates_;
};

class TlsClientContext {
 public:
  explicit TlsClientContext(TlsClientOptions options);

  SSL_CTX* ctx() const noexcept { return ctx_.get(); }
  // The context for a new connection: loads the system CA store first, once (thread-safe).
  SSL_CTX* ctx_for_connection() const;
  bool verify() const noexcept { return !options_.insecure_skip_verify; }
  std::chrono::milliseconds handshake_timeout() const noexcept { return options_.handshake_timeout; }

 private:
  TlsClientOptions options_;
  SslCtxPtr ctx_;
  bool load_system_ca_ = false;
  mutable std::once_flag system_ca_once_;
};

}  // namespace khz::transport

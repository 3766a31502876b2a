// SPDX-License-Identifier: Apache-2.0
// khz::transport TLS: a Connection decorator that speaks TLS 1.2/1.3 (OpenSSL 3) over any
// other Connection, so TLS runs on every backend. OpenSSL types stay in transport/tls/.
//
//   // Server: one context for the whole server (immutable, shared by all loops).
//   auto tls = khz::transport::make_tls_server_context({
//       .certificates = {{"site.crt", "site.key"}, {"other.crt", "other.key"}},  // SNI; first is default
//       .alpn = {"h2", "http/1.1"}});                                          // server preference
//   transporter->start([tls](khz::transport::Connection& plain) { return serve(plain, tls); });
//
//   khz::Task<> serve(khz::transport::Connection& plain, std::shared_ptr<const TlsServerContext> tls) {
//     khz::transport::TlsConnection conn(plain, tls);
//     if (co_await conn.handshake()) co_return;        // failures are logged with the peer
//     if (conn.alpn() == "h2") ... else co_await khz::serve_http1(conn, core, options);
//     co_await conn.shutdown();                        // close_notify; no I/O left pending
//   }
//
//   // Client: verifies the peer against the system CA store (plus ca_file) and `server_name`.
//   auto ctx = khz::transport::make_tls_client_context({.alpn = {"http/1.1"}});
//   khz::transport::TlsConnection conn(dialled, ctx, "example.com");   // SNI + hostname check
//   if (auto ec = co_await conn.handshake()) ...
//
// Data path: ciphertext is read from inner.input() and written to inner.output() through a
// BIO whose callbacks copy straight between OpenSSL's record buffers and the inner
// LinkedBuffers (no memory BIO in between); SSL_read decrypts into input().reserve() and
// flush() encrypts output() into inner.output(). Once a connection is up, a request costs no
// heap allocation in this layer.
// Contract: a TlsConnection is a Connection (see connection.h): fill completes later on the
// loop; flush too, unless the inner connection takes all the records at once (then the
// coroutine goes on without suspending); one fill and one flush may be outstanding together
// (TLS reads that must write — alerts, key updates — and the writes behind them are handled
// inside). Timeouts, idleness and draining apply to the inner connection; close() closes it.
// Lifetime: `inner` must outlive the TlsConnection; destroy the TlsConnection only with no
// fill, flush, handshake or shutdown outstanding (then no inner operation is outstanding).
// Threading: a TlsConnection lives on its connection's loop; contexts are immutable and
// thread-safe.
#pragma once

#include <khz/common/metrics.h>
#include <khz/common/task.h>
#include <khz/transport/connection.h>
#include <khz/transport/transporter.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace khz::transport {

enum class TlsVersion { tls1_2, tls1_3 };

// Whether a server asks for and checks a client certificate (against client_ca_file).
enum class ClientCertMode {
  none,      // do not ask
  optional,  // ask; a client without one is accepted, a bad one is refused
  require,   // ask; a client without a valid one is refused
};

// A PEM certificate chain (leaf first) and its private key.
struct TlsCertificate {
  std::string cert_file{};
  std::string key_file{};
};

struct TlsServerOptions {
  // The first is the default; SNI picks another whose certificate names (subjectAltName DNS
  // entries, else the subject CN; "*.example.com" wildcards) match the requested server name.
  std::vector<TlsCertificate> certificates{};
  TlsVersion min_version = TlsVersion::tls1_2;
  TlsVersion max_version = TlsVersion::tls1_3;
  // ALPN protocols in the server's order of preference; a client offering none of them
  // negotiates no protocol (and gets HTTP/1.1). Empty: no ALPN.
  std::vector<std::string> alpn{};
  std::string client_ca_file{};  // PEM CAs that client certificates must chain to
  ClientCertMode client_cert = ClientCertMode::none;
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};  // zero: none
  // Stateless resumption (TLS 1.3 tickets, TLS 1.2 RFC 5077 tickets) with per-process
  // random keys; TLS 1.2 clients without tickets resume from the in-memory session cache.
  bool session_tickets = true;
};

struct TlsClientOptions {
  // Peers are verified against the system CA store (OpenSSL's default paths) plus this file.
  std::string ca_file{};
  bool use_system_ca = true;
  // Skips certificate and hostname verification. For tests and private networks only.
  bool insecure_skip_verify = false;
  std::vector<std::string> alpn{};  // offered, in order of preference
  TlsCertificate client_certificate{};  // optional; both files or neither
  TlsVersion min_version = TlsVersion::tls1_2;
  TlsVersion max_version = TlsVersion::tls1_3;
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
};

// Immutable, thread-safe contexts; build one per configuration and share it.
class TlsServerContext;
class TlsClientContext;

// Load certificates, keys and CAs. Throw std::invalid_argument naming the file and
// OpenSSL's reason when something cannot be loaded or does not fit (key not matching its
// certificate, no certificates, ALPN name longer than 255 bytes, min_version > max_version).
std::shared_ptr<const TlsServerContext> make_tls_server_context(TlsServerOptions options);
std::shared_ptr<const TlsClientContext> make_tls_client_context(TlsClientOptions options);

// TLS for every connection a transporter accepts (TransporterOptions::layer): a server-role
// TlsConnection over each socket; the handshake runs before the connection handler (failures
// logged, the connection closed) and close_notify goes out before the socket closes. The
// handler sees the TlsConnection; negotiated_protocol() is its ALPN choice.
std::shared_ptr<const ConnectionLayer> tls_server_layer(std::shared_ptr<const TlsServerContext> context);

// Handshake counts for a server layer (<khz/common/metrics.h>; empty handles count nothing).
// The layer reads them through the pointer on each handshake: fill them before serving.
struct TlsHandshakeCounters {
  metrics::Counter completed{};
  metrics::Counter failed{};  // a bad handshake, a timeout, or a peer that left during it
};
std::shared_ptr<const ConnectionLayer> tls_server_layer(std::shared_ptr<const TlsServerContext> context,
                                                        std::shared_ptr<const TlsHandshakeCounters> counters);

// A TLS session over `inner` (server or client role, by constructor). See the file comment.
class TlsConnection final : public Connection {
 public:
  // Server role.
  TlsConnection(Connection& inner, std::shared_ptr<const TlsServerContext> context);
  // Client role: `server_name` is sent as SNI (unless it is an IP address) and, unless
  // insecure_skip_verify, must match the peer's certificate (DNS name or IP address).
  TlsConnection(Connection& inner, std::shared_ptr<const TlsClientContext> context, std::string_view server_name);
  // Client role over a connection it owns (destroyed after the TLS state): for pools that hold
  // one Connection per entry (khz::Client).
  TlsConnection(std::unique_ptr<Connection> inner, std::shared_ptr<const TlsClientContext> context,
                std::string_view server_name);
  ~TlsConnection() override;

  // Runs the handshake, bounded by the context's handshake_timeout. On failure the reason is
  // logged (with the peer address), an alert is sent when one applies, and the error is
  // returned: errc::tls_handshake_failed, timed_out, eof, cancelled, shutting_down or the OS
  // error. Call once, before any fill or flush.
  Task<std::error_code> handshake();
  // Overrides the context's handshake_timeout for this connection (before handshake(); zero:
  // none), e.g. to fit what is left of a caller's overall deadline.
  void set_handshake_timeout(std::chrono::milliseconds timeout) noexcept;

  // Sends close_notify and flushes it (bounded by the write timeout, or 1 s if none); waits
  // until no inner operation is outstanding. Errors are ignored: the connection closes next.
  Task<void> shutdown();

  // After a successful handshake (views valid while the connection lives):
  std::string_view alpn() const noexcept;         // negotiated protocol; "" when none
  std::string_view negotiated_protocol() const noexcept override { return alpn(); }
  bool is_tls() const noexcept override { return true; }
  std::string_view server_name() const noexcept;  // SNI the client sent (server role); "" when none
  std::string_view version() const noexcept;      // "TLSv1.3", "TLSv1.2"
  std::string_view cipher() const noexcept;
  bool session_reused() const noexcept;
  bool has_peer_certificate() const noexcept;     // a verified client (or server) certificate
  std::string peer_certificate_subject() const;   // one-line subject DN; "" when none
  // After a failed handshake: why the peer's certificate was refused (OpenSSL's verify
  // reason, e.g. "hostname mismatch"); "" when verification did not fail.
  std::string_view verify_error() const noexcept;

  void close() noexcept override;
  std::string peer_address() const override;
  std::string local_address() const override;

  struct State;  // private to tls/

 protected:
  void start_fill(std::size_t n, std::coroutine_handle<> h) override;
  bool start_flush(std::coroutine_handle<> h) override;
  void on_idle_while_draining() noexcept override;

 private:
  std::unique_ptr<Connection> owned_inner_;  // declared first: destroyed after state_
  std::unique_ptr<State> state_;
};

}  // namespace khz::transport

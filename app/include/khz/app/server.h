// SPDX-License-Identifier: Apache-2.0
// khz::Server: an Engine served over a transport, with its lifecycle (Hertz's server.Hertz).
//
//   int main() {
//     khz::Server server({.address = "127.0.0.1:8888"});
//     server.get("/ping", [](khz::RequestContext& ctx) { ctx.json(200, khz::H{{"message", "pong"}}); });
//     server.spin();   // serves until SIGINT/SIGTERM, then drains and returns
//   }
//
// Embedding and tests: start() returns the bound port without blocking; shutdown() stops.
// Shutdown: stop accepting; idle keep-alive connections close at once; in-flight requests
// finish (their responses carry "Connection: close"; HTTP/2: GOAWAY) until exit_wait_timeout; the rest are
// closed; then the offload pool stops (RequestContext::offload: jobs of the requests that
// finished during the drain ran normally; any job still queued is dropped, a running one is
// waited for, and the threads are joined); then the on_shutdown hooks run.
// Threading: construct, register routes, start/spin and shutdown from one thread; handlers run
// on the loop threads.
#pragma once

#include <khz/app/engine.h>
#include <khz/common/result.h>
#include <khz/protocol/http2.h>
#include <khz/transport/tls.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace khz {

namespace transport {
class Transporter;
}

// HTTPS: set tls_cert_file and tls_key_file and the server speaks only TLS on its address.
//   khz::Server server({.address = "0.0.0.0:8443", .tls_cert_file = "site.crt", .tls_key_file = "site.key"});

struct ServerOptions {
  std::string address = "0.0.0.0:8888";
  std::string transport{};  // "netpoll" or "asio"; empty: $KHZ_TRANSPORT, else the default backend
  int loops = 0;          // event loops; 0: one per core
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};  // whole header section
  std::chrono::milliseconds read_timeout{std::chrono::seconds(30)};    // longest gap in a body
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};    // between requests
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds exit_wait_timeout{std::chrono::seconds(5)};  // drain deadline
  std::size_t max_uri_bytes = 8 * 1024;
  std::size_t max_header_bytes = 64 * 1024;
  std::size_t max_body_bytes = 4 * 1024 * 1024;
  std::string server_name = "khz";
  // HTTP/2 without TLS on the same port: prior knowledge and "Upgrade: h2c".
  bool h2c = true;
  // HTTP/2 over TLS: "h2" offered by ALPN before "http/1.1" (with a certificate configured).
  bool h2 = true;
  // HTTP/2 settings, limits and timeouts (server_name is taken from above).
  Http2Options http2{};
  std::size_t max_connections = 0;  // beyond it a new connection gets 503 and is closed; 0: no limit
  // TLS (see <khz/transport/tls.h>). The default certificate (PEM chain, leaf first, and key)
  // and more for SNI, each chosen when the client asks for a name its certificate covers.
  std::string tls_cert_file{};
  std::string tls_key_file{};
  std::vector<transport::TlsCertificate> tls_sni_certificates{};
  std::string tls_client_ca_file{};  // client certificates must chain to these CAs
  transport::ClientCertMode tls_client_verify = transport::ClientCertMode::none;
  transport::TlsVersion tls_min_version = transport::TlsVersion::tls1_2;
  std::chrono::milliseconds tls_handshake_timeout{std::chrono::seconds(10)};
  // Engine options (Hertz's names and defaults; see EngineOptions).
  bool redirect_trailing_slash = true;
  bool redirect_fixed_path = false;
  bool handle_method_not_allowed = false;
  bool use_raw_path = false;
  bool unescape_path_values = true;
  bool remove_extra_slash = false;
  bool redirect_forwarded_prefix = false;  // off; read its caveat in EngineOptions first
  HandlerErrorOptions handler_error{};  // a handler's exception: 500, middleware's headers kept
  // RequestContext::offload's worker pool: up to `threads` threads (default 4), started on the
  // first offload (a server that never offloads starts none), and up to `max_queue` jobs
  // (default 1024) waiting for one; an offload beyond that fails fast with a 503.
  WorkerPoolOptions offload{};
};

class Server : public Engine {
 public:
  explicit Server(ServerOptions options = {});
  ~Server() override;

  // Serves until SIGINT or SIGTERM (or shutdown() from another thread), then shuts down
  // gracefully. The calling thread runs the first event loop meanwhile, so with one loop the
  // process has no other thread. Throws std::system_error when the address cannot be bound.
  void spin();

  // Starts serving on background loop threads; returns the bound port (useful with port 0).
  Result<std::uint16_t> start();
  // Graceful shutdown (see above). Idempotent; safe from any thread but a loop thread.
  void shutdown();

  void on_shutdown(std::function<void()> hook) { hooks_.push_back(std::move(hook)); }
  std::uint16_t port() const noexcept { return port_; }
  // Connections being served now (thread-safe).
  std::size_t active_connections() const noexcept;
  const ServerOptions& server_options() const noexcept { return options_; }

 private:
  ServerOptions options_;
  std::unique_ptr<transport::Transporter> transporter_;
  std::shared_ptr<const transport::TlsServerContext> tls_;  // null: plaintext
  std::vector<std::function<void()>> hooks_;
  std::uint16_t port_ = 0;
  std::mutex shutdown_mutex_;  // a second shutdown() waits for the first to finish
  bool running_ = false;
};

}  // namespace khz

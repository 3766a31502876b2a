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
// Lifecycle hooks (Hertz's OnRun, OnAccept/OnConnect, OnShutdown), each kind in registration order:
//
//   server.on_run([](std::string_view address) { registry.announce(address); });   // listening now
//   server.on_accept([](const khz::ConnectionInfo& c) { return !banned(c.peer_address); });
//   server.on_shutdown([] { registry.withdraw(); });
//
// Threading: construct, register routes and hooks, start/spin and shutdown from one thread;
// handlers and on_accept hooks run on the loop threads.
#pragma once

#include <khz/app/engine.h>
#include <khz/app/metrics.h>
#include <khz/common/result.h>
#include <khz/protocol/http2.h>
#include <khz/protocol/serve.h>
#include <khz/transport/tls.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace khz {

namespace transport {
class Transporter;
}
class ServerMetrics;  // app/metrics/server_metrics.h

// HTTPS: set tls_cert_file and tls_key_file and the server speaks only TLS on its address.
//   khz::Server server({.address = "0.0.0.0:8443", .tls_cert_file = "site.crt", .tls_key_file = "site.key"});

struct ServerOptions {
  // Where to listen: "host:port", "[v6]:port" or ":port" (port 0 picks a free one; see
  // listen_address()), or a Unix domain socket: "unix:/run/app.sock" (the file is created with
  // unix_socket_mode; a stale socket file a dead server left is replaced, a live socket or any
  // other file is not: EADDRINUSE; the file is removed at shutdown) or "unix:@name" (Linux's
  // abstract namespace, no file). Over a Unix socket, peer and local addresses read
  // "unix:/run/app.sock" ("unix:" for the usual unnamed client socket).
  std::string address = "0.0.0.0:8888";
  unsigned unix_socket_mode = 0660;  // permission bits of a "unix:/path" socket file
  // >= 0: serve this listening socket instead of binding `address` (default -1: bind): one
  // systemd passed (socket activation: khz::transport::systemd_listen_fds()), one a parent
  // handed over on a graceful restart, or one the program made (open_listen_socket); see
  // <khz/transport/listen.h>. TCP or Unix, SOCK_STREAM; listen() is called if it is bound but
  // not listening. The server serves a duplicate and closes only that at shutdown: the fd
  // stays the caller's, and the socket keeps listening (connections wait in its backlog) until
  // every process holding it closed it. A Unix socket's file is never removed. netpoll: all
  // loops share the one socket (EPOLLEXCLUSIVE; see transport/DESIGN.md).
  int listen_fd = -1;
  std::string transport{};  // "netpoll" or "asio"; empty: $KHZ_TRANSPORT, else the default backend
  int loops = 0;          // event loops; 0: one per core
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};  // whole header section
  std::chrono::milliseconds read_timeout{std::chrono::seconds(30)};    // longest gap in a body
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};    // between requests
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};   // each flush to the peer
  std::chrono::milliseconds exit_wait_timeout{std::chrono::seconds(5)};  // drain deadline
  std::size_t max_uri_bytes = 8 * 1024;           // request target; one byte more: 414
  // Method, target and each field line's name and value plus 4 (": ", CRLF); one more: 431.
  std::size_t max_header_bytes = 64 * 1024;
  std::size_t max_body_bytes = 4 * 1024 * 1024;   // collected body (per route: max_body_bytes()); over: 413
  std::string server_name = "khz";                // the Server header; empty: none
  // HTTP/2 without TLS on the same port: prior knowledge and "Upgrade: h2c".
  bool h2c = true;
  // HTTP/2 over TLS: "h2" offered by ALPN before "http/1.1" (with a certificate configured).
  bool h2 = true;
  // HTTP/2 settings, limits and timeouts (server_name is taken from above).
  Http2Options http2{};
  std::size_t max_connections = 0;  // beyond it a new connection gets 503 and is closed; 0: no limit
  // TLS (see <khz/transport/tls.h>). The default certificate (PEM chain, leaf first, and key)
  // and more for SNI, each chosen when the client asks for a name its certificate covers.
  std::string tls_cert_file{};  // both set: the server speaks only TLS on its address
  std::string tls_key_file{};
  std::vector<transport::TlsCertificate> tls_sni_certificates{};
  std::string tls_client_ca_file{};  // client certificates must chain to these CAs
  transport::ClientCertMode tls_client_verify = transport::ClientCertMode::none;  // ask for / require one
  transport::TlsVersion tls_min_version = transport::TlsVersion::tls1_2;  // older handshakes fail
  std::chrono::milliseconds tls_handshake_timeout{std::chrono::seconds(10)};  // then the connection closes
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
  // Request forms (RequestContext::form, file, read_form; <khz/app/form.h>): the limits of
  // urlencoded and multipart bodies (each 413 when crossed), the size above which an uploaded
  // file goes to a temp file, and the directory for those.
  FormOptions form{};
  // > 0: start() sets glibc's malloc to keep up to this many freed bytes at the heap's top
  // (M_TRIM_THRESHOLD) and to serve allocations up to 32 MiB from the heap (M_MMAP_THRESHOLD;
  // glibc stops tuning both itself once one is set). Process-wide, so off by default (0:
  // glibc's own policy). Worth it with io_uring: a completion-based loop holds each in-flight
  // message's buffers until the batch's sends complete, then frees them together, and glibc
  // hands the heap's top back to the kernel after every batch and faults it in again on the
  // next (a 16 KiB WebSocket echo ran at two thirds the rate for it). 64 MiB is a fair value.
  std::size_t malloc_trim_threshold = 0;
};

// A new connection, as an on_accept hook sees it. The views live for the hook's call.
struct ConnectionInfo {
  std::string_view peer_address{};   // "127.0.0.1:51234", "[::1]:51234"; "unix:" over a Unix socket
  std::string_view local_address{};  // where it came in: "127.0.0.1:8888", "unix:/run/app.sock"
};

class Server : public Engine {
 public:
  explicit Server(ServerOptions options = {});
  ~Server() override;

  // Serves until SIGINT or SIGTERM (or shutdown() from another thread), then shuts down
  // gracefully. The calling thread runs the first event loop meanwhile, so with one loop the
  // process has no other thread. Throws std::system_error when the address cannot be bound
  // (or listen_fd not served), and what an on_run hook threw.
  void spin();

  // Starts serving on background loop threads; returns the bound port (useful with port 0;
  // 0 for a Unix socket).
  Result<std::uint16_t> start();
  // Graceful shutdown (see above). Idempotent; safe from any thread but a loop thread.
  void shutdown();

  // ---- Lifecycle hooks. Register on_run and on_accept hooks before start()/spin() (after:
  // std::logic_error).
  //
  // Once the server listens and its loops run: hook(listen_address()) (the real port for port
  // 0; "unix:/path" for a Unix socket), once, on the thread that called start() or spin(),
  // before start() returns. Connections may be served meanwhile, except under spin() on netpoll
  // with one loop: the calling thread runs that loop only after the hooks, so until then
  // connections wait in the backlog (a hook that makes a request to its own server blocks).
  // A hook that throws stops the server (shutdown(), on_shutdown hooks included); start() or
  // spin() then throws that exception, and the hooks after it do not run.
  void on_run(std::function<void(std::string_view listen_address)> hook);
  // For every new connection, right after it is accepted: on the loop thread that will serve
  // it, before anything else happens on it (no byte read, no TLS handshake, before the
  // max_connections check). Return false to refuse: the connection is closed at once and never
  // served; the hooks after it are not asked. A hook that throws refuses too (logged). Hooks
  // run concurrently on different loops: make them thread-safe, and quick (the loop waits).
  // Hertz's OnAccept and OnConnect both map here.
  void on_accept(std::function<bool(const ConnectionInfo& connection)> hook);
  // When a shutdown begins, before the listeners close and the connections drain, on the
  // thread that called shutdown(): withdraw the server from service discovery or a load
  // balancer here, so callers stop choosing it while its requests in flight finish. A hook that
  // throws is logged; the shutdown goes on. May be registered at any time before that shutdown.
  void on_drain(std::function<void()> hook) { drain_hooks_.push_back(std::move(hook)); }
  // After a shutdown has drained and closed the connections and stopped the loops, on the
  // thread that called shutdown() (spin()'s, on a signal; the destructor's). May be registered
  // at any time before that shutdown.
  void on_shutdown(std::function<void()> hook) { shutdown_hooks_.push_back(std::move(hook)); }
  std::uint16_t port() const noexcept { return port_; }
  // Where the server listens once started: "127.0.0.1:41234" (the port picked for port 0),
  // "[::]:8080", "unix:/run/app.sock", "unix:@name"; "" before start().
  const std::string& listen_address() const noexcept { return listen_address_; }
  // Connections being served now (thread-safe).
  std::size_t active_connections() const noexcept;
  const ServerOptions& server_options() const noexcept { return options_; }

  // ---- Metrics (<khz/app/metrics.h>): off until enabled; call before start(). Serves
  // GET options.path (Prometheus text or OpenMetrics, by Accept) on this server or on a
  // listener of its own, and turns the built-in instruments on. Twice: std::logic_error.
  void enable_metrics(MetricsOptions options = {});
  // The registry behind /metrics, for the program's own instruments (std::logic_error before
  // enable_metrics).
  metrics::Registry& metrics_registry();
  // The metrics listener's port (MetricsOptions::address set), once started; else 0.
  std::uint16_t metrics_port() const noexcept;

 private:
  // on_accept hooks' verdict on `conn` (on its loop).
  bool admitted(transport::Connection& conn) const;
  // The connection limit (max_connections): true refuses `conn`, once, before its first request.
  bool over_connection_limit(transport::Connection& conn) const;

  ServerOptions options_;
  std::unique_ptr<ServerMetrics> metrics_;  // null: metrics off; outlives the transporter
  std::shared_ptr<const transport::TlsServerContext> tls_;  // null: plaintext
  // The TLS layer's handshake counters: empty until enable_metrics fills them (before start).
  std::shared_ptr<transport::TlsHandshakeCounters> tls_counters_ = std::make_shared<transport::TlsHandshakeCounters>();
  std::unique_ptr<protocol::FrontDoor> front_door_;  // from start(); destroyed after the transporter
  std::unique_ptr<transport::Transporter> transporter_;
  std::vector<std::function<void(std::string_view)>> run_hooks_;
  std::vector<std::function<bool(const ConnectionInfo&)>> accept_hooks_;  // read by the loops once started
  std::vector<std::function<void()>> drain_hooks_;
  std::vector<std::function<void()>> shutdown_hooks_;
  std::uint16_t port_ = 0;
  std::string listen_address_;
  std::mutex shutdown_mutex_;  // a second shutdown() waits for the first to finish
  bool running_ = false;
};

}  // namespace khz

// SPDX-License-Identifier: Apache-2.0
#include <khz/app/server.h>
#include <khz/common/log.h>
#include <khz/transport/transporter.h>

#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <exception>
#include <stdexcept>
#include <system_error>

#include "malloc_tuning.h"
#include "metrics/server_instruments.h"
#include "metrics/server_metrics.h"

namespace khz {

Server::Server(ServerOptions options)
    : Engine(EngineOptions{
          .redirect_trailing_slash = options.redirect_trailing_slash,
          .redirect_fixed_path = options.redirect_fixed_path,
          .handle_method_not_allowed = options.handle_method_not_allowed,
          .use_raw_path = options.use_raw_path,
          .unescape_path_values = options.unescape_path_values,
          .remove_extra_slash = options.remove_extra_slash,
          .redirect_forwarded_prefix = options.redirect_forwarded_prefix,
          .handler_error = options.handler_error,
          .offload = options.offload,
          .form = options.form,
      }),
      options_(std::move(options)) {
  if (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty()) {
    transport::TlsServerOptions tls{
        .certificates = {{options_.tls_cert_file, options_.tls_key_file}},
        .min_version = options_.tls_min_version,
        .alpn = options_.h2 ? std::vector<std::string>{"h2", "http/1.1"} : std::vector<std::string>{"http/1.1"},
        .client_ca_file = options_.tls_client_ca_file,
        .client_cert = options_.tls_client_verify,
        .handshake_timeout = options_.tls_handshake_timeout,
    };
    tls.certificates.insert(tls.certificates.end(), options_.tls_sni_certificates.begin(),
                            options_.tls_sni_certificates.end());
    tls_ = transport::make_tls_server_context(std::move(tls));
  }
  // Fail at construction on a bad option (unknown transport, malformed address).
  transporter_ = transport::make_transporter(
      options_.transport,
      {.address = options_.address,
       .loops = options_.loops,
       .unix_socket_mode = options_.unix_socket_mode,
       .listen_fd = options_.listen_fd,
       .layer = tls_ ? transport::tls_server_layer(tls_, tls_counters_) : nullptr});
  if (options_.listen_fd < 0 && transport::unix_socket_path(options_.address).empty()) {
    (void)transport::parse_host_port(options_.address);
  }
}

Server::~Server() {
  shutdown();
  offload_pool().stop();  // its jobs post to the loops: before transporter_ (and they) go
  set_instruments(nullptr);  // they report into metrics_' registry, which goes before the Engine
}

Result<std::uint16_t> Server::start() {
  if (options_.malloc_trim_threshold > 0) detail::keep_freed_memory(options_.malloc_trim_threshold);
  Http1Options h1{
      .max_uri_bytes = options_.max_uri_bytes,
      .max_header_bytes = options_.max_header_bytes,
      .max_body_bytes = options_.max_body_bytes,
      .header_timeout = options_.header_timeout,
      .read_timeout = options_.read_timeout,
      .idle_timeout = options_.idle_timeout,
      .write_timeout = options_.write_timeout,
      .server_name = options_.server_name,
      .stamp_reads = instruments() != nullptr,  // the request-duration metric starts at the read
  };
  // HTTP/2: over TLS when ALPN picks "h2", on a plain port as h2c; null: HTTP/1.1 only.
  std::shared_ptr<const Http2Options> http2;
  if (tls_ ? options_.h2 : options_.h2c) {
    Http2Options h2 = options_.http2;
    h2.server_name = options_.server_name;
    if (metrics_ && metrics_->options().server_instruments) {
      auto& r = metrics_->registry();
      h2.streams_opened = r.counter("khz_http2_streams_opened", "HTTP/2 request streams opened by clients.").with({});
      h2.streams_reset = r.counter("khz_http2_streams_reset", "HTTP/2 streams reset: RST_STREAM from the client, or sent with an error code.")
                             .with({});
    }
    http2 = std::make_shared<const Http2Options>(std::move(h2));
    if (!tls_) h1.h2c = http2;  // Upgrade: h2c
  }
  auto http1 = std::make_shared<const Http1Options>(std::move(h1));
  transport::AcceptFilter accept;
  if (!accept_hooks_.empty()) accept = [this](transport::Connection& conn) { return admitted(conn); };
  if (metrics_ && metrics_->options().server_instruments) {
    accept = [this, hooks = !accept_hooks_.empty()](transport::Connection& conn) {
      metrics_->accepted();
      if (hooks && !admitted(conn)) {
        metrics_->refused(false);
        return false;
      }
      return true;
    };
  }
  std::function<bool(transport::Connection&)> refuse;
  if (options_.max_connections != 0) {
    refuse = [this](transport::Connection& conn) { return over_connection_limit(conn); };
  }
  front_door_ = std::make_unique<protocol::FrontDoor>(
      *this, protocol::FrontDoorOptions{.http1 = std::move(http1),
                                        .http2 = std::move(http2),
                                        .h2c_prior_knowledge = !tls_,
                                        .refuse = std::move(refuse)});
  // Held until running_ is set: a shutdown() from another thread that comes as soon as the
  // first request is answered (before start() returns) waits for it instead of finding the
  // server not running, doing nothing, and leaving spin() to wait for ever.
  std::unique_lock lock(shutdown_mutex_);
  auto port = transporter_->start(front_door_->handler(), std::move(accept));
  if (!port) return port;
  port_ = *port;
  listen_address_ = transporter_->listen_address();
  running_ = true;
  lock.unlock();
  if (metrics_ && metrics_->listener) {
    auto metrics_port = metrics_->listener->start();
    if (!metrics_port) {
      KHZ_LOG(error, "khz: cannot listen for metrics on " << metrics_->options().address << ": "
                                                          << metrics_port.error().message() << "; shutting down");
      shutdown();
      return metrics_port;
    }
  }
  try {
    for (auto& hook : run_hooks_) hook(listen_address_);
  } catch (...) {
    KHZ_LOG(error, "khz: an on_run hook failed; shutting down");
    shutdown();
    throw;
  }
  return port;
}

void Server::on_run(std::function<void(std::string_view listen_address)> hook) {
  if (running_) throw std::logic_error("khz::Server::on_run after start()");
  run_hooks_.push_back(std::move(hook));
}

void Server::on_accept(std::function<bool(const ConnectionInfo& connection)> hook) {
  if (running_) throw std::logic_error("khz::Server::on_accept after start()");
  accept_hooks_.push_back(std::move(hook));
}

bool Server::admitted(transport::Connection& conn) const {
  const std::string peer = conn.peer_address();
  const std::string local = conn.local_address();
  const ConnectionInfo info{.peer_address = peer, .local_address = local};
  try {
    for (const auto& hook : accept_hooks_) {
      if (!hook(info)) {
        KHZ_LOG(debug, "khz: on_accept refused " << peer);
        return false;
      }
    }
  } catch (const std::exception& e) {
    KHZ_LOG(error, "khz: an on_accept hook threw (" << e.what() << "); refusing " << peer);
    return false;
  } catch (...) {
    KHZ_LOG(error, "khz: an on_accept hook threw; refusing " << peer);
    return false;
  }
  return true;
}

bool Server::over_connection_limit(transport::Connection& conn) const {
  // active_connections() counts this one too. Asked once per connection (the front door's
  // admission): a keep-alive connection's later requests are never refused.
  if (transporter_->active_connections() <= options_.max_connections) return false;
  if (metrics_) metrics_->refused(true);
  KHZ_LOG(warn, "khz: connection limit (" << options_.max_connections << ") reached; refusing "
                                          << conn.peer_address());
  return true;
}

std::size_t Server::active_connections() const noexcept { return transporter_->active_connections(); }

void Server::enable_metrics(MetricsOptions options) {
  if (running_) throw std::logic_error("khz::Server::enable_metrics after start()");
  if (metrics_) throw std::logic_error("khz::Server::enable_metrics called twice");
  if (options.path.empty() || options.path.front() != '/') {
    throw std::invalid_argument("khz::MetricsOptions::path '" + options.path + "': must begin with '/'");
  }
  if (!options.debug_path.empty() && options.debug_path.front() != '/') {
    throw std::invalid_argument("khz::MetricsOptions::debug_path '" + options.debug_path + "': must begin with '/'");
  }
  metrics_ = std::make_unique<ServerMetrics>(std::move(options), transporter_->name());
  const auto& opts = metrics_->options();
  auto& registry = metrics_->registry();
  if (opts.server_instruments) {
    set_instruments(std::make_unique<ServerInstruments>(registry));
    const std::string transport(transporter_->name());
    if (tls_) {
      auto handshakes = registry.counter("khz_tls_handshakes", "TLS handshakes by result.", {"result"});
      tls_counters_->completed = handshakes.with({"ok"});
      tls_counters_->failed = handshakes.with({"failed"});
    }
    metrics_->callbacks.push_back(registry.callback("khz_server_connections_open", "Connections open now.", metrics::Kind::gauge, {"transport"},
                      [this, transport](metrics::CallbackSink& sink) {
                        sink.value({transport}, static_cast<double>(transporter_->active_connections()));
                      }));
  }
  ServerMetrics* m = metrics_.get();
  Engine* routes = this;
  if (!opts.address.empty()) {
    metrics_->listener = std::make_unique<Server>(ServerOptions{
        .address = opts.address, .transport = options_.transport, .loops = 1, .server_name = options_.server_name});
    routes = metrics_->listener.get();
  }
  routes->get(opts.path, [m](RequestContext& ctx) { m->serve_exposition(ctx); });
  if (!opts.debug_path.empty()) {
    routes->get(opts.debug_path, [m, this](RequestContext& ctx) { m->serve_debug(ctx, *this); });
  }
}

metrics::Registry& Server::metrics_registry() {
  if (!metrics_) throw std::logic_error("khz::Server::metrics_registry before enable_metrics");
  return metrics_->registry();
}

std::uint16_t Server::metrics_port() const noexcept {
  return metrics_ && metrics_->listener ? metrics_->listener->port() : 0;
}

void Server::shutdown() {
  std::lock_guard lock(shutdown_mutex_);
  if (!running_) return;
  running_ = false;
  KHZ_LOG(info, "khz: shutting down (draining up to " << options_.exit_wait_timeout.count() << " ms)");
  for (auto& hook : drain_hooks_) {
    try {
      hook();
    } catch (const std::exception& e) {
      KHZ_LOG(error, "khz: an on_drain hook threw: " << e.what() << "; shutting down anyway");
    } catch (...) {
      KHZ_LOG(error, "khz: an on_drain hook threw; shutting down anyway");
    }
  }
  if (metrics_) metrics_->stop();
  transporter_->shutdown(options_.exit_wait_timeout);
  if (metrics_ && metrics_->listener) metrics_->listener->shutdown();
  offload_pool().stop();  // every handler has ended: queued jobs are dropped, running ones waited for
  for (auto& hook : shutdown_hooks_) hook();
  KHZ_LOG(info, "khz: stopped");
  khz::log::flush();  // buffered sinks (a log file) hand their lines out before the process ends
}

void Server::spin() {
  // Block the signals before the loop threads start, so they inherit the mask; they arrive
  // through a signalfd, which this thread waits on while it runs the first loop.
  sigset_t signals, previous;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, &previous);
  int signal_fd = ::signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd < 0) {
    std::error_code ec(errno, std::system_category());
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    throw std::system_error(ec, "khz: signalfd");
  }
  transporter_->first_loop_on_caller();
  auto port = [&] {
    try {
      return start();
    } catch (...) {  // an on_run hook's (the server is shut down)
      ::close(signal_fd);
      pthread_sigmask(SIG_SETMASK, &previous, nullptr);
      throw;
    }
  }();
  if (!port) {
    ::close(signal_fd);
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    throw std::system_error(port.error(), options_.listen_fd >= 0
                                              ? "khz: cannot serve listen_fd " + std::to_string(options_.listen_fd)
                                              : "khz: cannot listen on " + options_.address);
  }
  const char* protocols = tls_ ? (options_.h2 ? "HTTPS (h2, http/1.1)" : "HTTPS (http/1.1)")
                               : (options_.h2c ? "HTTP/1.1 and h2c" : "HTTP/1.1");
  KHZ_LOG(info, "khz: serving " << protocols << " on " << listen_address_ << " ("
                                << (*port != 0 ? "port " + std::to_string(*port) + ", " : std::string())
                                << "transport " << transporter_->name() << ")");
  // Returns on a signal, or when shutdown() is called from another thread.
  transporter_->run_until_readable(signal_fd);
  signalfd_siginfo info{};
  if (::read(signal_fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    KHZ_LOG(info, "khz: got " << (info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM"));
  }
  ::close(signal_fd);
  shutdown();
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

}  // namespace khz

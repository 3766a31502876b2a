// SPDX-License-Identifier: Apache-2.0
#include <khz/app/server.h>
#include <khz/common/log.h>
#include <khz/protocol/http1.h>
#include <khz/protocol/http2.h>
#include <khz/transport/transporter.h>

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <ctime>
#include <system_error>

namespace khz {

Server::Server(ServerOptions options)
    : Engine(EngineOptions{
          .redirect_trailing_slash = options.redirect_trailing_slash,
          .redirect_fixed_path = options.redirect_fixed_path,
          .handle_method_not_allowed = options.handle_method_not_allowed,
          .use_raw_path = options.use_raw_path,
          .unescape_path_values = options.unescape_path_values,
          .remove_extra_slash = options.remove_extra_slash,
      }),
      options_(std::move(options)) {
  // Fail at construction on a bad option (unknown transport, malformed address).
  transporter_ = transport::make_transporter(options_.transport,
                                             {.address = options_.address, .loops = options_.loops});
  (void)transport::parse_host_port(options_.address);
}

Server::~Server() { shutdown(); }

Result<std::uint16_t> Server::start() {
  Http1Options h1{
      .max_uri_bytes = options_.max_uri_bytes,
      .max_header_bytes = options_.max_header_bytes,
      .max_body_bytes = options_.max_body_bytes,
      .header_timeout = options_.header_timeout,
      .read_timeout = options_.read_timeout,
      .idle_timeout = options_.idle_timeout,
      .write_timeout = options_.write_timeout,
      .server_name = options_.server_name,
  };
  std::shared_ptr<const Http2Options> http2;  // null: HTTP/1.1 only
  if (options_.h2c) {
    Http2Options h2 = options_.http2;
    h2.server_name = options_.server_name;
    http2 = std::make_shared<const Http2Options>(std::move(h2));
    h1.h2c = http2;  // Upgrade: h2c
  }
  auto http1 = std::make_shared<const Http1Options>(std::move(h1));
  auto port = transporter_->start([this, http1, http2](transport::Connection& conn) {
    // active_connections() counts this one too.
    if (options_.max_connections != 0 && transporter_->active_connections() > options_.max_connections) {
      KHZ_LOG(warn, "khz: connection limit (" << options_.max_connections << ") reached; 503 to "
                                              << conn.peer_address());
      return refuse_http1(conn, 503, http1);
    }
    return serve_http(conn, *this, http1, http2);
  });
  if (port) {
    port_ = *port;
    running_ = true;
  }
  return port;
}

std::size_t Server::active_connections() const noexcept { return transporter_->active_connections(); }

void Server::shutdown() {
  if (!running_) return;
  running_ = false;
  KHZ_LOG(info, "khz: shutting down (draining up to " << options_.exit_wait_timeout.count() << " ms)");
  transporter_->shutdown(options_.exit_wait_timeout);
  for (auto& hook : hooks_) hook();
  KHZ_LOG(info, "khz: stopped");
}

void Server::spin() {
  // Block the signals before the loop threads start, so they inherit the mask and only this
  // thread receives them, synchronously.
  sigset_t signals, previous;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, &previous);
  auto port = start();
  if (!port) {
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    throw std::system_error(port.error(), "khz: cannot listen on " + options_.address);
  }
  KHZ_LOG(info, "khz: serving HTTP/1.1" << (options_.h2c ? " and h2c" : "") << " on " << options_.address
                                         << " (port " << *port << ", transport " << transporter_->name() << ")");
  int sig = 0;
  while (sigwait(&signals, &sig) != 0) {
  }
  KHZ_LOG(info, "khz: got " << (sig == SIGINT ? "SIGINT" : "SIGTERM"));
  shutdown();
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

}  // namespace khz

// SPDX-License-Identifier: Apache-2.0
// The connection lifecycle (transporter.h's table), one implementation for every backend.
#include "lifecycle.h"

#include "backend_support.h"

#include <khz/common/log.h>

#include <exception>

namespace khz::transport {

// One connection from admission to close. While parked it is all that is left of the
// connection besides the socket object: no coroutine frame waits.
struct Lifecycle::Served {
  Lifecycle& lifecycle;
  Host& host;
  std::unique_ptr<Connection> socket;
  std::unique_ptr<Connection> layered;  // the layer's connection over `socket`, if any
  Resumable* next = nullptr;            // what serves the connection when its input comes

  Connection& outer() noexcept { return layered ? *layered : *socket; }
};

void Lifecycle::serve(std::unique_ptr<Connection> socket, Host& host) {
  auto* served = new Served{*this, host, std::move(socket), nullptr, nullptr};
  if (layer_) {
    open_layer(served);
  } else {
    run(served, nullptr);
  }
}

Detached Lifecycle::open_layer(Served* served) {
  std::unique_ptr<Connection> layered;
  try {
    layered = co_await layer_->open(*served->socket);
  } catch (...) {
    log_handler_failure(std::current_exception(), *served->socket);
  }
  if (!layered) {
    end(served);
    co_return;
  }
  served->layered = std::move(layered);
  run(served, nullptr);
}

Detached Lifecycle::run(Served* served, Resumable* next) {
  Connection& conn = served->outer();
  try {
    if (next != nullptr) {
      co_await next->resume(conn);
    } else {
      co_await handler_(conn);
    }
  } catch (...) {
    log_handler_failure(std::current_exception(), conn);  // the bookkeeping below always runs
  }
  conn.set_resumed(false);
  if (conn.take_parked(served->next)) {
    conn.set_idle(true);
    conn.wait_input(&on_input, served);
    co_return;
  }
  end(served);
}

void Lifecycle::on_input(void* arg) {
  auto* served = static_cast<Served*>(arg);
  Connection& conn = served->outer();
  conn.set_idle(false);
  if (conn.fill_error()) {
    served->lifecycle.end(served);
    return;
  }
  if (served->next == nullptr) conn.set_resumed(true);  // park(): the handler again
  served->lifecycle.run(served, served->next);
}

void Lifecycle::end(Served* served) {
  if (served->layered) {
    close_layer(served);
    return;
  }
  served->host.closed(std::move(served->socket));
  delete served;
}

Detached Lifecycle::close_layer(Served* served) {
  try {
    co_await layer_->close(*served->layered);
  } catch (...) {
    log_handler_failure(std::current_exception(), *served->layered);
  }
  served->layered.reset();
  served->host.closed(std::move(served->socket));
  delete served;
}

}  // namespace khz::transport

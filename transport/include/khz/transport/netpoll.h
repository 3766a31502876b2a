// SPDX-License-Identifier: Apache-2.0
// The netpoll backend: native Linux epoll, no Boost. N loops, each a thread with its own epoll
// set, timers and SO_REUSEPORT listening socket (the kernel spreads connections over them);
// level-triggered, with read-ahead into the connection's input buffer and one sendmsg per flush.
// The default backend on Linux; usually reached through make_transporter("netpoll", options).
//
//   auto t = khz::transport::make_netpoll_transporter({.address = "0.0.0.0:8080", .loops = 4});
//   auto port = t->start([](khz::transport::Connection& c) { return serve(c); });
//   ...
//   t->shutdown(std::chrono::seconds(5));
//
// Lifecycle and threading are those of every Transporter (see transporter.h).
#pragma once

#include <khz/transport/transporter.h>

#include <memory>

namespace khz::transport {

std::unique_ptr<Transporter> make_netpoll_transporter(TransporterOptions options);

}  // namespace khz::transport

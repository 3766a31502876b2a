// SPDX-License-Identifier: Apache-2.0
// The Boost.Asio backend: portable; N io_contexts, one per thread, one acceptor spreading
// connections round-robin. Usually reached through make_transporter("asio", options).
#pragma once

#include <khz/transport/transporter.h>

#include <memory>

namespace khz::transport {

std::unique_ptr<Transporter> make_asio_transporter(TransporterOptions options);

}  // namespace khz::transport

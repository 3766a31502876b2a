// SPDX-License-Identifier: Apache-2.0
// Private to the uring backend and its tests: a uring transporter with a chosen ring and buffer
// size (tests make them small to exhaust the buffer ring and overflow the completion queue),
// and what its loops counted.
#pragma once

#include <khz/transport/transporter.h>

#include "uring/uring_loop.h"

#include <cstdint>
#include <memory>

namespace khz::transport {

// Falls back to netpoll like make_uring_transporter.
std::unique_ptr<Transporter> make_uring_transporter(TransporterOptions options, const UringTuning& tuning);

// Completion-queue overflows (the kernel kept completions aside) seen by a uring transporter's
// loops so far; 0 for any other transporter. From the controlling thread, after shutdown().
std::uint64_t uring_cq_overflows(const Transporter& t);

}  // namespace khz::transport

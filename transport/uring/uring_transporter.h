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

// What a uring transporter's loops counted (UringLoop's counters); zeros
// for any other transporter. From the controlling thread, after shutdown().
struct UringStats {
  std::uint64_t cq_overflows = 0;
  std::uint64_t starved_receives = 0;
  std::uint64_t registered_sockets = 0;
  std::uint64_t unregistered_sockets = 0;
  std::uint64_t incremental_loops = 0;      // loops whose provided buffers are consumed incrementally
  std::uint64_t shared_buffer_receives = 0;  // receives that left room in their buffer for the next
  std::uint64_t room_waits = 0;              // sendfile(2) filled the socket: a poll waited for room
  std::uint64_t send_retries = 0;            // sends the kernel's worker gave back with EAGAIN
};
UringStats uring_stats(const Transporter& t);

}  // namespace khz::transport

// SPDX-License-Identifier: Apache-2.0
// The uring backend: Linux io_uring through liburing. N loops, each a thread with its own ring,
// provided-buffer ring, registered-descriptor table, timers and SO_REUSEPORT listening socket;
// multishot accept and multishot receive, one send submission per flush, one io_uring_enter per
// loop turn (which is also the wait for the earliest timer). Usually reached through make_transporter("uring",
// options) or KHZ_TRANSPORT=uring.
//
//   auto t = khz::transport::make_uring_transporter({.address = "0.0.0.0:8080", .loops = 4});
//
// Needs Linux 6.0 or later with io_uring allowed (sysctl kernel.io_uring_disabled, seccomp,
// container policy). When the kernel refuses, the call logs one line saying why and returns a
// netpoll transporter instead (its name() is then "netpoll"); ClientLoop::make("uring") falls
// back the same way.
#pragma once

#include <khz/transport/transporter.h>

#include <memory>

namespace khz::transport {

std::unique_ptr<Transporter> make_uring_transporter(TransporterOptions options);

}  // namespace khz::transport

// SPDX-License-Identifier: Apache-2.0
// Registers the uring backend by name (rank 2, after netpoll and asio). khz::transport_uring
// makes the linker keep this file (--undefined=khz_transport_uring_backend).
#include <khz/transport/uring.h>

#include "backend_support.h"
#include "uring/uring_connection.h"

extern "C" {
extern const bool khz_transport_uring_backend;
}
const bool khz_transport_uring_backend = khz::transport::register_backend(
    {"uring", 2, &khz::transport::make_uring_transporter, &khz::transport::make_uring_client_loop});

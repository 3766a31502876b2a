// SPDX-License-Identifier: Apache-2.0
// Registers the Boost.Asio backend by name, after netpoll (rank 1). khz::transport_asio makes
// the linker keep this file (--undefined=khz_transport_asio_backend, transport/CMakeLists.txt),
// so whatever links the target has the backend.
#include <khz/transport/asio.h>

#include "backend_support.h"

extern "C" {
extern const bool khz_transport_asio_backend;
}
const bool khz_transport_asio_backend = khz::transport::register_backend(
    {"asio", 1, &khz::transport::make_asio_transporter, &khz::transport::make_asio_client_loop});

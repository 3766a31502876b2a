// SPDX-License-Identifier: Apache-2.0
// Registers the netpoll backend by name, as the default (rank 0). khz::transport_netpoll makes
// the linker keep this file (--undefined=khz_transport_netpoll_backend, transport/CMakeLists.txt),
// so whatever links the target has the backend.
#include <khz/transport/netpoll.h>

#include "backend_support.h"

extern "C" {
extern const bool khz_transport_netpoll_backend;
}
const bool khz_transport_netpoll_backend = khz::transport::register_backend(
    {"netpoll", 0, &khz::transport::make_netpoll_transporter, &khz::transport::make_netpoll_client_loop});

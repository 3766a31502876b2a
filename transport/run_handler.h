// SPDX-License-Identifier: Apache-2.0
// Private to transport/: runs a connection handler to completion for a backend, turning any
// exception into a log line, so the backend's bookkeeping after it always runs.
#pragma once

#include <khz/common/task.h>
#include <khz/transport/transporter.h>

namespace khz::transport {

Task<void> run_handler(const ConnectionHandler& handler, Connection& conn);

}  // namespace khz::transport

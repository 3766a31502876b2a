// SPDX-License-Identifier: Apache-2.0
// One entry of a "middleware" list (config.h) made into the middleware it names.
#pragma once

#include "config.h"

#include <khz/app/handler.h>
#include <khz/app/server.h>

namespace khz::gateway {

// Throws std::invalid_argument when the middleware refuses the options. An access log is
// flushed by an on_shutdown hook of `server`.
Handler make_middleware(const MiddlewareConfig& config, Server& server);

}  // namespace khz::gateway

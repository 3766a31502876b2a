// SPDX-License-Identifier: Apache-2.0
// One access log line, formatted from a finished exchange (private to middleware/access_log).
#pragma once

#include <khz/app/request_context.h>
#include <khz/middleware/access_log.h>

#include <chrono>
#include <string>

namespace khz::middleware::detail {

// Appends the line for `ctx` and `done` to `out`, '\n' included, as `options` say; `now` is
// the line's time.
void format_access_line(std::string& out, const AccessLogOptions& options, RequestContext& ctx,
                        const CompletedResponse& done, std::chrono::system_clock::time_point now);

}  // namespace khz::middleware::detail

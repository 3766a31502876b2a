// SPDX-License-Identifier: Apache-2.0
// Private to app/client: with_retries(), the attempts of one request to one URL under its
// RetryPolicy: backoff with jitter, which failures and statuses are worth another attempt,
// the free resend of an HTTP/2 request the server never processed, and the one free retry on
// a stale keep-alive connection.
#pragma once

#include <khz/app/client/request.h>
#include <khz/app/client/url.h>
#include <khz/common/task.h>
#include <khz/protocol/response.h>

#include "call.h"

#include <system_error>

namespace khz::client {

// Errors: the last attempt's; client::errc::cancelled when the token fired between attempts.
Task<std::error_code> with_retries(CallState& call, const ClientRequest& req, const Url& url, Response& resp);

}  // namespace khz::client

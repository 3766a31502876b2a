// SPDX-License-Identifier: Apache-2.0
// Private to app/client: one call, under the middleware. CallState is what every step of it
// shares; run_call() parses the URL and follows redirects around retried exchanges:
//
//   run_call                 URL (a per-thread parse cache), redirects (RFC 9110 §15.4)
//    └ with_retries          retry.h
//       └ exchange           exchange.h: route → pool → write → head → body
#pragma once

#include <khz/app/client/client.h>
#include <khz/app/client/options.h>
#include <khz/app/client/request.h>
#include <khz/common/task.h>
#include <khz/protocol/response.h>

#include "access.h"
#include "deadline.h"

#include <system_error>

namespace khz::client {

struct CallState {
  Client::Impl& impl;
  const ClientOptions& options;
  Clock::time_point deadline;  // of the whole call (total_timeout or ClientRequest::timeout)
  StreamState* stream_out;     // non-null: hand the connection over after the head (stream())
  // The cookie jar's Cookie value for this hop's URL ("" when none or no jar); the exchanges
  // add it after the request's own Cookie header.
  std::string_view jar_cookies{};
  // Set by an exchange whose endpoint came from a Balancer that wants feedback: with_retries
  // reports the attempt's outcome to it (Balancer::finished) and clears it.
  Balancer* feedback = nullptr;
  Endpoint picked{};
};

// Sends `original` (and, after a 3xx, the request it turns into), retrying as the policy says,
// into `resp`. Inside a server handler the handler's cancel signal cancels it. Errors: those
// of the last attempt; client::errc::{bad_url, unsupported_scheme, too_many_redirects}.
// `original` must stay unchanged until the Task completes.
Task<std::error_code> run_call(CallState& call, const ClientRequest& original, Response& resp);

// run_call will follow this response elsewhere (so an exchange does not hand it to a stream).
bool follows_redirect(const ClientOptions& options, const Response& resp);

}  // namespace khz::client

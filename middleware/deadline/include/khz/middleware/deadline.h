// SPDX-License-Identifier: Apache-2.0
// khz::middleware::deadline: the caller's deadline, propagated. A request carrying the time its
// caller still waits (`X-Khz-Timeout-Ms: 850`, sent by a khz client with
// ClientOptions::deadline_header set) runs its handler under that deadline, and the calls the
// handler makes with the khz client carry it on, so a chain of services gives up together
// instead of working for a caller that is gone.
//
//   server.use(khz::middleware::deadline({.max = std::chrono::seconds(30)}));
//   khz::Client client({.deadline_header = "X-Khz-Timeout-Ms"});   // callers send it
//
// Per request with a valid header (1 to 19 digits, > 0; otherwise it is ignored and logged at
// debug): the deadline is min(header, max) from now; the inner layers run under
// RequestContext::next_with_deadline (outbound khz client calls are cancelled when it passes),
// and with `propagate` the same header is an ambient outbound header of the handler's chain
// (its value the deadline in ms: an upper bound, the caller's own timeout may cut it further,
// and the client sends the smaller of the two). When it passes before the handler answers, the
// answer is 504 Gateway Timeout if something waited on an upstream at that moment, else 503
// (as khz::middleware::timeout). Requests without the header run as usual (with `fallback` > 0:
// under that deadline).
#pragma once

#include <khz/app/handler.h>

#include <chrono>
#include <string>

namespace khz::middleware {

struct DeadlineOptions {
  std::string header = "X-Khz-Timeout-Ms";
  std::chrono::milliseconds max{std::chrono::seconds(60)};  // a caller cannot ask for more
  std::chrono::milliseconds fallback{0};                    // without the header; 0: none
  bool propagate = true;
};

// std::invalid_argument for an empty header name or a max that is not positive.
Handler deadline(DeadlineOptions options = {});

}  // namespace khz::middleware

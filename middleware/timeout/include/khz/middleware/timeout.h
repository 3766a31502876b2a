// SPDX-License-Identifier: Apache-2.0
// khz::middleware::timeout: a deadline for the routes it wraps (a route group, usually). When
// it passes, what the handler waits on is cancelled and the client gets 504 or 503 instead of
// waiting on.
//
//   auto api = server.group("/api", khz::middleware::timeout({.after = std::chrono::seconds(2)}));
//   api.get("/quote", [&client](khz::RequestContext& ctx) -> khz::Task<> {
//     auto r = co_await client.get("http://pricing/quote");   // cancelled at the deadline
//     if (!r) co_return;                                        // the 504 is timeout's to send
//     ctx.data(200, "application/json", r->body());
//   });
//
// How: the inner layers run under RequestContext::next_with_deadline (the app's deadline
// mechanism). At the deadline the handler chain's cancel signal fires: the khz client ends
// the calls in flight with client::errc::cancelled (closing their connections), an event
// stream ends, and Watches the handler set on ctx.cancel_signal() run. The handler's Task is
// not cut off: it goes on until it returns, and then, if the deadline passed, the answer is
// replaced (ctx.discard_response: the headers middleware set stay) by
//   - 504 Gateway Timeout when, at the deadline, something waited on the signal: an outbound
//     call of the khz client, as a rule (the upstream did not answer in time; RFC 9110 §15.6.5);
//   - 503 Service Unavailable otherwise (the server itself was too slow; §15.6.4).
// with the body "504 gateway timeout" / "503 service unavailable" (text/plain) and one info
// line naming the route, the deadline and the status. What the handler threw after the
// deadline (a cancelled wait often ends in one) is part of the timeout: logged at debug, not
// a 500. Before the deadline, a throw goes on to the Engine as usual.
// Not replaced: a response that has begun streaming (its head is out; the stream is cut off
// only if the handler stops writing): logged at info. A handler busy with work nothing
// watches (CPU, a blocking call not sent through ctx.offload) is not interrupted: the answer
// comes when it returns, still a 503. The client leaving before the deadline cancels the same
// way and is no timeout.
// Put it inside recovery and the logging middleware (they then see the 503/504), around the
// routes it limits; nested timeouts compose (the shorter wins).
//
// Options (defaults):
//   after          required: > 0 (std::invalid_argument otherwise)
//   status         503   the answer when nothing waited on the signal
//   wait_status    504   the answer when something did (an upstream call)
#pragma once

#include <khz/app/handler.h>

#include <chrono>

namespace khz::middleware {

struct TimeoutOptions {
  std::chrono::milliseconds after{0};
  int status = 503;
  int wait_status = 504;
};

Handler timeout(TimeoutOptions options);

}  // namespace khz::middleware

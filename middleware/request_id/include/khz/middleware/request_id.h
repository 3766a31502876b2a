// SPDX-License-Identifier: Apache-2.0
// khz::middleware::request_id: gives every request an id, echoed on the response and carried
// to the calls the handler makes with the khz client, so one id follows a request through
// every service it touches (Hertz's requestid).
//
//   server.use(khz::middleware::recovery(), khz::middleware::request_id());
//   server.get("/orders/:id", [&client](khz::RequestContext& ctx) -> khz::Task<> {
//     KHZ_LOG(info, "order " << ctx.param("id") << " rid=" << khz::middleware::request_id_of(ctx));
//     auto stock = co_await client.get("http://inventory/stock");   // sends the same X-Request-ID
//     ...
//   });
//
// For each request:
//   - the id is the request's own `header` field when `accept_incoming` and it is valid: 1 to
//     `max_length` characters, each a letter, digit or one of "-_.:+/=@" (so no space, comma,
//     quote, control byte or non-ASCII: safe to log and to echo). A field sent twice, empty or
//     otherwise invalid is replaced by a new id (logged at debug).
//   - else a new one from `generate`; by default a random UUID (version 4, 36 characters) from
//     a per-thread generator seeded from std::random_device (not an authenticator: unique and
//     hard to guess, not a secret).
//   - the id is set on the response (`header`) before the inner layers run, so it is there
//     whatever they answer: also on the 500 of a thrown exception (recovery, or the Engine's
//     boundary) and on a CORS refusal when request_id is outside CORS;
//   - with `propagate`, it is an ambient outbound header of the handler's chain
//     (RequestContext::set_outbound_header): every request the khz client makes from the
//     handler, its middleware and the coroutines they await carries it, unless the request sets
//     that field itself.
// The handler reads it with request_id_of(ctx) (the response's field: valid until the handler's
// Task completes). A plain middleware: no coroutine frame.
//
// Options (defaults):
//   header           "X-Request-ID"
//   accept_incoming  true; false: always a new id (e.g. at an edge facing untrusted clients)
//   max_length       128
//   generate         none: a random UUID; else called once per request that needs a new id
//                    (what it returns is used as is, on the loop: must not block)
//   propagate        true
#pragma once

#include <khz/app/handler.h>
#include <khz/app/request_context.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace khz::middleware {

struct RequestIdOptions {
  std::string header = "X-Request-ID";
  bool accept_incoming = true;
  std::size_t max_length = 128;
  std::function<std::string()> generate{};
  bool propagate = true;
};

Handler request_id(RequestIdOptions options = {});

// The request's id as request_id() set it on the response with the default header; "" when
// the middleware did not run. With another header, read ctx.response().header(name).
std::string_view request_id_of(const RequestContext& ctx) noexcept;

// True when `id` may be accepted as an incoming id (the rule above), at most `max_length` long.
bool is_valid_request_id(std::string_view id, std::size_t max_length = 128) noexcept;

}  // namespace khz::middleware

// SPDX-License-Identifier: Apache-2.0
// khz::middleware::recovery: turns an exception thrown by the inner layers of the chain into an
// answer of your choosing (Hertz's recovery), logged with the route and a stack trace.
//
//   server.use(khz::middleware::recovery());                       // outermost: first in use()
//   server.use(khz::middleware::recovery({.render = [](khz::RequestContext& ctx, std::exception_ptr e) {
//     ctx.json(500, khz::H{{"error", "internal"}});
//   }}));
//
// What it does, once `co_await ctx.next()` throws:
//   - logs one error line: method, route pattern and path, the exception's what(), and (with
//     `stack_trace`) the stack of the recovering frame, one frame per line. Coroutines unwind
//     before a catch runs, so the frames are those around the middleware, not the throw site:
//     the route and what() say where it came from;
//   - clears the response as RequestContext::discard_response does (status, body, trailers and
//     the headers describing the body) and keeps every other header, so a request id or CORS
//     headers set by outer middleware, or by inner ones before they threw, reach the client;
//   - answers with `render`, or with `status`, `body` and `content_type`. Should `render`
//     throw, that is logged and the plain answer goes out instead.
// What it leaves to the Engine's own boundary (the last net, EngineOptions::handler_error):
//   - a khz::OffloadError (a full worker pool, a client gone while its job waited): rethrown,
//     so the Engine answers 503 as it documents;
//   - an exception after a streamed response began (ctx.write, SSE): nothing can be replaced
//     then; rethrown, so the Engine cuts the stream off.
// Cost when nothing throws: one coroutine frame from the per-loop frame pool.
//
// Options (defaults):
//   status       500; 400-599, another throws std::invalid_argument from recovery()
//   body         "500 internal server error" (the status and its reason phrase, lower case)
//   content_type "text/plain; charset=utf-8"
//   render       none; writes the answer instead (the response is cleared and its status set);
//                runs on the loop: must not block
//   stack_trace  true; log the stack (backtrace(3); frames are named from the dynamic symbol
//                table, so a program linked without -rdynamic shows "binary(+0x12e9dd)":
//                `addr2line -Cfe binary 0x12e9dd` names it)
#pragma once

#include <khz/app/handler.h>
#include <khz/app/request_context.h>

#include <exception>
#include <functional>
#include <optional>
#include <string>

namespace khz::middleware {

struct RecoveryOptions {
  int status = 500;
  std::optional<std::string> body{};
  std::string content_type{};
  std::function<void(RequestContext&, std::exception_ptr)> render{};
  bool stack_trace = true;
};

Handler recovery(RecoveryOptions options = {});

}  // namespace khz::middleware

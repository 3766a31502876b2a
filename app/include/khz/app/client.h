// SPDX-License-Identifier: Apache-2.0
// khz/app/client.h: the whole HTTP client in one include. khz::Client (Hertz's client.Client):
// per-host keep-alive pools, timeouts, retries, redirects, proxies, streaming bodies both
// ways, client middleware, service discovery (Resolver) and load balancing. Awaitable inside
// handlers on the caller's loop; BlockingClient wraps it for plain programs.
//
//   khz::Client client({.retry = {.max_attempts = 3}});            // shared by every loop
//   server.get("/users/:id", [&](khz::RequestContext& ctx) -> khz::Task<> {
//     auto resp = co_await client.get("http://users.svc:8080/users/" + std::string(ctx.param("id")));
//     if (!resp) { ctx.string(502, resp.error().message()); co_return; }
//     ctx.data(resp->status(), resp->header("Content-Type"), resp->body());
//   });
//
//   khz::BlockingClient c;                                          // a plain program
//   khz::Result<khz::Response> r = c.get("http://127.0.0.1:8080/ping");
//
// Each part has its own header, which says what it holds, how to use it and its threading rule:
//   <khz/app/client/errors.h>           client::errc, the client's error codes
//   <khz/app/client/url.h>              Url: parse, format, resolve a Location
//   <khz/app/client/request.h>          ClientRequest, BodySource, CancellationToken
//   <khz/app/client/discovery.h>        Endpoint, Resolver, StaticResolver, Balancer and balancers
//   <khz/app/client/balancing.h>        the balancing algorithms (shared with the reverse proxy)
//   <khz/app/client/options.h>          ClientOptions, RetryPolicy (timeouts, pools, TLS, HTTP/2)
//   <khz/app/client/cookie_jar.h>       CookieJar: cookies kept and sent (ClientOptions::cookie_jar)
//   <khz/app/client/response_stream.h>  ResponseStream: a body read as it arrives
//   <khz/app/client/client.h>           Client, ClientContext, ClientMiddleware; lifetimes
//   <khz/app/client/blocking_client.h>  BlockingClient: a Client on a thread of its own
// How it works inside: app/client/DESIGN.md.
#pragma once

#include <khz/app/client/balancing.h>
#include <khz/app/client/blocking_client.h>
#include <khz/app/client/client.h>
#include <khz/app/client/cookie_jar.h>
#include <khz/app/client/discovery.h>
#include <khz/app/client/errors.h>
#include <khz/app/client/options.h>
#include <khz/app/client/request.h>
#include <khz/app/client/response_stream.h>
#include <khz/app/client/url.h>

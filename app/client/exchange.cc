// SPDX-License-Identifier: Apache-2.0
// exchange: the route and pool of one request, its body's framing, and the choice between
// HTTP/2 (the pool's shared connection) and HTTP/1.1 (a leased one).
#include "exchange.h"

#include <khz/common/log.h>
#include <khz/transport/error.h>

#include "impl.h"
#include "route.h"

namespace khz::client {
namespace {

// The pool gave no connection (a dial failed, or the wait for one ran out).
Attempt no_connection(const ClientRequest& req, const Url& url, const HostPool& pool, std::error_code ec) {
  KHZ_LOG(debug, "client: " << req.method << " " << url.str() << ": no connection to " << pool.key << ": "
                            << ec.message());
  Attempt out;
  out.ec = ec;
  out.connect_failed = true;
  return out;
}

// The attempt, with whether its body_source was asked for bytes (then it cannot go again).
Attempt noting_body(Attempt a, const RequestBody& body) noexcept {
  a.body_consumed = body.consumed();
  return a;
}

}  // namespace

// url.authority() for the Host field (:authority in HTTP/2), kept per thread for the last
// origin: load generators and gateway routes send to the same one again and again. Used at
// once (the next call on this thread may change it).
const std::string& host_field(const Url& url) {
  struct Last {
    bool valid = false;
    std::uint16_t port = 0;
    std::string scheme, host, authority;
  };
  thread_local Last last;
  if (!last.valid || url.port != last.port || url.host != last.host || url.scheme != last.scheme) {
    last.authority = url.authority();
    last.scheme = url.scheme;
    last.host = url.host;
    last.port = url.port;
    last.valid = true;
  }
  return last.authority;
}

bool was_never_answered(std::error_code ec) {
  return ec == transport::errc::eof || ec == std::errc::connection_reset || ec == std::errc::broken_pipe;
}

Task<Attempt> exchange(CallState& call, const ClientRequest& req, const Url& url, Response& resp,
                       bool keep_for_retry) {
  Client::Impl& impl = call.impl;
  // Where to: a proxy, a discovered endpoint, or the URL's host.
  const Route route = impl.routing.route(url, &req.headers);
  if (route.endpoint != nullptr) {
    if (Balancer* feedback = impl.routing.feedback()) {
      // The balancer weighs what its picks did: with_retries tells it how this attempt ended.
      // The endpoint is copied (the Resolver's answer may change while the exchange runs).
      call.feedback = feedback;
      call.picked = *route.endpoint;
      feedback->started(call.picked);
    }
  }
  HostPool& pool = impl.pools.pool_for(route);

  // The body: its length decides the framing.
  RequestBody body;
  if (auto ec = body.open(req)) {
    Attempt out;
    out.ec = ec;
    out.connect_failed = !body.file_opened();  // nothing was sent: like a failed dial
    co_return out;
  }

  const bool want_h2 = !route.via_proxy && (route.tls ? call.options.http2 : call.options.http2_prior_knowledge);
  Lease lease;
  if (want_h2 && pool.proto != HostPool::Proto::http1) {
    // Fast path: a busy shared connection with nothing to prune (no clock read, no coroutine).
    if (pool.h2 && pool.h2->usable() && pool.h2->active_streams() > 0 && pool.h2_draining.empty() &&
        call.options.max_lifetime.count() == 0) {
      co_return noting_body(co_await exchange_h2(call, req, url, resp, pool, pool.h2.get(), true, body, keep_for_retry),
                            body);
    }
    auto choice = co_await impl.pools.acquire_h2(pool, call.deadline);
    if (!choice) co_return no_connection(req, url, pool, choice.error());
    if (choice->h2 != nullptr) {
      co_return noting_body(
          co_await exchange_h2(call, req, url, resp, pool, choice->h2, choice->reused, body, keep_for_retry), body);
    }
    lease.conn = std::move(choice->h1);  // the server chose HTTP/1.1 by ALPN
  }
  if (!lease.conn) lease = Lease{impl.pools.take_idle(pool), true};  // no coroutine when one is idle
  if (!lease.conn) {
    auto leased = co_await impl.pools.acquire(pool, call.deadline);
    if (!leased) co_return no_connection(req, url, pool, leased.error());
    lease = std::move(*leased);
  }
  co_return noting_body(
      co_await exchange_h1(call, req, url, resp, pool, std::move(lease), body, route.via_proxy, keep_for_retry), body);
}

}  // namespace khz::client

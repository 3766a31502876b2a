// SPDX-License-Identifier: Apache-2.0
// exchange_h1: one request and its response on a leased HTTP/1.1 connection: the head (from a
// per-thread scratch Request), the body, the response head, then its body or the hand-over to
// a ResponseStream; the connection goes back to its pool.
#include "exchange.h"

#include <khz/common/log.h>
#include <khz/protocol/request.h>

#include "access.h"
#include "impl.h"
#include "stream_state.h"

#include <algorithm>
#include <string>

namespace khz::client {
namespace {

// Writes request heads from a per-thread scratch Request (used synchronously, so requests
// interleaving on one loop never share it across a suspension); warm, it allocates nothing.
Request& scratch_request() {
  thread_local Request r;
  return r;
}

// Writes a streamed request body after its head, piece by piece.
Task<std::error_code> send_streamed_body(Http1ClientConnection& c, RequestBody& body, Clock::time_point deadline) {
  for (;;) {
    auto piece = co_await body.next();
    if (!piece) co_return piece.error();
    if (piece->empty()) break;
    c.queue_body(*piece);
    if (auto ec = co_await c.flush(deadline)) co_return ec;
  }
  if (body.file_opened()) co_return std::error_code();  // Content-Length: every piece flushed
  c.queue_body_end();
  co_return co_await c.flush(deadline);
}

}  // namespace

Task<Attempt> exchange_h1(CallState& call, const ClientRequest& req, const Url& url, Response& resp,
                          HostPool& pool, Lease lease, RequestBody& body, bool via_proxy, bool keep_for_retry) {
  Pools& pools = call.impl.pools;
  std::unique_ptr<Http1ClientConnection> conn = std::move(lease.conn);
  const bool reused = lease.reused;
  Attempt out;
  {
    Request& r = scratch_request();
    r.clear();
    r.set_method(req.method);
    r.set_target(url.target);
    if (call.jar_cookies.empty()) {
      for (const auto& f : req.headers) r.headers().add(f.name, f.value);
    } else {
      // One Cookie field (RFC 6265bis §5.8.3): the request's own cookies, then the jar's.
      std::string cookies;
      for (const auto& f : req.headers) {
        if (!iequals(f.name, "Cookie")) {
          r.headers().add(f.name, f.value);
        } else if (!f.value.empty()) {
          cookies.append(cookies.empty() ? "" : "; ").append(f.value);
        }
      }
      cookies.append(cookies.empty() ? "" : "; ").append(call.jar_cookies);
      r.headers().add("Cookie", cookies);
    }
    if (!req.headers.contains("User-Agent") && !call.options.user_agent.empty()) {
      r.headers().add("User-Agent", call.options.user_agent);
    }
    std::string absolute = via_proxy ? url.str() : std::string();
    if (!body.streamed()) r.body_buffer().assign(req.body);
    conn->queue_request(r, {.host = host_field(url), .content_length = body.length(), .target = absolute});
    r.body_buffer().clear();
  }
  set_active(req.cancel, conn.get());
  auto fail = [&](std::error_code ec) {
    KHZ_LOG(debug, "client: " << req.method << " " << url.str() << " via " << pool.key << ": " << ec.message()
                              << (reused ? " (reused connection)" : ""));
    set_active(req.cancel, nullptr);
    out.ec = req.cancel.cancelled() ? std::error_code(client::errc::cancelled) : ec;
    out.stale = reused && !conn->response_began() && was_never_answered(ec);
    conn->close();
    pools.release(pool, std::move(conn));
    return out;
  };

  // A buffered body went out with the head: one flush, no coroutine of its own.
  std::error_code sent;
  if (body.streamed()) {
    sent = co_await send_streamed_body(*conn, body, call.deadline);
  } else {
    sent = co_await conn->flush(call.deadline);
  }
  if (sent) co_return fail(sent);
  Clock::time_point head_deadline = std::min(call.deadline, after(call.options.response_header_timeout));
  if (auto ec = co_await conn->read_head(resp, req.method == "HEAD", head_deadline)) co_return fail(ec);

  const bool will_redirect = follows_redirect(call.options, resp);
  if (call.stream_out != nullptr && !will_redirect && !keep_for_retry) {
    StreamState& s = *call.stream_out;
    s.pools = &pools;
    s.pool = &pool;
    s.conn = std::move(conn);
    s.deadline = call.deadline;
    s.cancel = req.cancel;
    out.streamed = true;
    co_return out;
  }
  if (auto ec = co_await conn->read_all(resp, call.deadline)) co_return fail(ec);
  set_active(req.cancel, nullptr);
  pools.release(pool, std::move(conn));
  co_return out;
}

}  // namespace khz::client

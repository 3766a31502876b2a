// SPDX-License-Identifier: Apache-2.0
// exchange_h2: one request as a stream of the pool's HTTP/2 connection: a stream slot (within
// wait_timeout), the head built in place from the ClientRequest, the body, the response head,
// then its body or the hand-over to a ResponseStream. Cancellation resets just this stream.
#include "exchange.h"

#include <khz/app/client/errors.h>
#include <khz/common/log.h>
#include <khz/protocol/error.h>
#include <khz/transport/error.h>

#include "access.h"
#include "impl.h"
#include "stream_state.h"

#include <algorithm>
#include <span>
#include <string>

namespace khz::client {

Task<Attempt> exchange_h2(CallState& call, const ClientRequest& req, const Url& url, Response& resp,
                          HostPool& pool, Http2ClientConnection* conn, bool reused, RequestBody& body,
                          bool keep_for_retry) {
  Attempt out;
  if (!conn->can_open_stream()) {
    if (auto ec = co_await conn->wait_for_slot(std::min(call.deadline, after(call.options.wait_timeout)))) {
      out.refused = ec == protocol::errc::connection_closed;  // being replaced: the next one
      out.ec = ec == transport::errc::timed_out ? std::error_code(client::errc::pool_timeout) : ec;
      co_return out;
    }
    if (pool.h2.get() != conn && std::none_of(pool.h2_draining.begin(), pool.h2_draining.end(),
                                              [conn](const auto& c) { return c.get() == conn; })) {
      out.refused = true;  // pruned while waiting (cannot happen with a slot free; be safe)
      out.ec = protocol::errc::connection_closed;
      co_return out;
    }
  }
  const bool streamed = body.streamed();
  Result<Http2Stream> opened = std::error_code();
  {
    // The head goes straight from the ClientRequest into the codec (no Request built).
    // The user agent, and the jar's cookies as a cookie field of their own (HTTP/2 allows
    // several, RFC 9113 §8.2.3), after the request's own.
    Http2ClientConnection::ExtraField extra[2];
    std::size_t extras = 0;
    if (!call.options.user_agent.empty() && !req.headers.contains("User-Agent")) {
      extra[extras++] = {"user-agent", call.options.user_agent};
    }
    if (!call.jar_cookies.empty()) extra[extras++] = {"cookie", call.jar_cookies};
    Http2RequestInfo info{.scheme = url.scheme,
                          .authority = host_field(url),
                          .body = streamed ? std::string_view() : std::string_view(req.body),
                          .streamed_body = streamed,
                          .content_length = streamed ? body.length() : -1};
    opened = conn->open(req.method, url.target, req.headers,
                        std::span<const Http2ClientConnection::ExtraField>(extra, extras),
                        resp, info);
  }
  if (!opened) {
    out.ec = opened.error();
    out.refused = out.ec == protocol::errc::connection_closed ||
                  out.ec == std::errc::resource_unavailable_try_again;
    co_return out;
  }
  Http2Stream stream = std::move(*opened);
  resp.set_version(Version::http2);
  set_stream(req.cancel, &stream);
  auto fail = [&](std::error_code ec) {
    KHZ_LOG(debug, "client: " << req.method << " " << url.str() << " via " << pool.key << " (h2 stream "
                              << stream.id() << "): " << ec.message() << (reused ? " (reused connection)" : ""));
    set_stream(req.cancel, nullptr);
    out.ec = req.cancel.cancelled() ? std::error_code(client::errc::cancelled) : ec;
    out.refused = ec == protocol::errc::stream_refused;
    out.stale = reused && !stream.response_began() && was_never_answered(ec);
    mark_h2_idle(pool);
    return out;
  };
  if (req.cancel.cancelled()) {  // cancelled while it waited for the connection or a slot
    stream.cancel();
    co_return fail(client::errc::cancelled);
  }
  if (streamed) {
    for (;;) {
      auto piece = co_await body.next();
      if (!piece) co_return fail(piece.error());
      if (piece->empty()) break;
      if (auto ec = co_await stream.write(*piece, call.deadline)) co_return fail(ec);
    }
    if (auto ec = co_await stream.write_end(call.deadline)) co_return fail(ec);
  }
  Clock::time_point head_deadline = std::min(call.deadline, after(call.options.response_header_timeout));
  if (auto ec = co_await stream.read_head(head_deadline)) co_return fail(ec);

  const bool will_redirect = follows_redirect(call.options, resp);
  if (call.stream_out != nullptr && !will_redirect && !keep_for_retry) {
    StreamState& s = *call.stream_out;
    s.pools = &call.impl.pools;
    s.pool = &pool;
    s.h2 = std::move(stream);
    set_stream(req.cancel, &s.h2);
    s.deadline = call.deadline;
    s.cancel = req.cancel;
    out.streamed = true;
    co_return out;
  }
  if (!stream.body_done()) {
    if (auto ec = co_await stream.read_all(call.deadline)) co_return fail(ec);
  }
  set_stream(req.cancel, nullptr);
  mark_h2_idle(pool);
  co_return out;
}

}  // namespace khz::client

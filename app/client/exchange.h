// SPDX-License-Identifier: Apache-2.0
// Private to app/client: one exchange, one request and its response on one connection:
//
//   exchange           exchange.cc: route → pool → the body's framing → HTTP/1.1 or HTTP/2
//    ├ exchange_h1     exchange_h1.cc: a leased connection: write head + body → head → body
//    └ exchange_h2     exchange_h2.cc: a stream of the shared connection: slot → open → body
//                                      → head → body
//
// An exchange ends by reading the whole body into `resp`, or (CallState::stream_out, and the
// response is not a redirect to follow) by handing its connection or stream to the
// ResponseStream. It never retries: the Attempt tells with_retries what happened.
#pragma once

#include <khz/app/client/request.h>
#include <khz/app/client/url.h>
#include <khz/common/task.h>
#include <khz/protocol/http2_client.h>
#include <khz/protocol/response.h>

#include "call.h"
#include "pool.h"
#include "request_body.h"

#include <system_error>

namespace khz::client {

// What one exchange came to.
struct Attempt {
  std::error_code ec;
  bool refused = false;         // HTTP/2: never processed (REFUSED_STREAM, GOAWAY, connection gone)
  bool connect_failed = false;  // no connection was made (dial or pool wait)
  bool stale = false;           // a reused connection failed before any response byte
  bool streamed = false;        // the connection went to a ResponseStream
  bool body_consumed = false;   // a body_source was asked for bytes: the request cannot go again
};

// `keep_for_retry`: read the whole body even when streaming (the response may be retried).
// `req` and `url` must outlive the Task.
Task<Attempt> exchange(CallState& call, const ClientRequest& req, const Url& url, Response& resp,
                       bool keep_for_retry);

// Over the leased HTTP/1.1 connection, given back to `pool` at the end (or to the stream).
// `via_proxy`: the request goes in absolute form.
Task<Attempt> exchange_h1(CallState& call, const ClientRequest& req, const Url& url, Response& resp,
                          HostPool& pool, Lease lease, RequestBody& body, bool via_proxy, bool keep_for_retry);

// As a stream of `conn` (the pool's HTTP/2 connection, or one draining); `reused`: it served
// requests before.
Task<Attempt> exchange_h2(CallState& call, const ClientRequest& req, const Url& url, Response& resp,
                          HostPool& pool, Http2ClientConnection* conn, bool reused, RequestBody& body,
                          bool keep_for_retry);

// The connection ended before anything was answered (a stale keep-alive when it was reused).
bool was_never_answered(std::error_code ec);

// url.authority(), kept per thread for the last origin: valid until the next call on this
// thread (use it before suspending).
const std::string& host_field(const Url& url);

}  // namespace khz::client

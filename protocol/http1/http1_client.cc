// SPDX-License-Identifier: Apache-2.0
// The client side of an HTTP/1.1 connection: request out, response in.
#include <khz/common/log.h>
#include <khz/common/loop_clock.h>
#include <khz/protocol/http1_client.h>
#include <khz/transport/error.h>

#include "response_parser.h"
#include "response_writer.h"

#include <algorithm>

namespace khz {

struct Http1ClientConnection::Parser {
  explicit Parser(const Http1ClientOptions& o)
      : parser({.max_header_bytes = o.max_header_bytes, .max_body_bytes = o.max_body_bytes}) {}
  protocol::http1::ResponseParser parser;
  bool started = false;
};

Http1ClientConnection::Http1ClientConnection(std::unique_ptr<transport::Connection> conn, Http1ClientOptions options)
    : conn_(std::move(conn)), parser_(std::make_unique<Parser>(options)), options_(options), created_(Clock::now()) {}

Http1ClientConnection::~Http1ClientConnection() = default;

void Http1ClientConnection::queue_request(const Request& request, const RequestFraming& framing) {
  parser_->started = false;
  chunked_request_ = framing.content_length < 0;
  LinkedBuffer& out = conn_->output();
  protocol::http1::write_request_head(out, request,
                            {.host = framing.host, .content_length = framing.content_length,
                             .target_override = framing.target});
  if (framing.content_length > 0 && static_cast<std::size_t>(framing.content_length) == request.body().size()) {
    out.append(request.body());
  }
}

void Http1ClientConnection::queue_body(std::string_view bytes) {
  if (bytes.empty()) return;
  if (chunked_request_) {
    protocol::http1::write_chunk(conn_->output(), bytes);
  } else {
    conn_->output().append(bytes);
  }
}

void Http1ClientConnection::queue_body_end() {
  if (chunked_request_) conn_->output().append("0\r\n\r\n");
}

namespace {
// The timeout for one wait: what is left of `deadline` (LoopClock), at most `cap`
// (0: none). Zero: no timeout at all (no deadline, no cap). Negative or zero with a deadline: it
// has passed, which expired() tells.
std::chrono::steady_clock::duration bounded(std::chrono::steady_clock::time_point deadline,
                                            std::chrono::milliseconds cap) {
  if (deadline == std::chrono::steady_clock::time_point::max()) return cap;  // no clock read
  auto left = deadline - LoopClock::now();
  if (cap.count() > 0 && left > cap) return cap;
  return left;
}

bool expired(std::chrono::steady_clock::time_point deadline, std::chrono::steady_clock::duration left) {
  return deadline != std::chrono::steady_clock::time_point::max() && left <= std::chrono::steady_clock::duration::zero();
}
}  // namespace

Http1ClientConnection::FlushAwaiter Http1ClientConnection::flush(Clock::time_point deadline) {
  auto t = bounded(deadline, options_.write_timeout);
  if (expired(deadline, t)) return FlushAwaiter{*this, conn_->flush(), transport::errc::timed_out};
  conn_->set_write_timeout(t);
  return FlushAwaiter{*this, conn_->flush(), {}};
}

// The three reads are read() itself (no coroutine frame of their own).
Task<std::error_code> Http1ClientConnection::read_head(Response& response, bool head_request,
                                                       Clock::time_point deadline) {
  parser_->parser.start(response, head_request);
  parser_->started = true;
  return read(response, Until::head, deadline);
}

Task<std::error_code> Http1ClientConnection::read_body(Response& response, Clock::time_point deadline) {
  return read(response, Until::body_bytes, deadline);
}

Task<std::error_code> Http1ClientConnection::read_all(Response& response, Clock::time_point deadline) {
  return read(response, Until::end, deadline);
}

Task<std::error_code> Http1ClientConnection::read(Response& response, Until until, Clock::time_point deadline) {
  protocol::http1::ResponseParser& p = parser_->parser;
  LinkedBuffer& in = conn_->input();
  for (;;) {
    // Parse what is buffered; fields and body bytes are copied out, so the input can go.
    std::size_t parsed = 0;
    while (parsed < in.size() && !p.done() && !p.failed()) {
      std::size_t n = p.feed(in.segment(parsed));
      if (n == 0) break;
      parsed += n;
    }
    in.skip(parsed);
    in.release();
    if (p.failed()) {
      failed_ = true;
      KHZ_LOG(debug, "http1 client " << conn_->peer_address() << ": " << p.error_reason());
      co_return p.error();
    }
    if (p.done()) co_return std::error_code();
    if (until == Until::head && p.headers_done()) co_return std::error_code();
    if (until == Until::body_bytes && !response.body().empty()) co_return std::error_code();

    auto t = bounded(deadline, options_.read_gap);
    if (expired(deadline, t)) {
      failed_ = true;
      co_return transport::errc::timed_out;
    }
    conn_->set_read_timeout(t);
    auto ec = co_await conn_->fill(in.size() + 1);
    if (ec == transport::errc::eof) {
      p.finish_eof();
      if (p.done()) co_return std::error_code();
      failed_ = true;
      // Nothing at all: the server closed a kept-alive connection (callers may retry).
      co_return p.began() ? p.error() : std::error_code(transport::errc::eof);
    }
    if (ec) {
      failed_ = true;
      co_return ec;
    }
  }
}

Task<std::error_code> Http1ClientConnection::connect_tunnel(std::string_view authority, Response& response,
                                                            Clock::time_point deadline) {
  LinkedBuffer& out = conn_->output();
  out.append("CONNECT ");
  out.append(authority);
  out.append(" HTTP/1.1\r\nHost: ");
  out.append(authority);
  out.append("\r\n\r\n");
  parser_->started = false;
  if (auto ec = co_await flush(deadline)) co_return ec;
  // A 2xx answer to CONNECT has no body whatever its fields say (RFC 9110 §9.3.6): parse it as
  // a head-only response, so the tunnel's first bytes stay in the input.
  parser_->parser.start(response, /*head_request=*/true);
  parser_->started = true;
  if (auto ec = co_await read(response, Until::head, deadline)) co_return ec;
  co_return std::error_code();
}

bool Http1ClientConnection::body_done() const noexcept { return parser_->parser.done(); }

bool Http1ClientConnection::response_began() const noexcept {
  return parser_->started && parser_->parser.began();
}

bool Http1ClientConnection::reusable() const noexcept {
  const auto& p = parser_->parser;
  return !failed_ && parser_->started && p.done() && p.keep_alive() && conn_->input().empty() &&
         conn_->output().empty();
}

void Http1ClientConnection::close() noexcept {
  failed_ = true;
  if (conn_) conn_->close();  // gone after take_transport()
}

}  // namespace khz

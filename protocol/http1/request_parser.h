// SPDX-License-Identifier: Apache-2.0
// Private to protocol/: the sans-I/O HTTP/1.1 request parser on llhttp.
//
//   RequestParser parser(limits);
//   parser.start(request);
//   while (!parser.done()) { consumed = parser.feed(bytes); ... }   // bytes from the buffer
//   if (parser.failed()) answer parser.error_status(), close.
//
// Tokens (method, target, header names and values) are views into the fed bytes, so those
// bytes must stay in place until the request is finished with. A token split across two feeds
// is copied once into the request's arena; one fed contiguously in two parts is just extended.
// feed() stops right after a complete message (pipelined bytes stay unconsumed).
//
// Bodies: feed() also stops at the end of a header section that a body follows
// (needs_body_decision()); the caller then calls configure_body() — collect the body into
// Request::body(), or stream it, in which case feed() stops after each piece of body, which
// take_chunk() hands out (a view into the fed bytes). Calling feed() without deciding collects
// with ParserLimits::max_body_bytes.
#pragma once

#include <khz/protocol/request.h>

#include "chunk_scanner.h"
#include "line_scanner.h"

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

namespace khz::protocol::http1 {

struct ParserLimits {
  std::size_t max_uri_bytes;
  std::size_t max_header_bytes;
  std::size_t max_body_bytes;
};

class RequestParser {
 public:
  explicit RequestParser(ParserLimits limits);
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  void set_limits(ParserLimits limits) noexcept { limits_ = limits; }

  // Starts a new message that will be parsed into `request` (cleared here).
  void start(Request& request);

  // Parses as much of `bytes` as belongs to the current message; returns how many it consumed.
  std::size_t feed(std::string_view bytes);

  bool began() const noexcept { return began_; }                 // a byte of this message was seen
  bool headers_done() const noexcept { return headers_done_; }
  bool done() const noexcept { return done_; }                   // complete message
  bool failed() const noexcept { return error_status_ != 0; }
  int error_status() const noexcept { return error_status_; }    // 400, 413, 414, 431, 505
  std::string_view error_reason() const noexcept { return error_reason_; }

  bool keep_alive() const noexcept { return keep_alive_; }       // valid once headers_done()
  bool expects_continue() const noexcept { return expect_continue_; }
  bool has_body() const noexcept { return has_body_; }            // framing says a body follows
  bool body_started() const noexcept { return body_started_; }
  // The announced Content-Length, or -1 (chunked, or no body).
  std::int64_t content_length() const noexcept { return content_length_; }

  // True between the end of a header section that a body follows and configure_body().
  bool needs_body_decision() const noexcept { return headers_done_ && has_body_ && !body_configured_ && !failed(); }
  // Collect (stream = false) or stream the body, accepting at most `max_bytes` of it (a larger
  // Content-Length fails with 413 here, before any byte of the body is read).
  void configure_body(bool stream, std::size_t max_bytes) noexcept;
  // Streaming: the piece of body the last feed() stopped after ("" when none); taking clears it.
  std::string_view take_chunk() noexcept { return std::exchange(chunk_, {}); }
  std::size_t body_bytes() const noexcept { return body_bytes_; }

 private:
  static int on_message_begin(llhttp_t* p);
  static int on_method(llhttp_t* p, const char* at, std::size_t n);
  static int on_url(llhttp_t* p, const char* at, std::size_t n);
  static int on_url_complete(llhttp_t* p);
  static int on_header_field(llhttp_t* p, const char* at, std::size_t n);
  static int on_header_value(llhttp_t* p, const char* at, std::size_t n);
  static int on_header_value_complete(llhttp_t* p);
  static int on_headers_complete(llhttp_t* p);
  static int on_chunk_header(llhttp_t* p);
  static int on_body(llhttp_t* p, const char* at, std::size_t n);
  static int on_message_complete(llhttp_t* p);

  int fail(int status, std::string_view reason) noexcept;
  std::size_t take_method(std::string_view bytes);
  void extend(std::string_view& token, const char* at, std::size_t n);
  int count_header_bytes(std::size_t n) noexcept;
  int check_framing(llhttp_t* p) noexcept;
  void check_chunks(std::string_view scanned) noexcept;

  llhttp_settings_t settings_{};
  llhttp_t parser_{};
  ParserLimits limits_;
  Request* request_ = nullptr;
  std::string_view method_;
  std::string_view url_;
  std::string_view field_;
  std::string_view value_;
  std::size_t header_bytes_ = 0;
  int error_status_ = 0;
  std::string_view error_reason_;
  bool began_ = false;
  bool headers_done_ = false;
  bool done_ = false;
  bool keep_alive_ = false;
  bool expect_continue_ = false;
  bool has_body_ = false;
  bool chunked_ = false;
  bool body_started_ = false;
  bool paused_at_headers_ = false;
  bool method_by_parser_ = false;  // the request line's method is read here, not by llhttp
  bool feeding_method_ = false;    // llhttp is being fed a stand-in for the method
  bool paused_at_body_ = false;
  bool body_configured_ = false;
  bool stream_body_ = false;
  std::size_t body_limit_ = 0;
  std::size_t body_bytes_ = 0;
  std::int64_t content_length_ = -1;
  std::string_view chunk_;
  LineScanner lines_{LineScanner::Kind::request};  // bare LF, obs-fold, request-line spacing
  ChunkScanner chunks_;                             // RFC 9112 §7.1 framing of a chunked body
};

}  // namespace khz::protocol::http1

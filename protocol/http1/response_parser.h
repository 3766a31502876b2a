// SPDX-License-Identifier: Apache-2.0
// Private to protocol/: the sans-I/O HTTP/1.1 response parser on llhttp (the client's side of
// request_parser.h), and the request writer.
//
//   ResponseParser parser({.max_header_bytes = 64 << 10, .max_body_bytes = 8 << 20});
//   parser.start(response, /*head_request=*/false);
//   while (!parser.done() && !parser.failed()) {
//     consumed = parser.feed(bytes);                 // body bytes land in response.body_buffer()
//     if (peer closed) parser.finish_eof();          // ends a close-delimited body, or fails
//   }
//   if (parser.failed()) report parser.error() / parser.error_reason(), close the connection.
//
// Header fields are copied into the Response (the fed bytes may go away after feed()).
// Body bytes are appended to response.body_buffer(); a streaming consumer takes and clears it
// after each feed() (the body limit counts every body byte, not what is buffered).
// What it does beyond llhttp (strict mode):
// - 1xx interim responses (100, 103, ...) are skipped: their fields are dropped and parsing
//   goes on to the final response. 101 is final (the connection is then not reusable).
// - 204, 304, 1xx and responses to HEAD have no body whatever their framing says (RFC 9112
//   §6.3); bytes that follow them are left unconsumed (the caller must not reuse the
//   connection when any remain).
// - No Content-Length and no chunked coding: the body runs until the peer closes
//   (finish_eof() completes it; keep_alive() is then false).
// - Chunked framing is checked by khz's own ChunkScanner as well as by llhttp; a chunk size over
//   what is left of the body limit fails before its data arrives.
// - obs-fold in a field is replaced by SP (RFC 9112 §5.2) and the response accepted.
// - Content-Length is read here, not by llhttp: repeated with the same value, as separate fields
//   or as a list ("5, 5"), it is one field (RFC 9110 §8.6); differing values, a sign or any
//   other character are malformed_response.
// - Transfer-Encoding with Content-Length: chunked framing wins, Content-Length is removed and
//   keep_alive() is false (RFC 9112 §6.3). A transfer coding other than chunked (gzip, ...) is
//   unsupported_transfer_coding: never handed to the caller as if it were the body.
// - Bad Content-Length, bad chunk framing, a bad status line and control characters in fields
//   are malformed_response; a header section
//   over the limit is header_too_large; a body over the limit is response_too_large; EOF inside a
//   message is truncated_response. feed() stops right after the final response.
#pragma once

#include <khz/common/linked_buffer.h>
#include <khz/protocol/request.h>
#include <khz/protocol/response.h>

#include <llhttp.h>

#include "chunk_scanner.h"
#include "line_scanner.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace khz::protocol::http1 {

struct ResponseLimits {
  std::size_t max_header_bytes = 64 * 1024;
  std::uint64_t max_body_bytes = 64 * 1024 * 1024;
};

class ResponseParser {
 public:
  explicit ResponseParser(ResponseLimits limits = {});
  ResponseParser(const ResponseParser&) = delete;
  ResponseParser& operator=(const ResponseParser&) = delete;

  // Starts a new exchange parsed into `response` (cleared here). `head_request`: the request
  // was HEAD, so the response has no body.
  void start(Response& response, bool head_request);

  // Parses as much of `bytes` as belongs to the response; returns how many it consumed.
  std::size_t feed(std::string_view bytes);
  // The peer closed: completes a close-delimited body, else fails with truncated_response
  // (unless already done or failed).
  void finish_eof();

  bool began() const noexcept { return began_; }        // a byte of the final response or an interim one
  bool headers_done() const noexcept { return headers_done_; }  // of the final response
  bool done() const noexcept { return done_; }
  bool failed() const noexcept { return static_cast<bool>(error_); }
  std::error_code error() const noexcept { return error_; }
  std::string_view error_reason() const noexcept { return error_reason_; }

  bool keep_alive() const noexcept { return keep_alive_; }  // valid once done()
  // Body framing of the final response, valid once headers_done().
  bool chunked() const noexcept { return chunked_; }
  bool until_close() const noexcept { return until_close_; }
  // Content-Length when given, else -1.
  std::int64_t content_length() const noexcept { return content_length_; }
  std::uint64_t body_bytes() const noexcept { return body_bytes_; }

 private:
  static int on_message_begin(llhttp_t* p);
  static int on_status(llhttp_t* p, const char* at, std::size_t n);
  static int on_header_field(llhttp_t* p, const char* at, std::size_t n);
  static int on_header_field_complete(llhttp_t* p);
  static int on_header_value(llhttp_t* p, const char* at, std::size_t n);
  static int on_header_value_complete(llhttp_t* p);
  static int on_headers_complete(llhttp_t* p);
  static int on_chunk_header(llhttp_t* p);
  static int on_body(llhttp_t* p, const char* at, std::size_t n);
  static int on_message_complete(llhttp_t* p);

  std::size_t parse(std::string_view bytes);  // feed() but for keeping the tokens
  int fail(std::error_code ec, std::string_view reason) noexcept;
  int count_header_bytes(std::size_t n) noexcept;
  void check_chunks(std::string_view scanned) noexcept;
  int check_transfer_coding(llhttp_t* p) noexcept;
  int take_content_length(llhttp_t* p, std::string_view value) noexcept;

  llhttp_settings_t settings_{};
  llhttp_t parser_{};
  ResponseLimits limits_;
  Response* response_ = nullptr;
  // A field name or value being parsed: a view of the bytes fed while it is contiguous in them
  // (no copy), copied into `owned` when it goes on in a later feed or elsewhere; keep() copies it
  // before a feed returns, as the caller may drop the bytes then.
  struct Token {
    std::string_view view;
    std::string owned;
    void extend(const char* at, std::size_t n) {
      if (view.empty()) {
        view = {at, n};
      } else if (view.data() + view.size() == at) {
        view = {view.data(), view.size() + n};
      } else {
        keep();
        owned.append(at, n);
        view = owned;
      }
    }
    void keep() {
      if (view.empty() || view.data() == owned.data()) return;
      owned.assign(view);
      view = owned;
    }
    void clear() noexcept { view = {}; }
  };
  Token field_;
  Token value_;
  bool in_value_ = false;
  std::size_t header_bytes_ = 0;
  std::uint64_t body_bytes_ = 0;
  std::int64_t content_length_ = -1;
  std::error_code error_;
  std::string_view error_reason_;
  bool head_request_ = false;
  bool began_ = false;
  bool interim_ = false;
  bool headers_done_ = false;
  bool done_ = false;
  bool keep_alive_ = false;
  bool chunked_ = false;
  bool until_close_ = false;
  bool paused_at_headers_ = false;
  bool close_after_ = false;      // framing was suspect: do not reuse the connection
  bool in_length_ = false;        // the field being parsed is Content-Length
  // Bare LF and obs-fold in a head are malformed: a response-splitting vector behind a proxy.
  LineScanner lines_{LineScanner::Kind::response};
  ChunkScanner chunks_;  // RFC 9112 §7.1 framing of a chunked body (chunk_scanner.h)
};

// ---- request writer

struct RequestHeadOptions {
  // Host header value when the request has none (RFC 9112 §3.2: required in HTTP/1.1).
  std::string_view host;
  // Body framing: a known length (Content-Length), or -1 for chunked (a streamed body of
  // unknown length). 0 for GET-like requests without a body writes no Content-Length unless
  // the method usually carries one (POST, PUT, PATCH).
  std::int64_t content_length = 0;
  // The request-target to write instead of request.target() (absolute form through a proxy).
  std::string_view target_override;
};

// Writes the request line and headers. Framing headers of the request (Content-Length,
// Transfer-Encoding) are replaced by what `options` says; Host is added when missing.
void write_request_head(LinkedBuffer& out, const Request& request, const RequestHeadOptions& options);

// Writes a complete request with request.body() as its body (Content-Length framing).
void write_request(LinkedBuffer& out, const Request& request, std::string_view host,
                   std::string_view target_override = {});

}  // namespace khz::protocol::http1

// SPDX-License-Identifier: Apache-2.0
#include "response_parser.h"

#include "../common/field_value.h"

#include "head_builder.h"
#include "transfer_codings.h"

#include <khz/protocol/error.h>

#include <charconv>
#include <cstdint>
#include <optional>

namespace khz::protocol::http1 {
namespace {
ResponseParser& self(llhttp_t* p) { return *static_cast<ResponseParser*>(p->data); }
bool is_ows(char c) { return c == ' ' || c == '\t'; }
}  // namespace

ResponseParser::ResponseParser(ResponseLimits limits) : limits_(limits) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = &on_message_begin;
  settings_.on_status = &on_status;
  settings_.on_header_field = &on_header_field;
  settings_.on_header_field_complete = &on_header_field_complete;
  settings_.on_header_value = &on_header_value;
  settings_.on_header_value_complete = &on_header_value_complete;
  settings_.on_headers_complete = &on_headers_complete;
  settings_.on_chunk_header = &on_chunk_header;
  settings_.on_body = &on_body;
  settings_.on_message_complete = &on_message_complete;
  llhttp_init(&parser_, HTTP_RESPONSE, &settings_);
  // Content-Length with Transfer-Encoding is judged in on_headers_complete (chunked wins).
  llhttp_set_lenient_chunked_length(&parser_, 1);
  parser_.data = this;
}

void ResponseParser::start(Response& response, bool head_request) {
  llhttp_reset(&parser_);
  response_ = &response;
  response.clear();
  field_.clear();
  value_.clear();
  in_value_ = false;
  header_bytes_ = 0;
  body_bytes_ = 0;
  content_length_ = -1;
  error_ = {};
  error_reason_ = {};
  head_request_ = head_request;
  began_ = interim_ = headers_done_ = done_ = keep_alive_ = chunked_ = until_close_ = close_after_ = false;
  paused_at_headers_ = false;
  in_length_ = false;
  lines_.reset();
  chunks_.reset();
}

std::size_t ResponseParser::feed(std::string_view bytes) {
  const std::size_t n = parse(bytes);
  field_.keep();  // the caller may drop `bytes` now
  value_.keep();
  return n;
}

std::size_t ResponseParser::parse(std::string_view bytes) {
  if (done_ || failed() || bytes.empty()) return 0;
  std::size_t total = 0;
  for (;;) {
    const bool in_head = !headers_done_;
    // A chunked body is checked ahead: llhttp is fed only the bytes before a framing fault.
    std::size_t limit = bytes.size();
    const auto ahead = in_head || !chunked_ ? ChunkScanner::Fault::none : ChunkScanner(chunks_).scan(bytes, &limit);
    llhttp_errno_t err = llhttp_execute(&parser_, bytes.data(), limit);
    const char* pos = llhttp_get_error_pos(&parser_);
    std::size_t consumed = err == HPE_OK || pos == nullptr ? limit : static_cast<std::size_t>(pos - bytes.data());
    total += consumed;
    if (in_head) {
      if (auto fault = lines_.scan(bytes.substr(0, consumed)); fault != LineScanner::Fault::none) {
        fail(protocol::errc::malformed_response, LineScanner::describe(fault));
        return total;
      }
    } else if (chunked_) {
      check_chunks(bytes.substr(0, consumed));
      if (!done_ && ahead != ChunkScanner::Fault::none && consumed == limit && err == HPE_OK) {
        fail(protocol::errc::malformed_response, ChunkScanner::describe(ahead));
      }
      if (failed()) return total;
    }
    if (err == HPE_OK) return total;
    if (err == HPE_PAUSED && paused_at_headers_) {
      // Paused where a head ended (for the line-ending scan); an interim response's head is
      // followed by the next head.
      paused_at_headers_ = false;
      llhttp_resume(&parser_);
      bytes.remove_prefix(consumed);
      continue;
    }
    if ((err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) && done_) return total;
    if (!failed()) fail(protocol::errc::malformed_response, llhttp_get_error_reason(&parser_));
    return total;
  }
}

void ResponseParser::finish_eof() {
  if (done_ || failed()) return;
  if (!began_) {
    fail(protocol::errc::truncated_response, "connection closed before a response");
    return;
  }
  llhttp_errno_t err = llhttp_finish(&parser_);
  if (done_) {
    keep_alive_ = false;
    return;
  }
  (void)err;
  fail(protocol::errc::truncated_response, headers_done_ ? "connection closed inside the response body"
                                                         : "connection closed inside the response head");
}

void ResponseParser::check_chunks(std::string_view scanned) noexcept {
  if (auto fault = chunks_.scan(scanned); fault != ChunkScanner::Fault::none) {
    done_ = false;  // llhttp may have completed the message in this same execute
    fail(protocol::errc::malformed_response, ChunkScanner::describe(fault));
  } else if (done_ && !chunks_.done()) {
    done_ = false;
    fail(protocol::errc::malformed_response, "chunked body framing ambiguous");
  }
}

int ResponseParser::fail(std::error_code ec, std::string_view reason) noexcept {
  if (!error_) {
    error_ = ec;
    error_reason_ = reason;
  }
  return -1;
}

int ResponseParser::count_header_bytes(std::size_t n) noexcept {
  header_bytes_ += n;
  if (header_bytes_ > limits_.max_header_bytes) return fail(protocol::errc::header_too_large, "response head too large");
  return 0;
}

// The fixed parts of the head count once each, whatever the reads split: the status line's
// "HTTP/1.1 200 " and CRLF when the message begins, a field line's ": " and CRLF on its name's
// first piece.
int ResponseParser::on_message_begin(llhttp_t* p) {
  auto& s = self(p);
  s.began_ = true;
  return s.count_header_bytes(16);
}

int ResponseParser::on_status(llhttp_t* p, const char*, std::size_t n) {
  auto& s = self(p);
  s.began_ = true;
  return s.count_header_bytes(n);
}

int ResponseParser::on_header_field(llhttp_t* p, const char* at, std::size_t n) {
  auto& s = self(p);
  if (int rc = s.count_header_bytes(s.field_.view.empty() ? n + 4 : n)) return rc;
  s.field_.extend(at, n);
  return 0;
}

int ResponseParser::on_header_field_complete(llhttp_t* p) {
  auto& s = self(p);
  // Content-Length is read here, not by llhttp (which refuses a repeat and a list): llhttp is
  // told it is an ordinary field (header state 0, "general"), and on_header_value_complete sets
  // the length and F_CONTENT_LENGTH that llhttp then frames the body by.
  if (!s.headers_done_ && iequals(s.field_.view, "Content-Length")) {
    s.in_length_ = true;
    p->header_state = 0;
  }
  return 0;
}

// RFC 9110 §8.6: Content-Length = 1*DIGIT; a list or repeated fields of one value are that
// value (a recipient may take them as one); anything else is malformed.
int ResponseParser::take_content_length(llhttp_t* p, std::string_view value) noexcept {
  std::optional<std::uint64_t> length;
  while (true) {
    std::size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && is_ows(item.front())) item.remove_prefix(1);
    while (!item.empty() && is_ows(item.back())) item.remove_suffix(1);
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), n);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size() || item.front() == '+' ||
        item.front() == '-' || n > static_cast<std::uint64_t>(INT64_MAX)) {
      return fail(protocol::errc::malformed_response, "bad Content-Length");
    }
    if (length && *length != n) return fail(protocol::errc::malformed_response, "Content-Length values differ");
    length = n;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  if ((p->flags & F_CONTENT_LENGTH) != 0) {
    if (p->content_length != *length) return fail(protocol::errc::malformed_response, "Content-Length values differ");
    return 0;  // the same again: one field
  }
  p->content_length = *length;
  p->flags |= F_CONTENT_LENGTH;
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, *length);
  (void)ec;
  response_->headers().add("Content-Length", std::string_view(digits, static_cast<std::size_t>(end - digits)));
  return 0;
}

int ResponseParser::on_header_value(llhttp_t* p, const char* at, std::size_t n) {
  auto& s = self(p);
  if (int rc = s.count_header_bytes(n)) return rc;
  s.value_.extend(at, n);
  return 0;
}

int ResponseParser::on_header_value_complete(llhttp_t* p) {
  auto& s = self(p);
  std::string_view v = s.value_.view;
  while (!v.empty() && is_ows(v.back())) v.remove_suffix(1);
  if (has_value_control(v)) {
    return s.fail(protocol::errc::malformed_response, "control character in a response field value");
  }
  if (s.in_length_) {
    s.in_length_ = false;
    int rc = s.take_content_length(p, v);
    s.field_.clear();
    s.value_.clear();
    return rc;
  }
  (s.headers_done_ ? s.response_->trailers() : s.response_->headers()).add(s.field_.view, v);
  s.field_.clear();
  s.value_.clear();
  return 0;
}

int ResponseParser::on_headers_complete(llhttp_t* p) {
  auto& s = self(p);
  Response& resp = *s.response_;
  const int status = p->status_code;
  if (p->http_major != 1) return s.fail(protocol::errc::malformed_response, "HTTP version not supported");
  if (status < 100 || status > 999) return s.fail(protocol::errc::malformed_response, "bad status code");
  resp.set_status(status);
  s.paused_at_headers_ = true;
  if (status < 200 && status != 101) {
    // RFC 9110 §15.2: an interim response; the final one follows on the same connection.
    s.interim_ = true;
    p->flags |= F_SKIPBODY;
    return HPE_PAUSED;
  }
  s.headers_done_ = true;
  const bool has_te = (p->flags & F_TRANSFER_ENCODING) != 0;
  const bool has_cl = (p->flags & F_CONTENT_LENGTH) != 0;
  // RFC 9112 §6.3: responses to HEAD, 1xx, 204 and 304 have no body whatever they say.
  if (s.head_request_ || status == 204 || status == 304 || status == 101) {
    p->flags |= F_SKIPBODY;
    return HPE_PAUSED;
  }
  if (has_te) {
    if (int rc = s.check_transfer_coding(p)) return rc;
    if (has_cl) {
      // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length; such a response may be an
      // attempt at response splitting, so the connection is not used again.
      resp.headers().remove("Content-Length");
      p->flags &= static_cast<decltype(p->flags)>(~F_CONTENT_LENGTH);
      s.close_after_ = true;
    }
    return HPE_PAUSED;
  }
  if (has_cl) {
    s.content_length_ = static_cast<std::int64_t>(p->content_length);
    if (p->content_length > s.limits_.max_body_bytes) {
      return s.fail(protocol::errc::response_too_large, "response body larger than the limit");
    }
    if (p->content_length <= 1 << 20) resp.body_buffer().reserve(static_cast<std::size_t>(p->content_length));
  }
  s.until_close_ = !has_cl;
  return HPE_PAUSED;
}

int ResponseParser::on_chunk_header(llhttp_t* p) {
  auto& s = self(p);
  // p->content_length is this chunk's size: refuse it before waiting for its data.
  if (p->content_length > s.limits_.max_body_bytes - s.body_bytes_) {
    return s.fail(protocol::errc::response_too_large, "response body larger than the limit");
  }
  return 0;
}

// The response's Transfer-Encoding, parsed here (RFC 9112 §6.1, §7): exactly one "chunked",
// last, frames the body; any other coding (gzip, ...) is refused rather than handed to the
// caller as if it were the body; an HTTP/1.0 response has no Transfer-Encoding. This parse is
// the framing decision (llhttp matches "chunked" only before SP, "," or CR; HTAB is OWS too).
int ResponseParser::check_transfer_coding(llhttp_t* p) noexcept {
  if (p->http_minor == 0) return fail(protocol::errc::malformed_response, "Transfer-Encoding in an HTTP/1.0 response");
  const TransferCodings te = TransferCodings::of(response_->headers());
  if (te.compression || te.unknown) {
    return fail(protocol::errc::unsupported_transfer_coding, "response transfer coding other than chunked");
  }
  if (!te.chunked_once_and_last()) return fail(protocol::errc::malformed_response, "bad Transfer-Encoding");
  p->flags |= F_CHUNKED;
  chunked_ = true;
  return 0;
}

int ResponseParser::on_body(llhttp_t* p, const char* at, std::size_t n) {
  auto& s = self(p);
  s.body_bytes_ += n;
  if (s.body_bytes_ > s.limits_.max_body_bytes) {
    return s.fail(protocol::errc::response_too_large, "response body larger than the limit");
  }
  s.response_->body_buffer().append(at, n);
  return 0;
}

int ResponseParser::on_message_complete(llhttp_t* p) {
  auto& s = self(p);
  if (s.interim_) {
    // Drop the interim response and read on: the next head is the final response's (or
    // another interim one).
    s.interim_ = false;
    s.response_->clear();
    s.header_bytes_ = 0;
    s.lines_.reset();
    return 0;
  }
  s.done_ = true;
  s.keep_alive_ = !s.until_close_ && !s.close_after_ && p->status_code != 101 && llhttp_should_keep_alive(p) != 0;
  return HPE_PAUSED;
}

// ---- request writer

namespace {

bool method_expects_body(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH";
}

bool is_framing(std::string_view name) {
  return iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding");
}

}  // namespace

void write_request_head(LinkedBuffer& out, const Request& request, const RequestHeadOptions& options) {
  HeadBuilder head(out);
  head.add(request.method());
  head.add(" ");
  head.add(options.target_override.empty() ? request.target() : options.target_override);
  head.add(" HTTP/1.1\r\n");
  if (!options.host.empty() && !request.headers().contains("Host")) head.field("Host", options.host);
  const bool check = request.headers().may_hold_unsendable();
  for (const auto& f : request.headers()) {
    if (is_framing(f.name)) continue;
    if (check && !is_sendable_field(f.name, f.value)) {  // a CR or LF would smuggle a request
      log_unsendable_field("http1 client", f.name);
      continue;
    }
    head.field(f.name, f.value);
  }
  if (options.content_length < 0) {
    head.add("Transfer-Encoding: chunked\r\n");
  } else if (options.content_length > 0 || method_expects_body(request.method())) {
    head.add("Content-Length: ");
    head.add_number(static_cast<std::uint64_t>(options.content_length));
    head.add("\r\n");
  }
  head.add("\r\n");
}

void write_request(LinkedBuffer& out, const Request& request, std::string_view host, std::string_view target_override) {
  write_request_head(out, request,
                     {.host = host,
                      .content_length = static_cast<std::int64_t>(request.body().size()),
                      .target_override = target_override});
  // Large bodies are linked, not copied: the request outlives the flush.
  if (request.body().size() >= 16 * 1024) {
    out.append_ref(request.body());
  } else if (!request.body().empty()) {
    out.append(request.body());
  }
}

}  // namespace khz::protocol::http1

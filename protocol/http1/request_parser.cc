// SPDX-License-Identifier: Apache-2.0
#include "request_parser.h"

#include <khz/common/log.h>

namespace khz::http1 {
namespace {
RequestParser& self(llhttp_t* p) { return *static_cast<RequestParser*>(p->data); }
bool is_ows(char c) { return c == ' ' || c == '\t'; }

// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
//                          "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}
}  // namespace

RequestParser::RequestParser(ParserLimits limits) : limits_(limits) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = &on_message_begin;
  settings_.on_method = &on_method;
  settings_.on_url = &on_url;
  settings_.on_url_complete = &on_url_complete;
  settings_.on_header_field = &on_header_field;
  settings_.on_header_value = &on_header_value;
  settings_.on_header_value_complete = &on_header_value_complete;
  settings_.on_headers_complete = &on_headers_complete;
  settings_.on_body = &on_body;
  settings_.on_message_complete = &on_message_complete;
  llhttp_init(&parser_, HTTP_REQUEST, &settings_);
  parser_.data = this;
}

void RequestParser::start(Request& request) {
  llhttp_reset(&parser_);
  request_ = &request;
  request.clear();
  method_ = url_ = field_ = value_ = {};
  header_bytes_ = 0;
  error_status_ = 0;
  error_reason_ = {};
  began_ = headers_done_ = done_ = keep_alive_ = expect_continue_ = has_body_ = body_started_ = false;
}

std::size_t RequestParser::feed(std::string_view bytes) {
  if (done_ || failed() || bytes.empty()) return 0;
  llhttp_errno_t err = llhttp_execute(&parser_, bytes.data(), bytes.size());
  if (err == HPE_OK) return bytes.size();
  const char* pos = llhttp_get_error_pos(&parser_);
  std::size_t consumed = pos != nullptr ? static_cast<std::size_t>(pos - bytes.data()) : bytes.size();
  if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) return consumed;  // message complete
  if (!failed()) {
    int status = 400;
    if (err == HPE_INVALID_VERSION) status = 505;
    fail(status, llhttp_get_error_reason(&parser_));
  }
  return consumed;
}

int RequestParser::fail(int status, std::string_view reason) noexcept {
  if (error_status_ == 0) {
    error_status_ = status;
    error_reason_ = reason;
  }
  return -1;
}

void RequestParser::extend(std::string_view& token, const char* at, std::size_t n) {
  if (token.empty()) {
    token = {at, n};
  } else if (token.data() + token.size() == at) {
    token = {token.data(), token.size() + n};
  } else {
    token = request_->arena().copy(token, {at, n});
  }
}

int RequestParser::count_header_bytes(std::size_t n) noexcept {
  header_bytes_ += n;
  if (header_bytes_ > limits_.max_header_bytes) return fail(431, "header block too large");
  return 0;
}

int RequestParser::on_message_begin(llhttp_t* p) {
  self(p).began_ = true;
  return 0;
}

int RequestParser::on_method(llhttp_t* p, const char* at, std::size_t n) {
  auto& s = self(p);
  s.began_ = true;
  s.extend(s.method_, at, n);
  return s.count_header_bytes(n);
}

int RequestParser::on_url(llhttp_t* p, const char* at, std::size_t n) {
  auto& s = self(p);
  s.extend(s.url_, at, n);
  if (s.url_.size() > s.limits_.max_uri_bytes) return s.fail(414, "request target too long");
  return s.count_header_bytes(n);
}

int RequestParser::on_url_complete(llhttp_t* p) {
  auto& s = self(p);
  s.request_->set_method_ref(s.method_);
  s.request_->set_target_ref(s.url_);
  return 0;
}

int RequestParser::on_header_field(llhttp_t* p, const char* at, std::size_t n) {
  auto& s = self(p);
  s.extend(s.field_, at, n);
  return s.count_header_bytes(n + 4);  // ": " and CRLF
}

int RequestParser::on_header_value(llhttp_t* p, const char* at, std::size_t n) {
  auto& s = self(p);
  s.extend(s.value_, at, n);
  return s.count_header_bytes(n);
}

int RequestParser::on_header_value_complete(llhttp_t* p) {
  auto& s = self(p);
  if (!is_token(s.field_)) return s.fail(400, "invalid header field name");
  std::string_view v = s.value_;
  while (!v.empty() && is_ows(v.back())) v.remove_suffix(1);
  s.request_->headers().add_ref(s.field_, v);
  s.field_ = s.value_ = {};
  return 0;
}

int RequestParser::on_headers_complete(llhttp_t* p) {
  auto& s = self(p);
  s.headers_done_ = true;
  Request& req = *s.request_;
  req.set_version(p->http_minor == 0 ? Version::http10 : Version::http11);
  // RFC 9112 §3.2: an HTTP/1.1 request carries exactly one Host.
  std::size_t hosts = req.headers().count("Host");
  if (req.version() == Version::http11 && hosts != 1) {
    return s.fail(400, hosts == 0 ? "missing Host header" : "repeated Host header");
  }
  if (hosts > 1) return s.fail(400, "repeated Host header");
  s.has_body_ = (p->flags & F_CHUNKED) != 0 || ((p->flags & F_CONTENT_LENGTH) != 0 && p->content_length > 0);
  if ((p->flags & F_CONTENT_LENGTH) != 0 && p->content_length > s.limits_.max_body_bytes) {
    return s.fail(413, "request body too large");
  }
  s.expect_continue_ = s.has_body_ && req.version() == Version::http11 &&
                       iequals(req.headers().get("Expect"), "100-continue");
  if ((p->flags & F_CONTENT_LENGTH) != 0 && p->content_length > 0) {
    req.body_buffer().reserve(static_cast<std::size_t>(p->content_length));
  }
  return 0;
}

int RequestParser::on_body(llhttp_t* p, const char* at, std::size_t n) {
  auto& s = self(p);
  s.body_started_ = true;
  std::string& body = s.request_->body_buffer();
  if (body.size() + n > s.limits_.max_body_bytes) return s.fail(413, "request body too large");
  body.append(at, n);
  return 0;
}

int RequestParser::on_message_complete(llhttp_t* p) {
  auto& s = self(p);
  s.done_ = true;
  s.keep_alive_ = llhttp_should_keep_alive(p) != 0;
  return HPE_PAUSED;  // stop at the message boundary; pipelined bytes wait their turn
}

}  // namespace khz::http1

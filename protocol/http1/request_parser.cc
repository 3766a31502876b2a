// SPDX-License-Identifier: Apache-2.0
#include "request_parser.h"

#include "../common/field_value.h"

#include "transfer_codings.h"

#include <khz/common/log.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <new>

namespace khz::protocol::http1 {
namespace {
RequestParser& self(llhttp_t* p) { return *static_cast<RequestParser*>(p->data); }
bool is_ows(char c) { return c == ' ' || c == '\t'; }

// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
//                          "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
// (Field values: field_value.h.)
constexpr std::array<bool, 256> kTchar = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    t[static_cast<std::size_t>(c)] =
        alnum || (c != 0 && std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos);
  }
  return t;
}();

bool is_tchar(char c) { return kTchar[static_cast<unsigned char>(c)]; }

// The methods llhttp 8.1 knows, as it spells them (its HTTP_METHOD_MAP).
constexpr std::string_view kLlhttpMethods[] = {
#define KHZ_METHOD_NAME(num, name, string) #string,
    HTTP_METHOD_MAP(KHZ_METHOD_NAME)
#undef KHZ_METHOD_NAME
};

// What llhttp is fed in place of a method: the method itself (static storage) when llhttp
// knows it, else a neutral one (GET: no special framing for a request). The trailing space is
// the request line's first SP.
std::string_view llhttp_stand_in(std::string_view method) {
  static constexpr std::string_view kGet = "GET ";
  static const auto kWithSpace = [] {
    std::array<std::string, std::size(kLlhttpMethods)> a;
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = std::string(kLlhttpMethods[i]) + ' ';
    return a;
  }();
  for (const auto& m : kWithSpace) {
    if (m.size() == method.size() + 1 && m.compare(0, method.size(), method) == 0) return m;
  }
  return kGet;
}

// The request lines llhttp reads without help: a common method at the very start of the bytes.
bool starts_with_common_method(std::string_view bytes) {
  for (std::string_view m : {"GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "PATCH ", "OPTIONS "}) {
    if (bytes.starts_with(m)) return true;
  }
  return false;
}

// RFC 3986 §3.2.2: the characters of a reg-name (unreserved and sub-delims; '%' escapes are
// checked apart) and of an IP-literal's inside (those, hex digits, ':' and '.').
constexpr std::array<bool, 256> kHostChar = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[static_cast<std::size_t>(c)] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                                     (c != 0 && std::string_view("-._~!$&'()*+,;=").find(static_cast<char>(c)) !=
                                                    std::string_view::npos);
  }
  return t;
}();

bool is_host_char(char c) { return kHostChar[static_cast<unsigned char>(c)]; }
bool is_hex_digit(char c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }

// RFC 9110 §7.2 and RFC 3986 §3.2.2: Host = uri-host [ ":" port ], where uri-host is an
// IP-literal in brackets, an IPv4 address or a reg-name (unreserved, pct-encoded, sub-delims).
// The port, when the colon is there, is 1 to 5 digits up to 65535.
bool is_valid_host(std::string_view host) {
  // The common case, a reg-name or IPv4 address without '%', with or without a port, in one pass.
  std::size_t n = 0;
  while (n < host.size() && is_host_char(host[n])) ++n;
  if (n == host.size()) return n != 0;
  if (host[n] == ':' && n != 0 && host.size() - n - 1 <= 5 && host.size() - n - 1 >= 1) {
    unsigned value = 0;
    std::size_t i = n + 1;
    for (; i < host.size() && host[i] >= '0' && host[i] <= '9'; ++i) value = value * 10 + static_cast<unsigned>(host[i] - '0');
    if (i == host.size()) return value <= 65535;
  }
  if (host.empty()) return false;
  std::string_view name = host;
  std::string_view port;
  bool has_port = false;
  if (host.front() == '[') {
    std::size_t close = host.find(']');
    if (close == std::string_view::npos || close < 2) return false;
    for (char c : host.substr(1, close - 1)) {
      if (!is_host_char(c) && c != ':') return false;
    }
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    name = {};
    has_port = !rest.empty();
    if (has_port) port = rest.substr(1);
  } else if (std::size_t colon = host.find(':'); colon != std::string_view::npos) {
    name = host.substr(0, colon);
    port = host.substr(colon + 1);
    has_port = true;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (is_host_char(name[i])) continue;
    if (name[i] == '%' && i + 2 < name.size() && is_hex_digit(name[i + 1]) && is_hex_digit(name[i + 2])) {
      i += 2;
      continue;
    }
    return false;
  }
  if (!has_port) return true;
  if (port.empty() || port.size() > 5) return false;
  unsigned value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value <= 65535;
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
  settings_.on_chunk_header = &on_chunk_header;
  settings_.on_body = &on_body;
  settings_.on_message_complete = &on_message_complete;
  llhttp_init(&parser_, HTTP_REQUEST, &settings_);
  parser_.data = this;
}

// Decisions this parser makes on top of llhttp (strict mode), RFC 9110/9112:
// - Empty lines (CRLF or LF) before the request line are ignored (RFC 9112 §2.2).
// - Anywhere in the request line and header section, a line ending in a bare LF is a 400:
//   peers that disagree on LF alone are a request-smuggling vector.
// - obs-fold (a field line starting with SP/HTAB) and CR, LF, NUL or other controls in a field
//   value are a 400 (§5.2, RFC 9110 §5.5); HTAB and obs-text are allowed.
// - The request line is method SP target SP version with single spaces (§3); else a 400.
// - Transfer-Encoding: an unknown or unimplemented coding is a 501 (we implement chunked only);
//   a final coding other than chunked is a 400 (§6.3); any Transfer-Encoding in HTTP/1.0 is a
//   400 (§6.1); Content-Length together with Transfer-Encoding is a 400 (llhttp).
// - HTTP versions other than 1.0 and 1.1 are a 505. Any well-formed method (a token) is
//   accepted, so routes may use methods llhttp has never heard of: a request line that does not
//   start with a common method has its method read here and llhttp is fed a stand-in for it
//   (take_method()); the application answers 501 to a method nothing serves (RFC 9110 §9.1).
//   A malformed method is a 400. "*" is a target for OPTIONS only.
// - A target with a fragment ("#") is a 400: no request-target form carries one (§3.2).
// - Host must be a valid uri-host [":" port] (RFC 3986 §3.2.2), and present in HTTP/1.1.
// - Trailer fields of a chunked body go to Request::trailers(), never into the headers.
// - Chunked framing is checked by khz's own ChunkScanner as well (chunk_scanner.h): llhttp 8.1
//   skips the CRLF after chunk data unchecked. A chunk size over what is left of the body limit
//   is a 413 as soon as its line is in, before any of its data.

void RequestParser::start(Request& request) {
  llhttp_reset(&parser_);
  request_ = &request;
  request.clear();
  method_ = url_ = field_ = value_ = {};
  header_bytes_ = 0;
  error_status_ = 0;
  error_reason_ = {};
  began_ = headers_done_ = done_ = keep_alive_ = expect_continue_ = has_body_ = chunked_ = body_started_ = false;
  paused_at_headers_ = false;
  method_by_parser_ = feeding_method_ = false;
  lines_.reset();
  chunks_.reset();
  paused_at_body_ = body_configured_ = stream_body_ = false;
  body_limit_ = limits_.max_body_bytes;
  body_bytes_ = 0;
  content_length_ = -1;
  chunk_ = {};
}

void RequestParser::configure_body(bool stream, std::size_t max_bytes) noexcept {
  body_configured_ = true;
  stream_body_ = stream;
  body_limit_ = max_bytes;
  if (content_length_ >= 0 && static_cast<std::uint64_t>(content_length_) > max_bytes) {
    fail(413, "request body too large");
    return;
  }
  if (!stream && content_length_ > 0) {
    try {
      request_->body_buffer().reserve(static_cast<std::size_t>(content_length_));
    } catch (const std::bad_alloc&) {
      fail(413, "request body too large");
    }
  }
}

std::size_t RequestParser::feed(std::string_view bytes) {
  if (needs_body_decision()) configure_body(false, limits_.max_body_bytes);
  if (done_ || failed() || bytes.empty()) return 0;
  std::size_t total = 0;
  if (!headers_done_ && url_.empty() && (method_by_parser_ || method_.empty())) {
    // Still at the method: read it here unless llhttp can from these bytes as they are.
    if (method_by_parser_ || !starts_with_common_method(bytes)) {
      std::size_t n = take_method(bytes);
      if (auto fault = lines_.scan(bytes.substr(0, n)); fault != LineScanner::Fault::none) {
        fail(400, LineScanner::describe(fault));
        return n;
      }
      if (failed() || method_by_parser_) return n;  // failed, or the method goes on in the next bytes
      total = n;
      bytes.remove_prefix(n);
      if (bytes.empty()) return total;
    }
  }
  for (;;) {
    const bool in_header_section = !headers_done_;
    // A chunked body is checked ahead: llhttp is fed only the bytes before a framing fault, so
    // nothing it does past the fault (a callback's 413) decides the outcome.
    std::size_t limit = bytes.size();
    const auto ahead = in_header_section || !chunked_ ? ChunkScanner::Fault::none : ChunkScanner(chunks_).scan(bytes, &limit);
    // An empty remainder still runs the state machine: a message without a body completes
    // right after the headers, with no further input.
    llhttp_errno_t err = llhttp_execute(&parser_, bytes.data(), limit);
    const char* pos = llhttp_get_error_pos(&parser_);
    std::size_t consumed = err == HPE_OK || pos == nullptr ? limit : static_cast<std::size_t>(pos - bytes.data());
    total += consumed;
    if (in_header_section) {
      // Header-section bytes end where on_headers_complete paused the parser. On an llhttp
      // error the byte it stopped at is scanned too, so a line fault is named by khz's rule
      // rather than by llhttp's reason (a bare CR is not a bad version).
      const bool error = err != HPE_OK && err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE;
      if (auto fault = lines_.scan(bytes.substr(0, error && consumed < bytes.size() ? consumed + 1 : consumed));
          fault != LineScanner::Fault::none) {
        done_ = false;  // a bodyless message may have completed in this same execute
        fail(400, LineScanner::describe(fault));
        return total;
      }
    } else if (chunked_) {
      check_chunks(bytes.substr(0, consumed));
      // llhttp took every byte before the fault and wants more: the fault is the answer.
      if (!done_ && ahead != ChunkScanner::Fault::none && consumed == limit && err == HPE_OK) {
        fail(400, ChunkScanner::describe(ahead));
      }
      if (failed()) return total;
    }
    if (err == HPE_OK) return total;
    if (err == HPE_PAUSED && paused_at_headers_) {
      paused_at_headers_ = false;
      llhttp_resume(&parser_);
      if (needs_body_decision()) return total;  // the caller decides how to take the body
      bytes.remove_prefix(consumed);
      continue;
    }
    if (err == HPE_PAUSED && paused_at_body_) {  // a streamed piece of body is ready
      paused_at_body_ = false;
      llhttp_resume(&parser_);
      // The last piece of a sized body: run on (with no further bytes) so the message
      // completes now rather than on the next feed, which would need more input.
      if (content_length_ >= 0 && body_bytes_ == static_cast<std::uint64_t>(content_length_)) {
        bytes.remove_prefix(consumed);
        continue;
      }
      return total;
    }
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) return total;  // message complete
    if (!failed()) {
      if (err == HPE_INVALID_VERSION) fail(505, "HTTP version not supported");
      else fail(400, llhttp_get_error_reason(&parser_));
    }
    return total;
  }
}

void RequestParser::check_chunks(std::string_view scanned) noexcept {
  if (auto fault = chunks_.scan(scanned); fault != ChunkScanner::Fault::none) {
    done_ = false;  // llhttp may have completed the message in this same execute
    fail(400, ChunkScanner::describe(fault));
  } else if (done_ && !chunks_.done()) {
    done_ = false;
    fail(400, "chunked body framing ambiguous");
  }
}

// Reads the method (after any empty lines) up to its SP, then feeds llhttp the stand-in; returns
// the bytes consumed. method_by_parser_ stays set while the method is still incomplete.
std::size_t RequestParser::take_method(std::string_view bytes) {
  method_by_parser_ = true;
  std::size_t i = 0;
  if (method_.empty()) {
    while (i < bytes.size() && (bytes[i] == '\r' || bytes[i] == '\n')) ++i;  // RFC 9112 §2.2
  }
  std::size_t start = i;
  while (i < bytes.size() && is_tchar(bytes[i])) ++i;
  if (i > start) {
    began_ = true;
    extend(method_, bytes.data() + start, i - start);
    if (count_header_bytes(i - start) != 0) return i;
  }
  if (i == bytes.size()) return i;  // the method may go on
  if (bytes[i] != ' ' || method_.empty()) {
    began_ = true;
    fail(400, "invalid method");
    return i;
  }
  // The method is complete: llhttp reads a stand-in and goes on from the target.
  method_by_parser_ = false;
  feeding_method_ = true;
  std::string_view stand_in = llhttp_stand_in(method_);
  llhttp_errno_t err = llhttp_execute(&parser_, stand_in.data(), stand_in.size());
  feeding_method_ = false;
  KHZ_ASSERT(err == HPE_OK);
  (void)err;
  return i + 1;
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
  if (s.feeding_method_) return 0;  // the stand-in: the method was read by take_method()
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
  if (s.url_.find('#') != std::string_view::npos) return s.fail(400, "fragment in the request target");
  s.request_->set_method_ref(s.method_);
  s.request_->set_target_ref(s.url_);
  return 0;
}

int RequestParser::on_header_field(llhttp_t* p, const char* at, std::size_t n) {
  auto& s = self(p);
  // ": " and CRLF once a field line, on its name's first piece: a name split over reads
  // counts what a whole one does.
  const std::size_t framing = s.field_.empty() ? 4 : 0;
  s.extend(s.field_, at, n);
  return s.count_header_bytes(n + framing);
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
  if (has_value_control(v)) {
    for (char c : v) {
      if (is_value_control(c)) {
        return s.fail(400, c == '\r' || c == '\n' ? "obs-fold or line break in a field value"
                                                   : "control character in a field value");
      }
    }
  }
  // After the body, field lines are the trailer section of a chunked message.
  (s.headers_done_ ? s.request_->trailers() : s.request_->headers()).add_ref(s.field_, v);
  s.field_ = s.value_ = {};
  return 0;
}

// RFC 9112 §6: what frames the body. llhttp already refuses bad Content-Length values.
int RequestParser::check_framing(llhttp_t* p) noexcept {
  const TransferCodings te = TransferCodings::of(request_->headers());
  if (!te.present) return 0;
  if (p->http_minor == 0) return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
  if (te.unknown) return fail(501, "unknown transfer coding");
  if (!te.chunked_last) return fail(400, "final transfer coding is not chunked");
  if (te.chunked > 1) return fail(400, "chunked applied more than once");  // RFC 9112 §7.1
  if (te.compression) return fail(501, "transfer coding not implemented");
  if ((p->flags & F_CONTENT_LENGTH) != 0) return fail(400, "Content-Length with Transfer-Encoding");
  // This parse is the framing decision: llhttp 8.1 matches "chunked" only when SP, "," or CR
  // follows it, so `chunked<HTAB>` (HTAB is OWS, RFC 9110 §5.6.3) would otherwise be refused.
  p->flags |= F_CHUNKED;
  return 0;
}

int RequestParser::on_headers_complete(llhttp_t* p) {
  auto& s = self(p);
  s.headers_done_ = true;
  Request& req = *s.request_;
  if (p->http_major != 1) return s.fail(505, "HTTP version not supported");
  req.set_version(p->http_minor == 0 ? Version::http10 : Version::http11);
  if (req.target() == "*" && req.method() != "OPTIONS") return s.fail(400, "'*' target is for OPTIONS only");
  if (s.check_framing(p) != 0) return -1;
  // RFC 9110 §9.3.6: a CONNECT request has no content. llhttp reads none after a CONNECT head,
  // whatever its framing fields say, while a front end that honours them would take the bytes
  // after the head for its body: two readings of one stream (request smuggling). Refused.
  if (req.method() == "CONNECT" &&
      ((p->flags & F_CHUNKED) != 0 || ((p->flags & F_CONTENT_LENGTH) != 0 && p->content_length != 0))) {
    return s.fail(400, "a CONNECT request has no content");
  }
  // RFC 9112 §3.2: an HTTP/1.1 request carries exactly one Host.
  std::size_t hosts = 0;
  std::string_view host;
  for (const auto& f : req.headers()) {
    if (iequals(f.name, "Host")) {
      ++hosts;
      host = f.value;
    }
  }
  if (req.version() == Version::http11 && hosts != 1) {
    return s.fail(400, hosts == 0 ? "missing Host header" : "repeated Host header");
  }
  if (hosts > 1) return s.fail(400, "repeated Host header");
  if (hosts == 1 && !is_valid_host(host)) return s.fail(400, "invalid Host header");
  s.chunked_ = (p->flags & F_CHUNKED) != 0;
  s.has_body_ = s.chunked_ || ((p->flags & F_CONTENT_LENGTH) != 0 && p->content_length > 0);
  if ((p->flags & F_CONTENT_LENGTH) != 0 && (p->flags & F_CHUNKED) == 0) {
    constexpr std::uint64_t kMax = static_cast<std::uint64_t>(INT64_MAX);
    s.content_length_ = static_cast<std::int64_t>(p->content_length > kMax ? kMax : p->content_length);
  }
  s.keep_alive_ = llhttp_should_keep_alive(p) != 0;  // known from the head; confirmed at the end
  s.expect_continue_ = s.has_body_ && req.version() == Version::http11 &&
                       iequals(req.headers().get("Expect"), "100-continue");
  // Pause so feed() knows where the header section ends (for the line-ending scan) and the
  // caller can decide how to take the body. Without a body the message ends right here, and
  // the pause there (on_message_complete) marks the same place: one llhttp_execute less.
  if (!s.has_body_) return 0;
  s.paused_at_headers_ = true;
  return HPE_PAUSED;
}

int RequestParser::on_chunk_header(llhttp_t* p) {
  auto& s = self(p);
  // p->content_length is this chunk's size: refuse it before waiting for its data.
  if (p->content_length > s.body_limit_ - s.body_bytes_) return s.fail(413, "request body too large");
  return 0;
}

int RequestParser::on_body(llhttp_t* p, const char* at, std::size_t n) {
  auto& s = self(p);
  if (n == 0) return 0;
  s.body_started_ = true;
  if (n > s.body_limit_ - s.body_bytes_) return s.fail(413, "request body too large");
  s.body_bytes_ += n;
  if (s.stream_body_) {
    s.chunk_ = {at, n};
    s.paused_at_body_ = true;
    return HPE_PAUSED;  // feed() returns so the reader can hand this piece out
  }
  s.request_->body_buffer().append(at, n);
  return 0;
}

int RequestParser::on_message_complete(llhttp_t* p) {
  auto& s = self(p);
  s.done_ = true;
  s.keep_alive_ = llhttp_should_keep_alive(p) != 0;
  return HPE_PAUSED;  // stop at the message boundary; pipelined bytes wait their turn
}

}  // namespace khz::protocol::http1

// SPDX-License-Identifier: Apache-2.0
#include <khz/common/log.h>
#include <khz/protocol/form_error.h>
#include <khz/protocol/multipart.h>

#include "../common/ows.h"
#include "parameters.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace khz::protocol {
namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr std::size_t kMaxBoundary = 70;  // RFC 2046 §5.1.1

// RFC 2046 §5.1.1 bcharsnospace, plus the space of bchars.
bool is_boundary_char(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '\'': case '(': case ')': case '+': case '_': case ',': case '-': case '.': case '/':
    case ':': case '=': case '?': case ' ':
      return true;
    default:
      return false;
  }
}

bool valid_field_value(std::string_view v) noexcept {
  return std::none_of(v.begin(), v.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

}  // namespace

std::string_view MultipartPart::header(std::string_view field_name) const noexcept {
  for (const auto& f : headers) {
    if (iequals(f.name, field_name)) return f.value;
  }
  return {};
}

bool valid_boundary(std::string_view boundary) noexcept {
  return !boundary.empty() && boundary.size() <= kMaxBoundary && boundary.back() != ' ' &&
         std::all_of(boundary.begin(), boundary.end(), is_boundary_char);
}

Result<std::string> multipart_boundary(std::string_view content_type) {
  form::ParameterizedValue v;
  if (!form::parse_parameterized(content_type, v)) {
    std::string_view type = trim_ows(content_type.substr(0, content_type.find(';')));
    return make_error_code(iequals(type, "multipart/form-data") ? form_errc::bad_boundary : form_errc::not_a_form);
  }
  if (!iequals(v.type, "multipart/form-data")) return make_error_code(form_errc::not_a_form);
  std::size_t count = 0;
  const std::string_view* boundary = v.param("boundary", &count);
  if (count != 1 || !valid_boundary(*boundary)) return make_error_code(form_errc::bad_boundary);
  return std::string(*boundary);
}

MultipartParser::MultipartParser(std::string_view boundary, MultipartHandler& handler, MultipartLimits limits)
    : handler_(handler), limits_(limits) {
  // A delimiter can begin only at its CR: boundary characters hold no CR (scan() relies on it).
  KHZ_ASSERT(valid_boundary(boundary));
  delimiter_.reserve(4 + boundary.size());
  delimiter_.append("\r\n--").append(boundary);
  header_block_.reserve(256);
}

std::error_code MultipartParser::fail(std::error_code ec) noexcept {
  state_ = State::failed;
  return error_ = ec;
}

std::error_code MultipartParser::emit(std::string_view bytes) {
  if (bytes.empty() || state_ != State::content) return {};  // preamble bytes are dropped
  if (!part_is_file_ && bytes.size() > limits_.max_field_bytes - part_bytes_) {
    return fail(form_errc::field_too_large);
  }
  part_bytes_ += bytes.size();
  if (auto ec = handler_.on_part_data(bytes)) return fail(ec);
  return {};
}

std::size_t MultipartParser::scan(std::string_view in, std::size_t pos) {
  const std::string_view d = delimiter_;
  if (matched_ > 0) {
    const std::size_t n = std::min(d.size() - matched_, in.size() - pos);
    if (in.substr(pos, n) == d.substr(matched_, n)) {
      matched_ += n;
      if (matched_ == d.size()) {
        matched_ = 0;
        found_ = true;
      }
      return pos + n;
    }
    // The bytes held back were content after all. No delimiter begins inside them but at their
    // first byte (a delimiter's only CR is its first byte), so scanning resumes at `pos`.
    const std::size_t held = std::exchange(matched_, 0);
    if (emit(d.substr(0, held))) return pos;
  }
  const std::size_t start = pos;  // content from here on is not emitted yet
  std::size_t i = pos;
  for (;;) {
    const void* cr = i < in.size() ? std::memchr(in.data() + i, '\r', in.size() - i) : nullptr;
    if (cr == nullptr) {
      (void)emit(in.substr(start));
      return in.size();
    }
    const auto p = static_cast<std::size_t>(static_cast<const char*>(cr) - in.data());
    const std::size_t n = std::min(in.size() - p, d.size());
    if (in.substr(p, n) == d.substr(0, n)) {
      if (emit(in.substr(start, p - start))) return p;
      if (n == d.size()) {
        found_ = true;
      } else {
        matched_ = n;  // the input ends inside what may be a delimiter: hold it back
      }
      return p + n;
    }
    i = p + 1;
  }
}

std::size_t MultipartParser::take_headers(std::string_view in, std::size_t pos) {
  // header_block_ is CRLF (the boundary line's) + the header block + CRLF (the blank line), so
  // the block ends where "\r\n\r\n" is found first, at index L = the block's length. A block
  // within the limit is found within the first max_header_bytes + 4 bytes.
  const std::size_t cap = limits_.max_header_bytes > std::numeric_limits<std::size_t>::max() - 4
                              ? std::numeric_limits<std::size_t>::max()
                              : limits_.max_header_bytes + 4;
  const std::size_t old = header_block_.size();
  const std::size_t take = std::min(in.size() - pos, cap - old);
  header_block_.append(in.substr(pos, take));
  const std::size_t end = header_block_.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
  if (end == std::string::npos || end > limits_.max_header_bytes) {
    if (header_block_.size() >= cap || end != std::string::npos) {
      fail(form_errc::part_header_too_large);
      return pos;
    }
    return pos + take;
  }
  const std::size_t used = end + 4 - old;  // of `take`: the rest belongs to the content
  if (begin_part(std::string_view(header_block_).substr(2, end))) return pos;
  return pos + used;
}

std::error_code MultipartParser::begin_part(std::string_view block) {
  fields_.clear();
  while (!block.empty()) {
    const std::size_t eol = block.find(kCrlf);  // the block ends with a CRLF
    const std::string_view line = block.substr(0, eol);
    block.remove_prefix(eol + kCrlf.size());
    if (fields_.size() == limits_.max_headers) return fail(form_errc::too_many_part_headers);
    const std::size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) return fail(form_errc::malformed_part_header);
    const std::string_view name = line.substr(0, colon);
    // A leading space (obs-fold, RFC 9112 §5.2) or any non-token byte makes the name invalid.
    if (!std::all_of(name.begin(), name.end(), form::is_token_char)) return fail(form_errc::malformed_part_header);
    const std::string_view value = trim_ows(line.substr(colon + 1));
    if (!valid_field_value(value)) return fail(form_errc::malformed_part_header);
    fields_.push_back({name, value});
  }

  MultipartPart part;
  part.index = parts_ - 1;
  part.headers = fields_;
  std::size_t dispositions = 0;
  std::string_view disposition_text;
  for (const auto& f : fields_) {
    if (iequals(f.name, "Content-Disposition")) {
      if (dispositions++ == 0) disposition_text = f.value;
    } else if (iequals(f.name, "Content-Type") && part.content_type.empty()) {
      part.content_type = f.value;
    }
  }
  form::ParameterizedValue disposition;
  if (dispositions != 1 || !form::parse_parameterized(disposition_text, disposition) ||
      !iequals(disposition.type, "form-data")) {
    return fail(form_errc::bad_content_disposition);
  }
  std::size_t names = 0;
  std::size_t filenames = 0;
  std::size_t ext_filenames = 0;
  const std::string_view* name = disposition.param("name", &names);
  const std::string_view* filename = disposition.param("filename", &filenames);
  const std::string_view* ext_filename = disposition.param("filename*", &ext_filenames);
  if (names > 1 || filenames > 1 || ext_filenames > 1) return fail(form_errc::bad_content_disposition);
  if (name == nullptr) return fail(form_errc::missing_field_name);
  part.name = *name;
  part.is_file = filename != nullptr || ext_filename != nullptr;
  if (ext_filename != nullptr && form::decode_ext_value(*ext_filename, filename_)) {
    part.filename = filename_;  // RFC 6266 §4.3: filename* wins; an unsupported one is ignored
  } else if (filename != nullptr) {
    part.filename = *filename;
  }
  part_is_file_ = part.is_file;
  part_bytes_ = 0;
  in_part_ = true;
  state_ = State::content;
  if (auto ec = handler_.on_part_begin(part)) return fail(ec);
  return {};
}

std::error_code MultipartParser::feed(std::string_view in) {
  if (error_) return error_;
  // Bytes up to the body limit are parsed first, so errors come in the order of the input
  // however it was split.
  const bool over_limit = in.size() > limits_.max_body_bytes - body_bytes_;
  if (over_limit) in = in.substr(0, limits_.max_body_bytes - body_bytes_);
  body_bytes_ += in.size();
  if (auto ec = parse(in)) return ec;
  if (over_limit) return fail(form_errc::body_too_large);
  return {};
}

std::error_code MultipartParser::parse(std::string_view in) {
  std::size_t pos = 0;
  while (pos < in.size()) {
    switch (state_) {
      case State::preamble:
      case State::content:
        pos = scan(in, pos);
        if (error_) return error_;
        if (found_) {
          found_ = false;
          saw_boundary_ = true;
          if (in_part_) {
            in_part_ = false;
            if (auto ec = handler_.on_part_end()) return fail(ec);
          }
          state_ = State::after_boundary;
        }
        break;
      case State::after_boundary: {
        const char c = in[pos++];
        if (c == '-') {
          state_ = State::close_dash;
        } else if (c == ' ' || c == '\t') {
          state_ = State::padding;
        } else if (c == '\r') {
          state_ = State::boundary_lf;
        } else {
          return fail(form_errc::malformed_delimiter);
        }
        break;
      }
      case State::close_dash:
        if (in[pos++] != '-') return fail(form_errc::malformed_delimiter);
        state_ = State::epilogue;
        handler_.on_body_end();
        break;
      case State::padding: {
        const char c = in[pos++];
        if (c == '\r') {
          state_ = State::boundary_lf;
        } else if (c != ' ' && c != '\t') {
          return fail(form_errc::malformed_delimiter);
        }
        break;
      }
      case State::boundary_lf:
        if (in[pos++] != '\n') return fail(form_errc::malformed_delimiter);
        if (parts_ == limits_.max_parts) return fail(form_errc::too_many_parts);
        ++parts_;
        state_ = State::headers;
        header_block_.assign(kCrlf);
        break;
      case State::headers:
        pos = take_headers(in, pos);
        if (error_) return error_;
        break;
      case State::epilogue:
        pos = in.size();  // RFC 2046 §5.1.1: the epilogue is ignored
        break;
      case State::failed:
        return error_;
    }
  }
  return {};
}

std::error_code MultipartParser::finish() {
  if (error_) return error_;
  if (state_ == State::epilogue) return {};
  return fail(saw_boundary_ ? form_errc::truncated : form_errc::missing_boundary);
}

}  // namespace khz::protocol

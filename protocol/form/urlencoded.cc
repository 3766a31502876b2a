// SPDX-License-Identifier: Apache-2.0
#include <khz/protocol/form_error.h>
#include <khz/protocol/urlencoded.h>

namespace khz::protocol {
namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool urlencoded_needs_decode(std::string_view text) noexcept {
  return text.find_first_of("%+") != std::string_view::npos;
}

std::optional<std::size_t> urlencoded_decode_to(std::string_view text, char* out, bool strict) noexcept {
  std::size_t n = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out[n++] = ' ';
    } else if (c == '%') {
      const bool room = i + 2 < text.size();
      const int hi = room ? hex_value(text[i + 1]) : -1;
      const int lo = room ? hex_value(text[i + 2]) : -1;
      if (hi >= 0 && lo >= 0) {
        out[n++] = static_cast<char>(hi * 16 + lo);
        i += 2;
      } else if (strict) {
        return std::nullopt;
      } else {
        out[n++] = c;  // WHATWG: a '%' that starts no escape is kept as it is
      }
    } else {
      out[n++] = c;
    }
  }
  return n;
}

std::string_view urlencoded_decode(std::string_view text, Arena& arena) {
  if (!urlencoded_needs_decode(text)) return text;
  char* out = arena.allocate(text.size());
  return {out, *urlencoded_decode_to(text, out, false)};
}

UrlencodedParser::UrlencodedParser(std::vector<FormField>& out, Arena& arena, UrlencodedLimits limits)
    : out_(out), arena_(arena), limits_(limits) {}

std::error_code UrlencodedParser::account(std::string_view piece) noexcept {
  if (!saw_equals_) {
    const std::size_t eq = piece.find('=');
    if (eq == std::string_view::npos) {
      key_bytes_ += piece.size();
    } else {
      saw_equals_ = true;
      key_bytes_ += eq;
      value_bytes_ += piece.size() - eq - 1;
    }
  } else {
    value_bytes_ += piece.size();
  }
  if (key_bytes_ > limits_.max_key_bytes) return fail(form_errc::key_too_large);
  if (value_bytes_ > limits_.max_value_bytes) return fail(form_errc::value_too_large);
  return {};
}

std::error_code UrlencodedParser::decode(std::string_view raw, bool stable, std::string_view& out) {
  if (!urlencoded_needs_decode(raw)) {
    out = stable ? raw : arena_.copy(raw);
    return {};
  }
  char* buffer = arena_.allocate(raw.size());
  auto n = urlencoded_decode_to(raw, buffer, limits_.strict_escapes);
  if (!n) return fail(form_errc::bad_escape);
  out = {buffer, *n};
  return {};
}

std::error_code UrlencodedParser::complete(std::string_view raw, bool stable) {
  saw_equals_ = false;
  key_bytes_ = 0;
  value_bytes_ = 0;
  if (raw.empty()) return {};  // "a=1&&b=2": empty pieces are skipped
  if (++fields_ > limits_.max_fields) return fail(form_errc::too_many_fields);
  const std::size_t eq = raw.find('=');
  FormField field;
  if (auto ec = decode(raw.substr(0, eq), stable, field.name)) return ec;
  if (eq != std::string_view::npos) {
    if (auto ec = decode(raw.substr(eq + 1), stable, field.value)) return ec;
  }
  out_.push_back(field);
  return {};
}

std::error_code UrlencodedParser::feed(std::string_view bytes, bool stable) {
  if (error_) return error_;
  // Bytes up to the body limit are parsed first, so errors come in the order of the input
  // however it was split.
  const bool over_limit = bytes.size() > limits_.max_body_bytes - body_bytes_;
  if (over_limit) bytes = bytes.substr(0, limits_.max_body_bytes - body_bytes_);
  body_bytes_ += bytes.size();
  if (auto ec = parse(bytes, stable)) return ec;
  if (over_limit) return fail(form_errc::body_too_large);
  return {};
}

std::error_code UrlencodedParser::parse(std::string_view bytes, bool stable) {
  if (bytes.empty()) return {};
  if (!held_.empty()) {  // the field held from the last piece now spans two: copy it
    pending_.assign(held_);
    held_ = {};
  }
  for (;;) {
    const std::size_t amp = bytes.find('&');
    const std::string_view piece = bytes.substr(0, amp);
    if (auto ec = account(piece)) return ec;
    if (amp == std::string_view::npos) {  // the field goes on in the next piece
      if (pending_.empty() && stable) {
        held_ = piece;  // no copy unless the next piece continues it
      } else {
        pending_.append(piece);
      }
      return {};
    }
    std::error_code ec;
    if (pending_.empty()) {
      ec = complete(piece, stable);
    } else {
      pending_.append(piece);
      ec = complete(pending_, false);
      pending_.clear();
    }
    if (ec) return ec;
    bytes.remove_prefix(amp + 1);
  }
}

std::error_code UrlencodedParser::finish() {
  if (error_) return error_;
  std::error_code ec;
  if (!held_.empty()) {
    ec = complete(held_, true);
    held_ = {};
  } else if (!pending_.empty()) {
    ec = complete(pending_, false);
    pending_.clear();
  }
  return ec;
}

std::error_code parse_urlencoded(std::string_view text, std::vector<FormField>& out, Arena& arena,
                                 const UrlencodedLimits& limits) {
  UrlencodedParser parser(out, arena, limits);
  if (auto ec = parser.feed(text, true)) return ec;
  return parser.finish();
}

}  // namespace khz::protocol

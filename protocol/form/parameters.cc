// SPDX-License-Identifier: Apache-2.0
#include "parameters.h"

#include <khz/protocol/header_map.h>

namespace khz::protocol::form {
namespace {

bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

void skip_ows(std::string_view text, std::size_t& i) noexcept {
  while (i < text.size() && is_ows(text[i])) ++i;
}

std::string_view take_token(std::string_view text, std::size_t& i) noexcept {
  const std::size_t start = i;
  while (i < text.size() && is_token_char(text[i])) ++i;
  return text.substr(start, i - start);
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 5987 attr-char.
bool is_attr_char(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '&': case '+': case '-': case '.': case '^': case '_':
    case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

}  // namespace

bool is_token_char(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

const std::string_view* ParameterizedValue::param(std::string_view name, std::size_t* count) const noexcept {
  const std::string_view* found = nullptr;
  std::size_t n = 0;
  for (const auto& p : params) {
    if (iequals(p.name, name)) {
      if (found == nullptr) found = &p.value;
      ++n;
    }
  }
  if (count != nullptr) *count = n;
  return found;
}

bool parse_parameterized(std::string_view text, ParameterizedValue& out) {
  out.type = {};
  out.params.clear();
  out.storage.clear();
  out.storage.reserve(text.size());  // unescaped values are never longer: views into it stay put
  std::size_t i = 0;
  skip_ows(text, i);
  const std::size_t type_start = i;
  if (take_token(text, i).empty()) return false;
  if (i < text.size() && text[i] == '/') {  // a media type: token "/" token
    ++i;
    if (take_token(text, i).empty()) return false;
  }
  out.type = text.substr(type_start, i - type_start);
  skip_ows(text, i);
  while (i < text.size()) {
    if (text[i] != ';') return false;
    ++i;
    skip_ows(text, i);
    if (i == text.size()) break;  // a trailing ';'
    if (text[i] == ';') continue;
    Parameter p;
    p.name = take_token(text, i);
    if (p.name.empty() || i == text.size() || text[i] != '=') return false;
    ++i;
    if (i < text.size() && text[i] == '"') {
      ++i;
      const std::size_t start = out.storage.size();
      bool closed = false;
      while (i < text.size()) {
        const char c = text[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && i < text.size() && (text[i] == '"' || text[i] == '\\')) {
          out.storage.push_back(text[i++]);
          continue;
        }
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
        out.storage.push_back(c);
      }
      if (!closed) return false;
      p.value = std::string_view(out.storage).substr(start);
    } else {
      p.value = take_token(text, i);
      if (p.value.empty()) return false;
    }
    out.params.push_back(p);
    skip_ows(text, i);
  }
  return true;
}

bool decode_ext_value(std::string_view text, std::string& out) {
  out.clear();
  const std::size_t q1 = text.find('\'');
  if (q1 == std::string_view::npos) return false;
  const std::size_t q2 = text.find('\'', q1 + 1);
  if (q2 == std::string_view::npos) return false;
  const std::string_view charset = text.substr(0, q1);
  const bool utf8 = iequals(charset, "UTF-8");
  if (!utf8 && !iequals(charset, "ISO-8859-1")) return false;
  const std::string_view value = text.substr(q2 + 1);
  for (std::size_t i = 0; i < value.size(); ++i) {
    unsigned char byte;
    if (value[i] == '%') {
      if (i + 2 >= value.size()) return false;
      const int hi = hex_value(value[i + 1]);
      const int lo = hex_value(value[i + 2]);
      if (hi < 0 || lo < 0) return false;
      byte = static_cast<unsigned char>(hi * 16 + lo);
      i += 2;
    } else if (is_attr_char(value[i])) {
      byte = static_cast<unsigned char>(value[i]);
    } else {
      return false;
    }
    if (utf8 || byte < 0x80) {
      out.push_back(static_cast<char>(byte));
    } else {  // ISO-8859-1 to UTF-8: two bytes
      out.push_back(static_cast<char>(0xc0 | (byte >> 6)));
      out.push_back(static_cast<char>(0x80 | (byte & 0x3f)));
    }
  }
  return true;
}

}  // namespace khz::protocol::form

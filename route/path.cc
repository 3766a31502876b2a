// SPDX-License-Identifier: Apache-2.0
#include <khz/route/path.h>

namespace khz::route {

std::string clean_path(std::string_view path) {
  if (path.empty()) return "/";
  const std::size_t n = path.size();
  std::string out;
  out.reserve(n + 1);
  out.push_back('/');
  bool trailing = n > 1 && path[n - 1] == '/';
  std::size_t r = path[0] == '/' ? 1 : 0;  // next byte to read
  while (r < n) {
    if (path[r] == '/') {  // empty element; a trailing '/' is re-added at the end
      ++r;
    } else if (path[r] == '.' && r + 1 == n) {  // final "." element
      trailing = true;
      ++r;
    } else if (path[r] == '.' && path[r + 1] == '/') {  // "." element
      r += 2;
    } else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/')) {
      r += 3;  // ".." element: drop the last element written, never the root
      const std::size_t last_slash = out.rfind('/');
      out.resize(last_slash > 0 ? last_slash : 1);
    } else {  // a real element
      if (out.size() > 1) out.push_back('/');
      while (r < n && path[r] != '/') out.push_back(path[r++]);
    }
  }
  if (trailing && out.size() > 1) out.push_back('/');
  return out;
}

int hex_digit_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

namespace {

// Decodes `in` into `out` (room for in.size() bytes); std::nullopt on a malformed escape.
// With kPlusIsSpace, '+' becomes ' ' (the form/query convention).
template <bool kPlusIsSpace>
std::optional<std::size_t> unescape_into(std::string_view in, char* out) noexcept {
  std::size_t n = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;  // needs two more bytes
      const int hi = hex_digit_value(in[i + 1]);
      const int lo = hex_digit_value(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out[n++] = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (kPlusIsSpace && c == '+') {
      out[n++] = ' ';
    } else {
      out[n++] = c;
    }
  }
  return n;
}

template <bool kPlusIsSpace>
std::optional<std::string> unescape(std::string_view in) {
  std::string out(in.size(), '\0');
  const auto n = unescape_into<kPlusIsSpace>(in, out.data());
  if (!n) return std::nullopt;
  out.resize(*n);
  return out;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view in) { return unescape<false>(in); }

std::optional<std::string> query_unescape(std::string_view in) { return unescape<true>(in); }

std::optional<std::size_t> query_unescape_to(std::string_view in, char* out) noexcept {
  return unescape_into<true>(in, out);
}

bool needs_query_unescape(std::string_view in) noexcept {
  return in.find_first_of("%+") != std::string_view::npos;
}

}  // namespace khz::route

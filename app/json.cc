// SPDX-License-Identifier: Apache-2.0
// Json serialisation, written straight into the caller's string. A response body keeps its
// capacity between requests, so a warm one allocates nothing; runs of characters that need no
// escape are appended in one piece, not byte by byte.
#include <khz/app/json.h>

#include <khz/app/bind.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <system_error>
#include <type_traits>

namespace khz {
namespace {

// 0: copied as is; 'u': \u00XX; else the letter after the backslash (RFC 8259 §7).
constexpr std::array<char, 256> kEscape = [] {
  std::array<char, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = 'u';
  t['\b'] = 'b';
  t['\f'] = 'f';
  t['\n'] = 'n';
  t['\r'] = 'r';
  t['\t'] = 't';
  t['"'] = '"';
  t['\\'] = '\\';
  return t;
}();

void write_string(std::string& out, std::string_view s) {
  const char* run = s.data();
  const char* end = s.data() + s.size();
  const char* p = run;
  while (p != end && kEscape[static_cast<unsigned char>(*p)] == 0) ++p;
  if (p == end) {  // the common case: nothing to escape, one copy
    std::size_t at = out.size();
    out.resize(at + s.size() + 2);
    char* d = out.data() + at;
    d[0] = '"';
    if (!s.empty()) std::memcpy(d + 1, s.data(), s.size());
    d[s.size() + 1] = '"';
    return;
  }
  out.push_back('"');
  for (; p != end; ++p) {
    char e = kEscape[static_cast<unsigned char>(*p)];
    if (e == 0) continue;
    out.append(run, p);
    if (e == 'u') {
      static constexpr char kHex[] = "0123456789abcdef";
      auto c = static_cast<unsigned char>(*p);
      const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
      out.append(esc, sizeof esc);
    } else {
      const char esc[2] = {'\\', e};
      out.append(esc, sizeof esc);
    }
    run = p + 1;
  }
  out.append(run, end);
  out.push_back('"');
}

template <class Number>
void write_number(std::string& out, Number v) {
  char digits[32];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);  // shortest round trip
  if constexpr (std::is_floating_point_v<Number>) {
    if (v == 0 && std::signbit(v)) {  // "-0" would read back as the integer 0
      out.append("-0.0");
      return;
    }
    // A double past the 64-bit integers written as digits alone ("92233720368547760000") reads
    // back as an integer that does not fit: write it with an exponent so it reads as a double.
    if (std::fabs(v) >= 9.2e18 && std::memchr(digits, 'e', static_cast<std::size_t>(end - digits)) == nullptr &&
        std::memchr(digits, '.', static_cast<std::size_t>(end - digits)) == nullptr) {
      end = std::to_chars(digits, digits + sizeof digits, v, std::chars_format::scientific).ptr;
    }
  }
  out.append(digits, end);
}

void write(std::string& out, const Json& j) {
  std::visit(
      [&out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>) {
          out.append("null");
        } else if constexpr (std::is_same_v<T, bool>) {
          out.append(v ? "true" : "false");
        } else if constexpr (std::is_same_v<T, double>) {
          if (std::isfinite(v)) {
            write_number(out, v);
          } else {
            out.append("null");  // JSON has no NaN or infinity (as JavaScript's JSON.stringify)
          }
        } else if constexpr (std::is_integral_v<T>) {
          write_number(out, v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          write_string(out, v);
        } else if constexpr (std::is_same_v<T, Json::Array>) {
          out.push_back('[');
          for (std::size_t i = 0; i < v.size(); ++i) {
            if (i != 0) out.push_back(',');
            write(out, v[i]);
          }
          out.push_back(']');
        } else {
          out.push_back('{');
          for (std::size_t i = 0; i < v.size(); ++i) {
            if (i != 0) out.push_back(',');
            write_string(out, v[i].first);
            out.push_back(':');
            write(out, v[i].second);
          }
          out.push_back('}');
        }
      },
      j.variant());
}

}  // namespace

namespace detail {
void write_json_string(std::string& out, std::string_view s) { write_string(out, s); }
void write_json_number(std::string& out, std::int64_t v) { write_number(out, v); }
void write_json_number(std::string& out, std::uint64_t v) { write_number(out, v); }
void write_json_number(std::string& out, double v) {
  if (std::isfinite(v)) {
    write_number(out, v);
  } else {
    out.append("null");
  }
}
}  // namespace detail

void Json::dump_to(std::string& out) const { write(out, *this); }

std::string Json::dump() const {
  std::string out;
  dump_to(out);
  return out;
}

}  // namespace khz

// SPDX-License-Identifier: Apache-2.0
// Private to protocol/http1: the check both parsers make on every field value, on top of
// llhttp's own: no control byte but HTAB, and no DEL (RFC 9110 §5.5).
//
//   if (has_value_control(value)) reject("control character in a field value");
//
// Eight bytes at a time (a word with a byte below 0x20 or equal to 0x7f is looked at byte by
// byte, so an HTAB costs only its word a second look): a head's values are a few dozen printable
// bytes each, and a byte-wise loop was a tenth of a small response's parse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace khz::protocol::http1 {

inline bool is_value_control(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && c != '\t') || u == 0x7f;
}

inline bool has_value_control(std::string_view v) noexcept {
  constexpr std::uint64_t kOnes = 0x0101010101010101u;
  constexpr std::uint64_t kHighs = 0x8080808080808080u;
  std::size_t i = 0;
  for (; i + 8 <= v.size(); i += 8) {
    std::uint64_t x = 0;
    std::memcpy(&x, v.data() + i, 8);
    // Never zero when a byte is below 0x20, or (y) equal to 0x7f; may be for an HTAB or a byte
    // next to one such, which the byte-wise look sorts out.
    const std::uint64_t below = (x - kOnes * 0x20) & ~x & kHighs;
    const std::uint64_t y = x ^ (kOnes * 0x7f);
    const std::uint64_t del = (y - kOnes) & ~y & kHighs;
    if ((below | del) != 0) {
      for (std::size_t j = i; j < i + 8; ++j) {
        if (is_value_control(v[j])) return true;
      }
    }
  }
  for (; i < v.size(); ++i) {
    if (is_value_control(v[i])) return true;
  }
  return false;
}

}  // namespace khz::protocol::http1

// SPDX-License-Identifier: Apache-2.0
// khz::copy_short: memcpy for the short pieces a response head or a log line is made of (field
// names, values, separators), without a call into libc for each:
//
//   char* p = room;                                  // room for name.size() bytes
//   p = khz::copy_short(p, name.data(), name.size()); // returns the end of what it wrote
//
// Up to 32 bytes move as two overlapping pairs of loads and stores sized to the piece; longer
// pieces go to memcpy. It reads only [src, src + n) and writes only [dst, dst + n); the two must
// not overlap. n = 0 touches nothing (src may be null then).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace khz {

// GCC, inlining this for a small source array, warns about the branches for longer pieces
// that n rules out at run time; the bounds above hold on every branch taken. (Clang has no
// such warnings, nor these names.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#pragma GCC diagnostic ignored "-Wstringop-overread"
#endif

namespace detail {
template <class Word>
inline void copy_ends(char* dst, const char* src, std::size_t n) noexcept {
  Word head;
  Word tail;
  std::memcpy(&head, src, sizeof head);
  std::memcpy(&tail, src + n - sizeof tail, sizeof tail);
  std::memcpy(dst, &head, sizeof head);
  std::memcpy(dst + n - sizeof tail, &tail, sizeof tail);
}
struct Bytes16 {
  std::uint64_t a, b;
};
}  // namespace detail

inline char* copy_short(char* dst, const char* src, std::size_t n) noexcept {
  if (n >= 8) {
    if (n <= 16) {
      detail::copy_ends<std::uint64_t>(dst, src, n);
    } else if (n <= 32) {
      detail::copy_ends<detail::Bytes16>(dst, src, n);
    } else {
      std::memcpy(dst, src, n);
    }
  } else if (n >= 4) {
    detail::copy_ends<std::uint32_t>(dst, src, n);
  } else if (n >= 2) {
    detail::copy_ends<std::uint16_t>(dst, src, n);
  } else if (n == 1) {
    *dst = *src;
  }
  return dst + n;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace khz

// SPDX-License-Identifier: Apache-2.0
// Private to protocol/: what a field may hold (RFC 9110 §5.1, §5.5). The HTTP/1.1 parsers
// check every value they read (on top of llhttp's own). HeaderMap::add() and set() check what
// they copy and mark the map; every writer (HTTP/1.1 and HTTP/2, server and client) then leaves
// out each field of a marked map that fails, so a handler that puts a CR or LF from its input
// into a field cannot split a response (or smuggle a request from a client).
//
//   if (has_value_control(value)) reject("control character in a field value");
//   if (map.may_hold_unsendable() && !is_sendable_field(f.name, f.value)) { log(f.name); continue; }
//
// Sixteen bytes at a time (SSE2, which every x86-64 has; 8 to 15 bytes as two overlapping
// words in one block): a head's values are a few dozen printable bytes each, and a byte-wise
// loop was a tenth of a small response's parse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace khz::protocol {

inline bool is_value_control(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && c != '\t') || u == 0x7f;
}

// A byte that may not be in a field name: a control, SP, ':', DEL, or past ASCII.
inline bool is_name_fault(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x21 || u == ':' || u >= 0x7f;
}

namespace detail {

#if defined(__SSE2__)
// The 16 bytes at `x` hold a byte the rule refuses (value: a control but HTAB, or DEL; name:
// is_name_fault).
inline bool value_fault16(__m128i x) noexcept {
  const __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x);  // <= 0x1f
  const __m128i tab = _mm_cmpeq_epi8(x, _mm_set1_epi8('\t'));
  const __m128i del = _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f));
  return _mm_movemask_epi8(_mm_or_si128(_mm_andnot_si128(tab, ctl), del)) != 0;
}
inline bool name_fault16(__m128i x) noexcept {
  const __m128i low = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x20)), x);  // <= 0x20
  const __m128i colon = _mm_cmpeq_epi8(x, _mm_set1_epi8(':'));
  const __m128i del = _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f));
  return (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(low, colon), del)) | _mm_movemask_epi8(x)) != 0;
}

inline __m128i load16(const char* p) noexcept { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
inline std::uint64_t load8(const char* p) noexcept {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// Whether `s` holds a byte `fault16` finds (16 at a time, the last block overlapping the one
// before; 8 to 15 bytes as two overlapping words in one block) or, under 8 bytes, `fault`.
template <class Fault16, class Fault>
inline bool any_fault(std::string_view s, Fault16 fault16, Fault fault) noexcept {
  const char* p = s.data();
  const std::size_t n = s.size();
  if (n >= 16) {
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      if (fault16(load16(p + i))) return true;
    }
    return i != n && fault16(load16(p + n - 16));
  }
  if (n >= 8) {
    return fault16(_mm_set_epi64x(static_cast<long long>(load8(p + n - 8)), static_cast<long long>(load8(p))));
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (fault(p[i])) return true;
  }
  return false;
}
#endif

}  // namespace detail

// Whether a field value holds a byte RFC 9110 §5.5 excludes: a control but HTAB, or DEL.
inline bool has_value_control(std::string_view v) noexcept {
#if defined(__SSE2__)
  return detail::any_fault(v, detail::value_fault16, is_value_control);
#else
  for (char c : v) {
    if (is_value_control(c)) return true;
  }
  return false;
#endif
}

// Whether a field name could break the field line it is written into: empty, or a byte that is
// a control, SP, ':', DEL or not ASCII. Looser than RFC 9110's token (§5.6.2): it refuses what
// would break the line, and costs what the value check costs (every copied field comes here).
inline bool has_name_fault(std::string_view n) noexcept {
  if (n.empty()) return true;
#if defined(__SSE2__)
  return detail::any_fault(n, detail::name_fault16, is_name_fault);
#else
  for (char c : n) {
    if (is_name_fault(c)) return true;
  }
  return false;
#endif
}

// A field that may be written: a name that cannot break its line (has_name_fault) and a value
// without control bytes but HTAB, and without DEL (RFC 9110 §5.5; obs-text is allowed).
inline bool is_sendable_field(std::string_view name, std::string_view value) noexcept {
  return !has_name_fault(name) && !has_value_control(value);
}

// The log line for a field a writer leaves out (`who`: "http1 server", "http2 client", ...):
// names it, its control bytes shown as '?', not its value. At most 10 lines in 10 s (log_limiter.h).
void log_unsendable_field(std::string_view who, std::string_view name);

}  // namespace khz::protocol

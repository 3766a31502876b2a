// SPDX-License-Identifier: Apache-2.0
#include <khz/common/json_text.h>

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace khz {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// The length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlongs, no
// surrogates, nothing past U+10FFFF), or 0.
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  const std::size_t left = s.size() - i;
  const auto cont = [&](std::size_t k) { return (b(k) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return left >= 2 && cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (left < 3 || !cont(i + 1) || !cont(i + 2)) return 0;
    if (c == 0xE0 && b(i + 1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(i + 1) > 0x9F) return 0;   // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (left < 4 || !cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    if (c == 0xF0 && b(i + 1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(i + 1) > 0x8F) return 0;   // past U+10FFFF
    return 4;
  }
  return 0;
}

// Whether any of the 8 bytes in `w` needs more than a copy: below 0x20, 0x7F and above, '"' or
// '\\' (a byte-wise filter: it can only err towards "yes" next to a byte that really needs it).
inline bool word_needs_escape(std::uint64_t w) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t highs = 0x8080808080808080ULL;
  const auto has_zero = [](std::uint64_t v) { return (v - ones) & ~v & highs; };
  const std::uint64_t control = (w - 0x20 * ones) & ~w & highs;  // a byte below 0x20
  const std::uint64_t high = ((w + ones) | w) & highs;           // 0x7F and above
  return (control | high | has_zero(w ^ ('"' * ones)) | has_zero(w ^ ('\\' * ones))) != 0;
}

inline bool byte_needs_escape(unsigned char c) noexcept { return c < 0x20 || c >= 0x7f || c == '"' || c == '\\'; }

char* copy(char* out, std::string_view s) noexcept {
  if (s.empty()) return out;  // a default view's data() is null: no memcpy from it
  std::memcpy(out, s.data(), s.size());
  return out + s.size();
}

}  // namespace

bool is_plain_json_text(std::string_view s) noexcept {
  const char* p = s.data();
  const char* end = p + s.size();
  for (; end - p >= 8; p += 8) {
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    if (word_needs_escape(w)) break;  // decided byte by byte below
  }
  for (; p != end; ++p) {
    if (byte_needs_escape(static_cast<unsigned char>(*p))) return false;
  }
  return true;
}

namespace {

// The escaping loop, from s[i] on (what comes before is written).
char* write_escaped(char* out, std::string_view s, std::size_t i) noexcept {
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out = copy(out, "\\\""); break;
        case '\\': out = copy(out, "\\\\"); break;
        case '\n': out = copy(out, "\\n"); break;
        case '\r': out = copy(out, "\\r"); break;
        case '\t': out = copy(out, "\\t"); break;
        default:
          if (c < 0x20 || c == 0x7f) {
            const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
            out = copy(out, std::string_view(esc, sizeof esc));
          } else {
            *out++ = static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) {
      out = copy(out, "\xEF\xBF\xBD");  // 3 bytes for 1: within the 6 per byte
      ++i;
    } else {
      out = copy(out, s.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace

char* write_json_string(char* out, std::string_view s) noexcept {
  *out++ = '"';
  // The usual value (a method, a route, an id) needs no escape: its words are copied as they
  // are checked, in one pass.
  const char* const begin = s.data();
  const char* const end = begin + s.size();
  const char* p = begin;
#if defined(__SSE2__)
  // 16 bytes at a time: a signed compare below 0x20 also catches the bytes from 0x80 up.
  for (; end - p >= 16; p += 16, out += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i bad = _mm_or_si128(
        _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)), _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f))),
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
    if (_mm_movemask_epi8(bad) != 0) break;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), v);
  }
#endif
  for (; end - p >= 8; p += 8, out += 8) {
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    if (word_needs_escape(w)) break;
    std::memcpy(out, &w, sizeof w);
  }
  if (end - p < 8) {
    if (s.size() >= 8) {
      // The last word, overlapping what is written already (the same bytes again).
      std::uint64_t w;
      std::memcpy(&w, end - 8, sizeof w);
      if (!word_needs_escape(w)) {
        std::memcpy(out + (end - p) - 8, &w, sizeof w);
        out += end - p;
        *out++ = '"';
        return out;
      }
    }
    for (; p != end && !byte_needs_escape(static_cast<unsigned char>(*p)); ++p) *out++ = *p;
  }
  out = write_escaped(out, s, static_cast<std::size_t>(p - begin));
  *out++ = '"';
  return out;
}

void append_json_string(std::string& out, std::string_view s) {
  if (is_plain_json_text(s)) {
    out.push_back('"');
    out.append(s);
    out.push_back('"');
    return;
  }
  const std::size_t base = out.size();
  out.resize(base + json_string_max_size(s.size()));
  char* end = write_json_string(out.data() + base, s);
  out.resize(static_cast<std::size_t>(end - out.data()));
}

}  // namespace khz

// SPDX-License-Identifier: Apache-2.0
// Utf8Validator: RFC 3629 well-formed UTF-8 (Table 3-7 of the Unicode standard), in pieces.
#include <khz/protocol/websocket.h>

#include <cstring>

namespace khz::protocol::websocket {

bool Utf8Validator::feed(std::string_view bytes) noexcept {
  if (failed_) return false;
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
  const std::size_t n = bytes.size();
  std::size_t i = 0;
  while (i < n) {
    if (need_ == 0) {
      // ASCII runs, eight bytes at a time.
      while (n - i >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p + i, 8);
        if ((w & 0x8080808080808080ull) != 0) break;
        i += 8;
      }
      if (i == n) break;
      const std::uint8_t b = p[i++];
      if (b < 0x80) continue;
      low_ = 0x80;
      high_ = 0xBF;
      if (b >= 0xC2 && b <= 0xDF) {
        need_ = 1;
      } else if (b >= 0xE0 && b <= 0xEF) {
        need_ = 2;
        if (b == 0xE0) low_ = 0xA0;        // overlong
        else if (b == 0xED) high_ = 0x9F;  // surrogates
      } else if (b >= 0xF0 && b <= 0xF4) {
        need_ = 3;
        if (b == 0xF0) low_ = 0x90;        // overlong
        else if (b == 0xF4) high_ = 0x8F;  // above U+10FFFF
      } else {
        failed_ = true;  // 80-C1 (continuation or overlong lead), F5-FF
        return false;
      }
    } else {
      const std::uint8_t b = p[i++];
      if (b < low_ || b > high_) {
        failed_ = true;
        return false;
      }
      --need_;
      low_ = 0x80;
      high_ = 0xBF;
    }
  }
  return true;
}

bool is_valid_utf8(std::string_view bytes) noexcept {
  Utf8Validator v;
  return v.feed(bytes) && v.complete();
}

}  // namespace khz::protocol::websocket

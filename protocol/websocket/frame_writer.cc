// SPDX-License-Identifier: Apache-2.0
// Frame headers (RFC 6455 §5.2) and masking (§5.3).
#include <khz/protocol/websocket.h>

#include <cstring>

namespace khz::protocol::websocket {

void apply_mask(char* bytes, std::size_t n, const std::uint8_t key[4], std::uint64_t offset) noexcept {
  std::size_t i = 0;
  const std::size_t shift = offset & 3;
  // Byte by byte until the key lines up, then eight bytes at a time.
  for (; i < n && ((shift + i) & 3) != 0; ++i) bytes[i] = static_cast<char>(bytes[i] ^ key[(shift + i) & 3]);
  if (n - i >= 8) {
    std::uint8_t k8[8];
    for (int j = 0; j < 8; ++j) k8[j] = key[j & 3];
    std::uint64_t word_key;
    std::memcpy(&word_key, k8, 8);
    for (; n - i >= 8; i += 8) {
      std::uint64_t w;
      std::memcpy(&w, bytes + i, 8);
      w ^= word_key;
      std::memcpy(bytes + i, &w, 8);
    }
  }
  for (; i < n; ++i) bytes[i] = static_cast<char>(bytes[i] ^ key[(shift + i) & 3]);
}

std::size_t write_header(char* out, Opcode opcode, bool fin, bool rsv1, std::uint64_t length,
                         const std::uint8_t* mask_key) noexcept {
  auto* o = reinterpret_cast<std::uint8_t*>(out);
  o[0] = static_cast<std::uint8_t>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | static_cast<std::uint8_t>(opcode));
  const std::uint8_t mask_bit = mask_key != nullptr ? 0x80 : 0;
  std::size_t pos;
  if (length < 126) {
    o[1] = static_cast<std::uint8_t>(mask_bit | length);
    pos = 2;
  } else if (length <= 0xFFFF) {
    o[1] = mask_bit | 126;
    o[2] = static_cast<std::uint8_t>(length >> 8);
    o[3] = static_cast<std::uint8_t>(length);
    pos = 4;
  } else {
    o[1] = mask_bit | 127;
    for (int i = 0; i < 8; ++i) o[2 + i] = static_cast<std::uint8_t>(length >> (56 - 8 * i));
    pos = 10;
  }
  if (mask_key != nullptr) {
    std::memcpy(o + pos, mask_key, 4);
    pos += 4;
  }
  return pos;
}

}  // namespace khz::protocol::websocket

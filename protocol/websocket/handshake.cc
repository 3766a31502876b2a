// SPDX-License-Identifier: Apache-2.0
// The opening handshake's keys (RFC 6455 §4.1, §4.2.2) through OpenSSL, and header tokens.
#include <khz/protocol/base64.h>
#include <khz/protocol/header_map.h>
#include <khz/protocol/websocket.h>
#include <khz/protocol/websocket_handshake.h>

#include "../common/ows.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdint>
#include <stdexcept>

namespace khz::protocol::websocket {
namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool is_base64_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

std::string base64(const unsigned char* bytes, int n) {
  return base64_encode(std::string_view(reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(n)));
}


}  // namespace

bool is_valid_key(std::string_view key) noexcept {
  // 16 bytes encode to 22 characters and "==".
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (std::size_t i = 0; i < 22; ++i) {
    if (!is_base64_char(key[i])) return false;
  }
  return true;
}

std::string accept_key(std::string_view key) {
  std::string input;
  input.reserve(key.size() + kGuid.size());
  input.append(key);
  input.append(kGuid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha1(), nullptr) != 1) {
    throw std::runtime_error("websocket: SHA-1 is not available");
  }
  return base64(digest, static_cast<int>(len));
}

std::string make_key() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("websocket: RAND_bytes failed");
  return base64(bytes, sizeof bytes);
}

void make_mask_key(std::uint8_t key[4]) {
  if (RAND_bytes(key, 4) != 1) throw std::runtime_error("websocket: RAND_bytes failed");
}

std::vector<std::string_view> split_tokens(std::string_view value) {
  std::vector<std::string_view> out;
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    std::string_view item = trim_ows(value.substr(0, comma));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

bool has_token(std::string_view value, std::string_view token) noexcept {
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    if (iequals(trim_ows(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace khz::protocol::websocket

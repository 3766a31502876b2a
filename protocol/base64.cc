// SPDX-License-Identifier: Apache-2.0
// Base64 and base64url on OpenSSL's EVP_EncodeBlock / EVP_DecodeBlock, with the strict checks
// that decoder leaves out (it skips whitespace and takes '=' loosely).
#include <khz/protocol/base64.h>

#include <openssl/evp.h>

#include <cstddef>

namespace khz::protocol {
namespace {

constexpr std::string_view kStandard = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

bool is_alnum(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// Decodes padded standard base64 whose characters were checked; `pad` '=' at the end.
std::optional<std::string> decode_checked(std::string_view text, std::size_t pad) {
  std::string out(text.size() / 4 * 3, '\0');
  if (text.empty()) return out;
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0 || static_cast<std::size_t>(n) != out.size()) return std::nullopt;
  out.resize(out.size() - pad);
  return out;
}

// The unused low bits of the last data character (before `pad` '='): zero when canonical.
bool last_bits_clear(char last, std::size_t pad, std::string_view alphabet) noexcept {
  const auto value = alphabet.find(last);
  if (pad == 1) return (value & 0x3) == 0;
  if (pad == 2) return (value & 0xf) == 0;
  return true;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');  // EVP_EncodeBlock writes a NUL
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string base64url_encode(std::string_view bytes) {
  std::string out = base64_encode(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

std::optional<std::string> base64_decode(std::string_view text, bool canonical) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  for (std::size_t i = 0; i < text.size() - pad; ++i) {
    const char c = text[i];
    if (!is_alnum(c) && c != '+' && c != '/') return std::nullopt;
  }
  if (canonical && pad != 0 && !last_bits_clear(text[text.size() - 1 - pad], pad, kStandard)) return std::nullopt;
  return decode_checked(text, pad);
}

std::optional<std::string> base64url_decode(std::string_view text, bool canonical) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string standard(text);
  for (char& c : standard) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    else if (!is_alnum(c)) return std::nullopt;
  }
  const std::size_t pad = (4 - text.size() % 4) % 4;
  if (canonical && pad != 0 && !last_bits_clear(text.back(), pad, kUrl)) return std::nullopt;
  standard.append(pad, '=');
  return decode_checked(standard, pad);
}

}  // namespace khz::protocol

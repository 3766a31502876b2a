// SPDX-License-Identifier: Apache-2.0
#include "basic_parse.h"

#include <openssl/evp.h>

#include <algorithm>

namespace khz::middleware::basic_detail {
namespace {

bool iequals_prefix(std::string_view s, std::string_view prefix) noexcept {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

bool is_base64_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// Strict base64 (RFC 4648 §4, padded): OpenSSL's decoder, after checking what it would skip
// or accept loosely (whitespace, a missing or misplaced '=').
bool decode_base64(std::string_view in, std::string& out) {
  if (in.empty() || in.size() % 4 != 0) return false;
  std::size_t pad = 0;
  while (pad < 2 && in[in.size() - 1 - pad] == '=') ++pad;
  for (std::size_t i = 0; i < in.size() - pad; ++i) {
    if (!is_base64_char(in[i])) return false;
  }
  out.resize(in.size() / 4 * 3);
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0 || static_cast<std::size_t>(n) < pad) return false;
  out.resize(static_cast<std::size_t>(n) - pad);
  return true;
}

}  // namespace

std::string parse_basic_authorization(std::string_view value, std::string& plain, std::size_t& colon) {
  if (value.size() > kMaxCredentials) return "over 4 KiB";
  if (!iequals_prefix(value, "basic ")) return "not the Basic scheme";
  value.remove_prefix(6);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (!decode_base64(value, plain)) return "bad base64";
  colon = plain.find(':');
  if (colon == std::string::npos) return "no ':' in the credentials";
  const bool clean = std::all_of(plain.begin(), plain.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u != 0x7f;
  });
  if (!clean) return "a control character in the credentials";
  return {};
}

}  // namespace khz::middleware::basic_detail

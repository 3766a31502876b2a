// SPDX-License-Identifier: Apache-2.0
#include "basic_parse.h"

#include <khz/protocol/base64.h>

#include <algorithm>
#include <utility>

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

// Strict base64 (RFC 4648 §4, padded): no whitespace, '=' only as the padding. The unused bits
// of the last character are not checked (§3.5 allows it; lenient clients send them).
bool decode_base64(std::string_view in, std::string& out) {
  if (in.empty()) return false;
  auto bytes = protocol::base64_decode(in, /*canonical=*/false);
  if (!bytes) return false;
  out = std::move(*bytes);
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

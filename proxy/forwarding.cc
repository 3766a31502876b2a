// SPDX-License-Identifier: Apache-2.0
#include "forwarding.h"

#include <khz/protocol/header_map.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace khz::proxy::detail {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// An IPv4 or IPv6 address as 16 bytes (IPv4 mapped into ::ffff:0:0/96); false when neither.
bool parse_ip(std::string_view text, std::array<std::uint8_t, 16>& out, bool& v4) {
  std::string s(text);
  out = {};
  in_addr a4{};
  if (::inet_pton(AF_INET, s.c_str(), &a4) == 1) {
    out[10] = out[11] = 0xff;
    std::memcpy(out.data() + 12, &a4, 4);
    v4 = true;
    return true;
  }
  in6_addr a6{};
  if (::inet_pton(AF_INET6, s.c_str(), &a6) == 1) {
    std::memcpy(out.data(), &a6, 16);
    v4 = false;
    return true;
  }
  return false;
}

bool is_tchar(char c) noexcept {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

}  // namespace

bool is_hop_by_hop(std::string_view name) noexcept {
  // Trailer is not one (RFC 9110 §6.6.2: it announces the trailer fields end to end).
  for (std::string_view h : {"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
                             "Proxy-Authorization", "TE", "Transfer-Encoding", "Upgrade"}) {
    if (iequals(name, h)) return true;
  }
  return false;
}

std::vector<std::string> connection_tokens(const HeaderMap& headers) {
  std::vector<std::string> out;
  for (const auto& f : headers) {
    if (!iequals(f.name, "Connection")) continue;
    std::string_view rest = f.value;
    while (!rest.empty()) {
      std::size_t comma = rest.find(',');
      std::string_view token = trim(rest.substr(0, comma));
      if (!token.empty()) out.push_back(lower(token));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return out;
}

bool names_one_of(std::string_view name, const std::vector<std::string>& lower_names) noexcept {
  return std::any_of(lower_names.begin(), lower_names.end(), [&](const std::string& n) { return iequals(n, name); });
}

std::string_view peer_ip(std::string_view peer) noexcept {
  if (peer.starts_with("unix:") || peer.empty()) return {};
  if (peer.front() == '[') {
    std::size_t close = peer.find(']');
    return close == std::string_view::npos ? std::string_view() : peer.substr(1, close - 1);
  }
  std::size_t colon = peer.rfind(':');
  return colon == std::string_view::npos ? peer : peer.substr(0, colon);
}

TrustedProxies::TrustedProxies(const std::vector<std::string>& entries) {
  for (const std::string& entry : entries) {
    std::string_view text = trim(entry);
    std::string_view address = text;
    int prefix = -1;
    if (std::size_t slash = text.find('/'); slash != std::string_view::npos) {
      address = text.substr(0, slash);
      std::string_view bits = text.substr(slash + 1);
      auto [p, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
      if (ec != std::errc() || p != bits.data() + bits.size() || prefix < 0) {
        throw std::invalid_argument("proxy: trusted_proxies: bad range '" + entry + "'");
      }
    }
    Range r;
    bool v4 = false;
    if (!parse_ip(address, r.bytes, v4)) {
      throw std::invalid_argument("proxy: trusted_proxies: '" + entry + "' is no IP address or CIDR range");
    }
    const int max = v4 ? 32 : 128;
    if (prefix > max) throw std::invalid_argument("proxy: trusted_proxies: bad prefix length in '" + entry + "'");
    r.prefix = (prefix < 0 ? max : prefix) + (v4 ? 96 : 0);
    ranges_.push_back(r);
  }
}

bool TrustedProxies::contains(std::string_view ip) const noexcept {
  if (ranges_.empty() || ip.empty()) return false;
  std::array<std::uint8_t, 16> bytes{};
  bool v4 = false;
  try {
    if (!parse_ip(ip, bytes, v4)) return false;
  } catch (...) {
    return false;
  }
  for (const Range& r : ranges_) {
    int bits = r.prefix;
    bool match = true;
    for (int i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
      const std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
      if ((bytes[i] & mask) != (r.bytes[i] & mask)) {
        match = false;
        break;
      }
    }
    if (match) return true;
  }
  return false;
}

std::string forwarded_node(std::string_view ip) {
  if (ip.empty()) return "unknown";
  if (ip.find(':') != std::string_view::npos) return "\"[" + std::string(ip) + "]\"";
  return std::string(ip);
}

std::string forwarded_value(std::string_view value) {
  if (!value.empty() && std::all_of(value.begin(), value.end(), is_tchar)) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace khz::proxy::detail

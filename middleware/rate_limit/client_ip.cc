// SPDX-License-Identifier: Apache-2.0
#include "client_ip.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <stdexcept>

namespace khz::middleware::detail {
namespace {

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The address text without brackets and port: "[v6]:p" -> "v6", "v4:p" -> "v4".
std::string_view address_part(std::string_view s) noexcept {
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) return {};
    const std::string_view rest = s.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return {};
    return s.substr(1, close - 1);
  }
  const auto colon = s.find(':');
  if (colon != std::string_view::npos && s.find(':', colon + 1) == std::string_view::npos) return s.substr(0, colon);
  return s;  // no port, or a bare IPv6 address
}

bool parse_bare(std::string_view s, IpBytes& out) noexcept {
  char buf[INET6_ADDRSTRLEN + 1];
  if (s.empty() || s.size() >= sizeof buf) return false;
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  in_addr v4;
  if (::inet_pton(AF_INET, buf, &v4) == 1) {
    out.fill(0);
    out[10] = 0xff;
    out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    return true;
  }
  in6_addr v6;
  if (::inet_pton(AF_INET6, buf, &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    return true;
  }
  return false;
}

// The for= value of one Forwarded element ("for=192.0.2.60;proto=http"), unquoted; "" when none.
std::string_view forwarded_for(std::string_view element) noexcept {
  while (!element.empty()) {
    const auto semi = element.find(';');
    std::string_view pair = trim(element.substr(0, semi));
    element = semi == std::string_view::npos ? std::string_view{} : element.substr(semi + 1);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos || !iequals(trim(pair.substr(0, eq)), "for")) continue;
    std::string_view v = trim(pair.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return v;
  }
  return {};
}

}  // namespace

bool parse_ip(std::string_view text, IpBytes& out) noexcept { return parse_bare(address_part(trim(text)), out); }

std::string_view strip_port(std::string_view peer) noexcept {
  const std::string_view a = address_part(peer);
  return a.empty() ? peer : a;
}

ProxySet::ProxySet(const std::vector<std::string>& cidrs) {
  for (const std::string& c : cidrs) {
    std::string_view text = c;
    const auto slash = text.find('/');
    IpBytes base{};
    if (!parse_bare(text.substr(0, slash), base)) {
      throw std::invalid_argument("trusted_proxies: \"" + c + "\" is no IP address or CIDR");
    }
    const bool v4 = text.substr(0, slash).find(':') == std::string_view::npos;
    unsigned bits = 128;
    if (slash != std::string_view::npos) {
      const std::string_view b = text.substr(slash + 1);
      unsigned n = 0;
      auto r = std::from_chars(b.data(), b.data() + b.size(), n);
      if (b.empty() || r.ec != std::errc() || r.ptr != b.data() + b.size() || n > (v4 ? 32u : 128u)) {
        throw std::invalid_argument("trusted_proxies: \"" + c + "\" has a bad prefix length");
      }
      bits = v4 ? n + 96 : n;
    }
    nets_.push_back({base, bits});
  }
}

bool ProxySet::contains(const IpBytes& ip) const noexcept {
  for (const Net& n : nets_) {
    unsigned left = n.bits;
    bool match = true;
    for (std::size_t i = 0; i < 16 && left > 0 && match; ++i) {
      const unsigned take = left >= 8 ? 8 : left;
      const auto mask = static_cast<std::uint8_t>(0xff << (8 - take));
      match = (ip[i] & mask) == (n.base[i] & mask);
      left -= take;
    }
    if (match) return true;
  }
  return false;
}

ClientIp client_ip(std::string_view peer, const HeaderMap& headers, const ProxySet& proxies, ForwardedKind kind) {
  const std::string_view peer_ip = strip_port(peer);
  ClientIp out{peer_ip};
  IpBytes ip{};
  if (proxies.empty() || !parse_bare(peer_ip, ip) || !proxies.contains(ip)) return out;
  const std::string_view name = kind == ForwardedKind::forwarded ? "Forwarded" : "X-Forwarded-For";
  // The field lines in order form one list (RFC 9110 §5.3): walk it from its right end.
  std::vector<std::string_view> lines;
  for (const auto& f : headers) {
    if (iequals(f.name, name)) lines.push_back(f.value);
  }
  for (auto line = lines.rbegin(); line != lines.rend(); ++line) {
    std::string_view rest = *line;
    while (!rest.empty()) {
      const auto comma = rest.rfind(',');
      std::string_view entry = trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
      if (entry.empty()) continue;  // "a, , b": an empty list element (RFC 9110 §5.6.1)
      if (kind == ForwardedKind::forwarded) entry = forwarded_for(entry);
      std::string_view addr = address_part(entry);
      if (!parse_bare(addr, ip)) {
        out.malformed = true;
        return out;
      }
      out.address = addr;
      if (!proxies.contains(ip)) return out;
    }
  }
  return out;  // every hop is a trusted proxy: the leftmost one
}

}  // namespace khz::middleware::detail

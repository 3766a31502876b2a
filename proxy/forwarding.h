// SPDX-License-Identifier: Apache-2.0
// The header rules of the reverse proxy (private to proxy/): which fields are hop-by-hop,
// the client's address, the trusted-proxies list, and the forwarding fields' values.
// Plain functions and values; usable from any thread.
#pragma once

#include <khz/protocol/header_map.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace khz::proxy::detail {

// RFC 9110 §7.6.1: the fields that belong to one connection, never forwarded.
bool is_hop_by_hop(std::string_view name) noexcept;

// The field names listed in `headers`' Connection field(s), lower-cased (they are hop-by-hop
// for this message too).
std::vector<std::string> connection_tokens(const HeaderMap& headers);
bool names_one_of(std::string_view name, const std::vector<std::string>& lower_names) noexcept;

// "10.0.0.1:5000" -> "10.0.0.1"; "[::1]:5000" -> "::1"; "unix:..." -> "" (no IP address).
std::string_view peer_ip(std::string_view peer_address) noexcept;

// Addresses and CIDR ranges ("10.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"); IPv4-mapped IPv6
// peers ("::ffff:10.0.0.1") match IPv4 entries.
class TrustedProxies {
 public:
  TrustedProxies() = default;
  // Throws std::invalid_argument naming an entry that is no address or range.
  explicit TrustedProxies(const std::vector<std::string>& entries);
  bool contains(std::string_view ip) const noexcept;
  bool empty() const noexcept { return ranges_.empty(); }

 private:
  struct Range {
    std::array<std::uint8_t, 16> bytes{};  // IPv4 as IPv4-mapped IPv6
    int prefix = 128;
  };
  std::vector<Range> ranges_;
};

// RFC 7239 §6: a node for `for=` ("192.0.2.1", "\"[2001:db8::1]\"", "unknown").
std::string forwarded_node(std::string_view ip);
// RFC 7239 §4: a value as a token, or quoted when it is not one.
std::string forwarded_value(std::string_view value);

}  // namespace khz::proxy::detail

// SPDX-License-Identifier: Apache-2.0
// The client's address for rate_limit: the peer's, or behind trusted proxies the one they
// report in X-Forwarded-For or Forwarded (RFC 7239). Private to middleware/rate_limit.
// Threading: a ProxySet is read-only once built (shared by every loop).
#pragma once

#include <khz/protocol/header_map.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace khz::middleware::detail {

// An address as 16 bytes (IPv4 mapped into ::ffff:0:0/96).
using IpBytes = std::array<std::uint8_t, 16>;

// Parses "192.0.2.1", "2001:db8::1", "[2001:db8::1]", "192.0.2.1:8080", "[2001:db8::1]:443".
// False for anything else ("unknown", "_hidden", "unix:", "in-process").
bool parse_ip(std::string_view text, IpBytes& out) noexcept;

// The address part of a peer address ("1.2.3.4:5" -> "1.2.3.4", "[::1]:5" -> "::1"); the text
// as it is when it has no port ("unix:/run/x.sock", "in-process").
std::string_view strip_port(std::string_view peer) noexcept;

class ProxySet {
 public:
  // Throws std::invalid_argument naming an entry that is no address or CIDR.
  explicit ProxySet(const std::vector<std::string>& cidrs);
  bool empty() const noexcept { return nets_.empty(); }
  bool contains(const IpBytes& ip) const noexcept;

 private:
  struct Net {
    IpBytes base;
    unsigned bits;  // of the 128
  };
  std::vector<Net> nets_;
};

enum class ForwardedKind { x_forwarded_for, forwarded };

struct ClientIp {
  std::string_view address;  // a view into `peer` or into a header value
  bool malformed = false;    // the walk stopped at an entry that is no address (logged by the caller)
};

// The client of a request from `peer` (RequestContext::peer_address) with `headers`: the peer
// when it is not a trusted proxy; else, walking the forwarded entries from the right (the
// nearest hop first, every field line in order), the first that is not a trusted proxy; the
// leftmost when all are. A malformed entry stops the walk: the last good address is the client.
ClientIp client_ip(std::string_view peer, const HeaderMap& headers, const ProxySet& proxies, ForwardedKind kind);

}  // namespace khz::middleware::detail

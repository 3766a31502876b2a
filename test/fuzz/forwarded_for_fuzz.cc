// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: rate_limit's client address behind trusted proxies (middleware/rate_limit
// client_ip.h). The first byte picks the header kind (X-Forwarded-For or Forwarded) and the
// peer; the rest, split at '\n', is the field lines. Checks: the answer is a view into the peer
// or into one of the lines; it is the peer when the peer is not trusted; when nothing was
// malformed it is an IP address or the peer's own text; and parse_ip agrees with itself.
#include "client_ip.h"

#include <khz/protocol/header_map.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace khz::middleware::detail;
  if (size == 0) return 0;
  static const ProxySet proxies({"127.0.0.0/8", "10.0.0.0/8", "::1", "2001:db8::/32"});
  const std::uint8_t mode = data[0];
  const auto kind = (mode & 1) != 0 ? ForwardedKind::forwarded : ForwardedKind::x_forwarded_for;
  static const char* const kPeers[] = {"127.0.0.1:5000", "[::1]:443", "203.0.113.5:80", "10.2.3.4:1", "unix:", "in-process"};
  const std::string peer = kPeers[(mode >> 1) % 6];
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (;;) {
    const auto nl = rest.find('\n', start);
    lines.push_back(rest.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  khz::HeaderMap headers;
  for (const auto& l : lines) headers.add_ref(kind == ForwardedKind::forwarded ? "Forwarded" : "X-Forwarded-For", l);
  const ClientIp got = client_ip(peer, headers, proxies, kind);
  bool in_input = inside(got.address, peer);
  for (const auto& l : lines) in_input = in_input || inside(got.address, l);
  check(in_input);
  IpBytes peer_ip{};
  const bool peer_trusted = parse_ip(peer, peer_ip) && proxies.contains(peer_ip);
  if (!peer_trusted) check(got.address == strip_port(peer) && !got.malformed);
  IpBytes ip{};
  if (!got.malformed && got.address != strip_port(peer)) check(parse_ip(got.address, ip));
  // parse_ip on arbitrary text: no crash, and a parsed address re-parses to the same bytes.
  IpBytes a{}, b{};
  if (parse_ip(rest, a)) {
    check(parse_ip(rest, b));
    check(a == b);
  }
  return 0;
}

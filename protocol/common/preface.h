// SPDX-License-Identifier: Apache-2.0
// Private to protocol/: what the first bytes of a plain-text connection say (the front door's
// h2c prior-knowledge choice). The HTTP/2 client preface's first line, "PRI * HTTP/2.0\r\n", is
// no HTTP/1.x request (the PRI method exists only for it, RFC 9113 §3.4 / RFC 7540 §11.6), so
// a client whose bytes match that far speaks HTTP/2, and if the rest of its preface is wrong
// it is told so in HTTP/2 (GOAWAY PROTOCOL_ERROR), not with an HTTP/1.1 error.
#pragma once

#include <khz/common/linked_buffer.h>

#include <algorithm>
#include <cstddef>
#include <string_view>

namespace khz::protocol {

inline constexpr std::string_view kHttp2ClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
inline constexpr std::size_t kHttp2PrefaceFirstLine = kHttp2ClientPreface.find('\n') + 1;

enum class FirstBytes { http1, http2, undecided };

// Decided on the first byte that differs from the preface's first line, so an HTTP/1.1 client
// that sends a short request is never kept waiting; `undecided` while the input is a proper
// prefix of that line (empty input included).
inline FirstBytes first_bytes(LinkedBuffer& in) {
  std::string_view got = in.peek(std::min(in.size(), kHttp2PrefaceFirstLine));
  auto same = static_cast<std::size_t>(
      std::mismatch(got.begin(), got.end(), kHttp2ClientPreface.begin()).first - got.begin());
  if (same == kHttp2PrefaceFirstLine) return FirstBytes::http2;
  return same < got.size() ? FirstBytes::http1 : FirstBytes::undecided;
}

}  // namespace khz::protocol

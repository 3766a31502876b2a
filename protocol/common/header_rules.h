// SPDX-License-Identifier: Apache-2.0
// Private to protocol/: rules on header fields that are HTTP's, not one codec's, kept once for
// every codec that needs them (the HTTP/2 server and client today).
//
//   for (const auto& f : request.headers()) {
//     if (protocol::is_connection_specific_header(f.name, f.value)) continue;  // not in HTTP/2
//     ...
//   }
#pragma once

#include <khz/protocol/header_map.h>

#include <string_view>

namespace khz::protocol {

// RFC 9113 §8.2.2: a field that describes one connection, not the message. HTTP/2 (and HTTP/3)
// messages must not carry one (a peer treats it as malformed), so it is dropped when a message
// goes out in HTTP/2: Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade, and
// TE with any value other than "trailers" (the one TE an HTTP/2 request may carry). Names and
// the "trailers" value compare case-insensitively.
inline bool is_connection_specific_header(std::string_view name, std::string_view value) noexcept {
  if (iequals(name, "te")) return !iequals(value, "trailers");
  return iequals(name, "connection") || iequals(name, "keep-alive") || iequals(name, "proxy-connection") ||
         iequals(name, "transfer-encoding") || iequals(name, "upgrade");
}

}  // namespace khz::protocol

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

// The lower-case spelling of a field name responses commonly carry, as a literal, when `name`
// is that name in any case ("Content-Type" -> "content-type"); empty for any other name. HTTP/2
// sends names in lower case: with a literal the session need not copy and lower-case the name
// for every response.
inline std::string_view known_lower_case_name(std::string_view name) noexcept {
  auto is = [&](std::string_view lower) { return iequals_same_size(name.data(), lower.data(), lower.size()); };
  switch (name.size()) {
    case 3: return is("via") ? "via" : is("age") ? "age" : std::string_view();
    case 4: return is("vary") ? "vary" : is("etag") ? "etag" : is("link") ? "link" : std::string_view();
    case 7: return is("expires") ? "expires" : std::string_view();
    case 8: return is("location") ? "location" : std::string_view();
    case 10: return is("set-cookie") ? "set-cookie" : std::string_view();
    case 12: return is("content-type") ? "content-type" : is("x-request-id") ? "x-request-id" : std::string_view();
    case 13:
      return is("cache-control")   ? "cache-control"
             : is("last-modified") ? "last-modified"
             : is("accept-ranges") ? "accept-ranges"
             : is("content-range") ? "content-range"
                                   : std::string_view();
    case 15: return is("x-frame-options") ? "x-frame-options" : std::string_view();
    case 16:
      return is("content-encoding")   ? "content-encoding"
             : is("www-authenticate") ? "www-authenticate"
             : is("content-language") ? "content-language"
                                      : std::string_view();
    case 19: return is("content-disposition") ? "content-disposition" : std::string_view();
    case 22: return is("x-content-type-options") ? "x-content-type-options" : std::string_view();
    case 23: return is("content-security-policy") ? "content-security-policy" : std::string_view();
    case 25: return is("strict-transport-security") ? "strict-transport-security" : std::string_view();
    case 27: return is("access-control-allow-origin") ? "access-control-allow-origin" : std::string_view();
    default: return {};
  }
}

}  // namespace khz::protocol

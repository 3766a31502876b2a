// SPDX-License-Identifier: Apache-2.0
// Accept-Encoding (RFC 9110 §12.5.3), sans-I/O: whether a content coding is acceptable.
//
//   khz::protocol::accepts_coding("gzip, br;q=0.8", "br");      // true
//   khz::protocol::accepts_coding("gzip;q=0, *", "gzip");       // false: refused by name
//   khz::protocol::accepts_coding("*", "zstd");                 // true
//
// Pure function; thread-safe.
#pragma once

#include <string_view>

namespace khz::protocol {

// True when `coding` is listed with a q-value above 0, or is not listed and "*" is (q > 0).
// Names compare case-insensitively; "x-gzip" counts as "gzip" (§8.4.1.3). An empty or absent
// field accepts nothing here (a server then sends the identity coding).
bool accepts_coding(std::string_view accept_encoding, std::string_view coding) noexcept;

}  // namespace khz::protocol

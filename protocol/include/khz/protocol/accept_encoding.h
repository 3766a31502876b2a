// SPDX-License-Identifier: Apache-2.0
// Accept-Encoding (RFC 9110 §12.5.3), sans-I/O: whether a content coding is acceptable, how
// much, and which of the server's codings to send.
//
//   khz::protocol::accepts_coding("gzip, br;q=0.8", "br");      // true
//   khz::protocol::accepts_coding("gzip;q=0, *", "gzip");       // false: refused by name
//   khz::protocol::accepts_coding("*", "zstd");                 // true
//   khz::protocol::coding_quality("gzip, br;q=0.8", "br");      // 800
//   std::string_view mine[] = {"zstd", "br", "gzip"};
//   khz::protocol::choose_coding("gzip, br;q=0.8", mine);       // 2 (gzip: q=1 beats br's 0.8)
//
// Pure function; thread-safe.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace khz::protocol {

// True when `coding` is listed with a q-value above 0, or is not listed and "*" is (q > 0).
// Names compare case-insensitively; "x-gzip" counts as "gzip" (§8.4.1.3). An empty or absent
// field accepts nothing here (a server then sends the identity coding).
bool accepts_coding(std::string_view accept_encoding, std::string_view coding) noexcept;

// The q-value given to `coding`, in thousandths (0-1000): its own entry, else "*"'s, else 0.
// No q parameter is 1000, a malformed one too (lenient).
int coding_quality(std::string_view accept_encoding, std::string_view coding) noexcept;

// The index in `preference` (the server's codings, most preferred first) of the coding to send:
// the highest q-value above 0, ties going to the earlier entry; preference.size() when none is
// acceptable (send identity).
std::size_t choose_coding(std::string_view accept_encoding, std::span<const std::string_view> preference) noexcept;

}  // namespace khz::protocol

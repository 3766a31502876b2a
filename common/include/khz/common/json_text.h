// SPDX-License-Identifier: Apache-2.0
// Text as a JSON string for log lines (RFC 8259 §7), whatever bytes it holds:
//
//   khz::append_json_string(line, ctx.header("User-Agent"));   // "curl/8.0", quotes included
//
//   char* p = ...;                                  // room for json_string_max_size(s.size())
//   p = khz::write_json_string(p, s);               // the same text through a raw pointer
//
// '"' and '\\' escaped, \n \r \t by name, other control bytes and DEL as \u00XX, and every
// byte that is not part of well-formed UTF-8 (RFC 3629: no overlongs, no surrogates) replaced
// by U+FFFD, so the result is always valid JSON in valid UTF-8. The structured log's JSON lines
// and the access log's JSON format both write with it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace khz {

void append_json_string(std::string& out, std::string_view s);

// The most bytes write_json_string writes for `n` bytes of text: 6 per byte (\u00XX), quotes.
constexpr std::size_t json_string_max_size(std::size_t n) noexcept { return 6 * n + 2; }

// Writes `s` as a JSON string at `out`, which has room for json_string_max_size(s.size());
// returns the end of what it wrote.
char* write_json_string(char* out, std::string_view s) noexcept;

// True when `s` is printable ASCII without '"' or '\\': its JSON string is itself in quotes.
bool is_plain_json_text(std::string_view s) noexcept;

}  // namespace khz

// SPDX-License-Identifier: Apache-2.0
// Text as a JSON string for log lines (RFC 8259 §7), whatever bytes it holds:
//
//   khz::append_json_string(line, ctx.header("User-Agent"));   // "curl/8.0", quotes included
//
// '"' and '\\' escaped, \n \r \t by name, other control bytes and DEL as \u00XX, and every
// byte that is not part of well-formed UTF-8 (RFC 3629: no overlongs, no surrogates) replaced
// by U+FFFD, so the result is always valid JSON in valid UTF-8. The structured log's JSON lines
// and the access log's JSON format both write with it.
#pragma once

#include <string>
#include <string_view>

namespace khz {

void append_json_string(std::string& out, std::string_view s);

}  // namespace khz

// SPDX-License-Identifier: Apache-2.0
// The pure part of middleware/cors: what an Origin may look like and how "https://*.example.com"
// patterns match one. No RequestContext: cors.cc uses it per request, test/fuzz/cors_origin_fuzz.cc
// feeds it arbitrary origins and patterns.
//
//   auto p = cors_detail::parse_origin_pattern("https://*.example.com");   // nullopt if malformed
//   bool ok = cors_detail::is_well_formed_origin(origin) && cors_detail::matches_origin_pattern(*p, origin);
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace khz::middleware::cors_detail {

// An Origin as browsers serialise it (RFC 6454 §6.2): scheme "://" host [":" port], nothing
// else; or "null". Anything else is refused before it is compared or logged.
bool is_well_formed_origin(std::string_view origin) noexcept;

struct OriginPattern {  // "https://*.example.com": prefix "https://", suffix ".example.com" (lower case)
  std::string prefix;
  std::string suffix;
};

// One '*', right after "scheme://", followed by '.' and at least one more label; nullopt else.
std::optional<OriginPattern> parse_origin_pattern(std::string_view text);

// The '*' covers one or more DNS labels (letters, digits, '-', '.'; not starting or ending with
// '.'), so no port, no path and no other host hides in it. Case-insensitive.
bool matches_origin_pattern(const OriginPattern& pattern, std::string_view origin) noexcept;

}  // namespace khz::middleware::cors_detail

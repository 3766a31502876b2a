// SPDX-License-Identifier: Apache-2.0
// The pure part of middleware/basic_auth: an Authorization field value (RFC 7617) to the
// "user:password" it carries. No RequestContext: basic_auth.cc uses it per request,
// test/fuzz/basic_auth_fuzz.cc feeds it arbitrary values.
//
//   std::string plain;
//   std::size_t colon = 0;
//   if (std::string why = basic_detail::parse_basic_authorization(value, plain, colon); !why.empty()) refuse(why);
//   std::string_view user = std::string_view(plain).substr(0, colon);
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace khz::middleware::basic_detail {

// Longest Authorization value looked at.
constexpr std::size_t kMaxCredentials = 4096;

// "" with the decoded "user:password" in `plain` and the first ':' at `colon`, or why the value
// is malformed: "over 4 KiB", "not the Basic scheme", "bad base64" (strict, padded RFC 4648 §4),
// "no ':' in the credentials", "a control character in the credentials".
std::string parse_basic_authorization(std::string_view value, std::string& plain, std::size_t& colon);

}  // namespace khz::middleware::basic_detail

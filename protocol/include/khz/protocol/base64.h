// SPDX-License-Identifier: Apache-2.0
// Base64 (RFC 4648 §4, padded with '=') and base64url (§5, unpadded, as JWS, cookies and
// tokens use it), through OpenSSL's codec. The decoders are strict where OpenSSL's is loose:
// the alphabet only (no whitespace), the padding the form requires and no other, nullopt for
// anything else.
//
//   std::string header = khz::protocol::base64_encode("ann:correct horse");   // "YW5uOmNvcnJlY3QgaG9yc2U="
//   auto bytes = khz::protocol::base64url_decode(segment);                   // nullopt: not canonical base64url
//
// `canonical` also refuses a last character whose unused low bits are not zero, so each byte
// string has exactly one text: what token, MAC and id comparisons need. RFC 4648 §3.5 lets a
// decoder accept them, which base64_decode does by default (an Authorization header from a
// lenient client still decodes).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace khz::protocol {

std::string base64_encode(std::string_view bytes);
std::string base64url_encode(std::string_view bytes);

// Padded base64: a length that is a multiple of 4, at most two '=' and only at the end.
// "" decodes to "".
std::optional<std::string> base64_decode(std::string_view text, bool canonical = false);
// Unpadded base64url: no '=', no length that no byte string encodes to (4k + 1). "" decodes
// to "".
std::optional<std::string> base64url_decode(std::string_view text, bool canonical = true);

}  // namespace khz::protocol

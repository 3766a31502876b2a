// SPDX-License-Identifier: Apache-2.0
// Conditional requests (RFC 9110 §13), sans-I/O: entity tags and Last-Modified for a file, the
// preconditions evaluated in the order of §13.2.2, and If-Range (§13.1.5).
//
//   khz::protocol::Validators v{etag, mtime_seconds};
//   switch (khz::protocol::evaluate_preconditions(req.method(), req.headers(), v)) {
//     case Precondition::not_modified: /* 304 with ETag, Last-Modified */ break;
//     case Precondition::failed: /* 412 */ break;
//     case Precondition::proceed: /* serve; a Range applies if range_applies(If-Range, v) */ break;
//   }
//
// Pure functions; thread-safe.
#pragma once

#include <khz/protocol/header_map.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace khz::protocol {

// The selected representation's validators.
struct Validators {
  std::string_view etag;       // the ETag value with its quotes ("\"5f1a-400\""); may be W/"..."
  std::int64_t last_modified;  // seconds since the epoch (Last-Modified's resolution)
};

// A strong ETag for a file from what stat says: "\"<mtime ns hex>-<size hex>\"" (a file replaced
// or changed in place gets a new one, short of a change that keeps both within a nanosecond).
// `suffix` tells representations of one file apart (a precompressed sibling: "br").
std::string file_etag(std::int64_t mtime_ns, std::uint64_t size, std::string_view suffix = {});

// An HTTP-date (IMF-fixdate, RFC 850 or asctime; RFC 9110 §5.6.7) in seconds since the epoch;
// nullopt when the value is not a date (the condition is then ignored, as §13.1.3 says).
std::optional<std::int64_t> parse_http_date(std::string_view value);
// `seconds` since the epoch as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
std::string format_http_date(std::int64_t seconds);

enum class Precondition {
  proceed,       // serve the request (a Range may still apply)
  not_modified,  // 304 (GET, HEAD)
  failed,        // 412
};

// §13.2.2: If-Match (strong comparison; "*" matches), else If-Unmodified-Since; then
// If-None-Match (weak comparison; "*" matches), else If-Modified-Since for GET and HEAD. A
// failed If-None-Match is 304 for GET/HEAD, 412 otherwise. Dates that do not parse are ignored.
Precondition evaluate_preconditions(std::string_view method, const HeaderMap& headers, const Validators& v);

// §13.1.5: whether the Range applies given an If-Range value ("" = no If-Range: yes). An entity
// tag must match strongly (a weak one never does); a date must equal Last-Modified exactly.
bool range_applies(std::string_view if_range, const Validators& v);

// Whether an If-Match / If-None-Match list ("*", or entity tags separated by commas) holds `etag`.
// `weak`: weak comparison (W/ prefixes ignored); else strong (a weak tag on either side fails).
bool etag_list_matches(std::string_view list, std::string_view etag, bool weak);

}  // namespace khz::protocol

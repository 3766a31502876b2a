// SPDX-License-Identifier: Apache-2.0
// khz::protocol::form_errc: why a form body (application/x-www-form-urlencoded or
// multipart/form-data) was refused, as std::error_code (category "khz.form"), and the HTTP
// status each one answers.
//
//   auto r = co_await ctx.read_form();
//   if (!r) {                                   // read_form has already answered; or, by hand:
//     ctx.string(khz::protocol::form_error_status(r.error()), r.error().message());
//   }
//
// Limits crossed answer 413, malformed input 400, a body that is not a form 415. Errors from
// reading the body map as the body reader's do: khz.protocol body_too_large 413, the others
// 400; a transport time-out 408 and another transport error (the client went away) 400. Any
// other error_code (a temp file that could not be written) is the server's: 500.
#pragma once

#include <system_error>

namespace khz::protocol {

enum class form_errc {
  // Limits (413 Content Too Large)
  body_too_large = 1,     // the form body is longer than its limit
  too_many_fields,        // urlencoded: more fields than max_fields
  key_too_large,          // urlencoded: a field name longer than max_key_bytes (as sent)
  value_too_large,        // urlencoded: a value longer than max_value_bytes (as sent)
  too_many_parts,         // multipart: more parts than max_parts
  part_header_too_large,  // multipart: a part's header block longer than max_header_bytes
  too_many_part_headers,  // multipart: a part with more header fields than max_headers
  field_too_large,        // multipart: a non-file part longer than max_field_bytes
  // Malformed input (400 Bad Request)
  bad_escape,                // urlencoded, strict mode only: a '%' not followed by two hex digits
  bad_boundary,              // multipart: boundary parameter missing, empty, over 70 chars or bad chars
  missing_boundary,          // multipart: the body holds no boundary line at all
  malformed_delimiter,       // multipart: a boundary line followed by bytes other than "--" or CRLF
  malformed_part_header,     // multipart: a header line without ':', or with a bad name, or folded
  bad_content_disposition,   // multipart: Content-Disposition missing, not form-data, or malformed
  missing_field_name,        // multipart: Content-Disposition without a name parameter
  truncated,                 // multipart: the body ended before the close delimiter
  // Not a form (415 Unsupported Media Type)
  not_a_form,  // Content-Type is neither application/x-www-form-urlencoded nor multipart/form-data
};

const std::error_category& form_category() noexcept;
inline std::error_code make_error_code(form_errc e) noexcept { return {static_cast<int>(e), form_category()}; }

// The HTTP status that answers `error` (see above); 0 for no error.
int form_error_status(std::error_code error) noexcept;

}  // namespace khz::protocol

template <>
struct std::is_error_code_enum<khz::protocol::form_errc> : std::true_type {};

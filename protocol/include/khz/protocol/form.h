// SPDX-License-Identifier: Apache-2.0
// Form bodies: which encoding a Content-Type names, and the two codecs behind it.
//
//   switch (khz::protocol::form_encoding(request.header("Content-Type"))) {
//     case khz::protocol::FormEncoding::urlencoded: ...   // <khz/protocol/urlencoded.h>
//     case khz::protocol::FormEncoding::multipart: ...    // <khz/protocol/multipart.h>
//     case khz::protocol::FormEncoding::none: ...         // form_errc::not_a_form (415)
//   }
//
// Media types compare case-insensitively and their parameters are ignored here
// ("application/x-www-form-urlencoded; charset=utf-8" is urlencoded); the multipart boundary is
// read by multipart_boundary(). Pure functions; no state.
#pragma once

#include <khz/protocol/form_error.h>
#include <khz/protocol/multipart.h>
#include <khz/protocol/urlencoded.h>

#include <string_view>

namespace khz::protocol {

enum class FormEncoding { none, urlencoded, multipart };

// application/x-www-form-urlencoded: urlencoded; multipart/form-data: multipart; else none.
FormEncoding form_encoding(std::string_view content_type) noexcept;

}  // namespace khz::protocol

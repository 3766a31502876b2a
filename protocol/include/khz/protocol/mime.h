// SPDX-License-Identifier: Apache-2.0
// Media types by file name extension, for Content-Type of static files.
//
//   khz::protocol::mime_type("app.js");        // "text/javascript; charset=utf-8"
//   khz::protocol::mime_type("photo.JPG");     // "image/jpeg" (extensions compare case-insensitively)
//   khz::protocol::mime_type("blob");          // "application/octet-stream"
//
// Text types carry "; charset=utf-8". The table is built in and sorted; lookup allocates
// nothing. Thread-safe.
#pragma once

#include <string_view>

namespace khz::protocol {

// The media type for `path`'s extension (what follows its last '.' in the last segment);
// application/octet-stream for none or an unknown one. The view is static.
std::string_view mime_type(std::string_view path) noexcept;

}  // namespace khz::protocol

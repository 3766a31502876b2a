// SPDX-License-Identifier: Apache-2.0
// Content-Type patterns for the compression middleware: "text/*", "application/*+json",
// "image/svg+xml". Pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace khz::middleware::compression_detail {

// The media type of a Content-Type value, lower-cased, without parameters or spaces, into `out`
// (replaced; its capacity reused).
void media_type_of(std::string_view content_type, std::string& out);
// Whether `type` (from media_type_of) matches `pattern` (lower-case): exact, "major/*", or
// "major/*+suffix".
bool media_type_matches(std::string_view type, std::string_view pattern) noexcept;

}  // namespace khz::middleware::compression_detail

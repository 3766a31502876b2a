// SPDX-License-Identifier: Apache-2.0
//
// khz/route/path.h: URL-path helpers used around routing: clean_path (the canonical form
// redirect_fixed_path compares against) and percent_decode (for parameter values).
//
//   khz::route::clean_path("//a/./b/../c/");    // "/a/c/"
//   khz::route::clean_path("");                 // "/"
//   khz::route::percent_decode("a%2Fb%20c");    // "a/b c"
//   khz::route::percent_decode("50%");          // std::nullopt (malformed escape)
//
// Both return owned strings; neither keeps a reference to its argument.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace khz::route {

// Canonical form of a URL path, exactly as Hertz/httprouter CleanPath:
//   - "" becomes "/", and a path not starting with '/' gets one prepended;
//   - runs of '/' collapse to one;
//   - "." elements are removed, and a final "." leaves a trailing '/';
//   - ".." removes the element before it; ".." at the root is dropped;
//   - a trailing '/' of the input is kept (unless the result is "/").
// Works byte-wise; no decoding is done.
std::string clean_path(std::string_view path);

// Percent-decodes `in`: every "%XY" (X, Y hex digits, either case) becomes that byte.
// '+' stays '+' (this is for paths, not for form-encoded queries). Returns std::nullopt
// when a '%' is not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view in);

// The value of one hex digit (either case), or -1.
int hex_digit_value(char c) noexcept;

}  // namespace khz::route

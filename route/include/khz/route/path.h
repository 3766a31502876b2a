// SPDX-License-Identifier: Apache-2.0
//
// khz/route/path.h: URL-path helpers used around routing: clean_path (the canonical form
// redirect_fixed_path compares against), percent_decode (a path as Hertz's URI.Path() decodes
// it) and query_unescape (path parameter values under use_raw_path, as Hertz unescapes them).
//
//   khz::route::clean_path("//a/./b/../c/");    // "/a/c/"
//   khz::route::clean_path("");                 // "/"
//   khz::route::percent_decode("a%2Fb%20c+d");  // "a/b c+d"
//   khz::route::percent_decode("50%");          // std::nullopt (malformed escape)
//   khz::route::query_unescape("a%2Fb+c");      // "a/b c"
//
//   char out[16];                                // at least in.size() bytes
//   khz::route::query_unescape_to("a+b", out);   // 3; out holds "a b" (no allocation)
//
// The functions returning strings return owned ones; none keeps a reference to its argument.
#pragma once

#include <cstddef>
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

// Go's url.QueryUnescape, which Hertz's router applies to path parameter values when
// UseRawPath and UnescapePathValues are set: every "%XY" becomes that byte and every '+' a
// space. Returns std::nullopt when a '%' is not followed by two hex digits (Hertz then keeps
// the value as it was).
std::optional<std::string> query_unescape(std::string_view in);

// The same into caller memory: writes the result to `out`, which must hold in.size() bytes
// (the result is never longer), and returns its length; std::nullopt on a malformed escape,
// with `out` holding a partial result. Allocates nothing.
std::optional<std::size_t> query_unescape_to(std::string_view in, char* out) noexcept;

// True when query_unescape(in) could differ from `in` (it holds a '%' or a '+').
bool needs_query_unescape(std::string_view in) noexcept;

// The value of one hex digit (either case), or -1.
int hex_digit_value(char c) noexcept;

}  // namespace khz::route

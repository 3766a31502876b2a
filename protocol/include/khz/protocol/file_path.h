// SPDX-License-Identifier: Apache-2.0
// The path of a file asked for under a static root, made safe: sans-I/O, no file system access.
//
//   khz::protocol::relative_file_path("/css/site.css");      // "css/site.css"
//   khz::protocol::relative_file_path("/a//./b/");           // "a/b"
//   khz::protocol::relative_file_path("/../etc/passwd");     // nullopt
//   khz::protocol::relative_file_path("/%2e%2e/etc/passwd"); // nullopt (double encoding)
//   khz::protocol::path_within("/srv/www/a", "/srv/www");    // true
//
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace khz::protocol {

// `path` is the part under the prefix, percent-decoded once (as the router hands it). Returns
// the relative path to join to the root ("" for the root itself): segments joined by '/', with
// empty and "." segments dropped. Refused (nullopt), whatever the segments around it:
//   - a ".." segment (never resolved upwards: the router already cleaned the path, so one left
//     here was meant to climb);
//   - a backslash (a separator on other systems), NUL, and any other control byte or DEL;
//   - a '%' followed by two hex digits that decode to '.', '/', '\', NUL or another control
//     byte: an escape that survived the router's decoding is double encoding;
//   - a path over 4096 bytes or a segment over 255 (PATH_MAX, NAME_MAX).
std::optional<std::string> relative_file_path(std::string_view path);

// Whether the absolute, resolved path `real` is `root` or lies under it ("/srv/www2" is not
// under "/srv/www"). Both without a trailing slash (but "/" as root).
bool path_within(std::string_view real, std::string_view root) noexcept;

}  // namespace khz::protocol

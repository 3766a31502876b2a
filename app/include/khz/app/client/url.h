// SPDX-License-Identifier: Apache-2.0
// khz/app/client/url.h: Url, an absolute http(s) URL split into scheme, host, port and target;
// what the client parses ClientRequest::url into and resolves Location headers against.
//
//   auto u = khz::Url::parse("http://[::1]:8080/a/b?x=1#frag");
//   // u->host == "::1", u->port == 8080, u->target == "/a/b?x=1" (the fragment dropped)
//   u->authority();                 // "[::1]:8080"
//   u->resolve("../c")->str();      // "http://[::1]:8080/a/../c" (no dot-segment removal)
//
// Errors: client::errc::bad_url. Threading: a plain value.
#pragma once

#include <khz/app/client/errors.h>
#include <khz/common/result.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace khz {

// An absolute http(s) URL, split.
struct Url {
  std::string scheme{};      // "http" or "https", lower case
  std::string host{};        // without brackets for IPv6
  std::uint16_t port = 0;    // explicit, or the scheme's default
  std::string target = "/";  // path and query ("/a/b?x=1"), never empty
  bool explicit_port = false;

  // Parses "http://host[:port][/path][?query]"; the fragment is dropped.
  static Result<Url> parse(std::string_view text);
  // Host header value: host[:port] (port omitted when it is the scheme's default).
  std::string authority() const;
  std::string str() const;
  // The URL a Location header points to, relative to this one (RFC 3986 §5.2, common cases:
  // absolute URL, "//authority/path", "/absolute/path", "relative/path").
  Result<Url> resolve(std::string_view reference) const;
};

}  // namespace khz

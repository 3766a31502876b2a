// SPDX-License-Identifier: Apache-2.0
// khz::middleware::host_redirect: one host name per site ("www.example.com" to
// "example.com", an old domain to the new one).
//
//   server.use(khz::middleware::host_redirect({.host = "example.com"}));
//   server.use(khz::middleware::host_redirect({.host = "example.com", .from = {"www.example.com", "example.net"}}));
//
// A request whose Host (its name, without the port, compared without case) is not `host` is
// answered with a redirect to the same path and query on `host`, and the chain stops: 301 for
// GET and HEAD, 308 for other methods; `status` overrides. With `from` set, only requests to
// those names are redirected (others pass on: health checks by IP address, say). The Location
// is built from the options alone (scheme, host, port) plus the request's path and query, so a
// request cannot steer it to another site. The scheme is `scheme`, or that of the request
// (https over TLS, else http). A plain middleware: no coroutine frame.
//
// Options (defaults):
//   host    required: a host name or IP literal, without a port (std::invalid_argument otherwise)
//   from    {}: every other name
//   port    0: none in the Location (the scheme's default port)
//   scheme  "": the request's; "http" or "https"
//   status  0: 301 (GET, HEAD) or 308; else 301, 302, 303, 307 or 308
#pragma once

#include <khz/app/handler.h>

#include <string>
#include <vector>

namespace khz::middleware {

struct HostRedirectOptions {
  std::string host{};
  std::vector<std::string> from{};
  int port = 0;
  std::string scheme{};
  int status = 0;
};

Handler host_redirect(HostRedirectOptions options);

}  // namespace khz::middleware

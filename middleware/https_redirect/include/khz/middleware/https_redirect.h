// SPDX-License-Identifier: Apache-2.0
// khz::middleware::https_redirect: sends plain-http requests to the same URL over https.
//
//   server.use(khz::middleware::https_redirect());                         // Host's name, port 443
//   server.use(khz::middleware::https_redirect({.host = "www.example.com", .port = 8443,
//                                               .skip_path_prefixes = {"/.well-known/acme-challenge/"}}));
//
// A request that came over TLS (RequestContext::is_tls), or that a trusted proxy marks as
// https (trust_forwarded_proto and X-Forwarded-Proto: https), passes on. Any other is answered
// with a redirect to https://<host>[:port]<path>[?query] and the chain stops: 301 for GET and
// HEAD, 308 for other methods (the method and the body are kept); `status` overrides.
// <host> is `host`, or the name in the request's Host field (its port dropped); a Host that is
// not a plain host name, IPv4 address or [IPv6] literal with an optional port (a '/', '@', '\',
// space, ...) gets 400 and a log line instead, so no request can steer the redirect elsewhere.
// Paths under a `skip_path_prefixes` entry are served over http as well (ACME challenges, a
// load balancer's health check). A plain middleware: no coroutine frame. Pair it with
// secure_headers' HSTS, which browsers honour once they have reached https.
//
// Options (defaults):
//   host                   "" (the request's Host)
//   port                   443 (not written in the Location); 1-65535
//   status                 0: 301 (GET, HEAD) or 308; else 301, 302, 303, 307 or 308
//   trust_forwarded_proto  false; true only behind a proxy that sets X-Forwarded-Proto
//   skip_path_prefixes     {}
#pragma once

#include <khz/app/handler.h>

#include <string>
#include <vector>

namespace khz::middleware {

struct HttpsRedirectOptions {
  std::string host{};
  int port = 443;
  int status = 0;
  bool trust_forwarded_proto = false;
  std::vector<std::string> skip_path_prefixes{};
};

Handler https_redirect(HttpsRedirectOptions options = {});

}  // namespace khz::middleware

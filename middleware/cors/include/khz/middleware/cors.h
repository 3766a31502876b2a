// SPDX-License-Identifier: Apache-2.0
// khz::middleware::cors: Cross-Origin Resource Sharing (the Fetch standard's CORS protocol,
// and Private Network Access), as Hertz's cors.
//
//   server.use(khz::middleware::cors({
//       .allow_origins = {"https://app.example.com", "https://*.example.org"},
//       .allow_headers = {"Content-Type", "Authorization"},
//       .expose_headers = {"X-Request-ID"},
//       .allow_credentials = true,
//       .max_age = std::chrono::hours(2)}));
//
// Use it on the server (Engine::use), not only on a group: a preflight is an OPTIONS request
// that usually has no route of its own, and only the server's middleware runs for requests that
// match no route. Put it outside authentication (a preflight carries no credentials) and inside
// recovery and request_id.
//
// Origins. `allow_origins` holds:
//   "*"                          any origin (refused with allow_credentials: see below);
//   "https://app.example.com"    that origin exactly: scheme, host and port, as the browser
//                                sends them (compared ignoring ASCII case);
//   "https://*.example.com"      any subdomain of example.com, one label or more, over https
//                                ("https://a.example.com", "https://a.b.example.com"), not
//                                example.com itself; one '*', as the whole leftmost label(s).
// and `allow_origin` (a function) may admit others. An origin is compared whole: one that only
// begins like an allowed one ("https://app.example.com.evil.net", "https://app.example.com:8443")
// is refused. "null" is allowed only when listed.
//
// For each request with an Origin field that names another origin than the request's Host:
//   - origin refused: 403, the chain stops, one info line ("cors: origin ... refused");
//   - preflight (OPTIONS with Access-Control-Request-Method): the method must be in
//     allow_methods and each requested header in allow_headers (else 403 and a line); then
//     204 with Access-Control-Allow-Origin, -Allow-Methods, -Allow-Headers, -Allow-Credentials,
//     -Max-Age and, when asked (Access-Control-Request-Private-Network: true) and
//     allow_private_network is on, Access-Control-Allow-Private-Network: true; the chain stops
//     (unless options_passthrough);
//   - other requests: Access-Control-Allow-Origin (the origin, or "*" for any origin without
//     credentials), -Allow-Credentials, -Expose-Headers; then the chain runs.
//   - Vary: Origin is added whenever the answer depends on the origin (unless "*" is allowed),
//     to every response, with an Origin or without; on preflights Vary names the request's
//     Access-Control-Request-* fields too, so caches keep answers apart.
// A request without Origin, or with its own origin (same scheme-less host as Host), passes
// untouched. A plain middleware: no coroutine frame.
//
// Options (defaults):
//   allow_origins          {} (none: set it, or allow_origin)
//   allow_origin           none; bool(std::string_view origin), called for an origin the list
//                          does not admit; runs on the loop: must not block
//   allow_methods          {"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"}
//   allow_headers          {"Accept", "Accept-Language", "Content-Language", "Content-Type",
//                          "Authorization", "X-Requested-With"}; {"*"}: any requested header
//                          (echoed back)
//   expose_headers         {}
//   allow_credentials      false; true with "*" in allow_origins throws std::invalid_argument
//                          (every site could read answers sent with the user's cookies)
//   max_age                0s: no Access-Control-Max-Age (browsers then cache 5 s)
//   allow_private_network  false
//   options_passthrough    false; true: after a preflight's headers, the chain runs on
//   preflight_status       204
#pragma once

#include <khz/app/handler.h>
#include <khz/app/request_context.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace khz::middleware {

struct CorsOptions {
  std::vector<std::string> allow_origins{};
  std::function<bool(std::string_view origin)> allow_origin{};
  std::vector<std::string> allow_methods{"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"};
  std::vector<std::string> allow_headers{"Accept", "Accept-Language", "Content-Language",
                                         "Content-Type", "Authorization", "X-Requested-With"};
  std::vector<std::string> expose_headers{};
  bool allow_credentials = false;
  std::chrono::seconds max_age{0};
  bool allow_private_network = false;
  bool options_passthrough = false;
  int preflight_status = 204;
};

// Throws std::invalid_argument for a malformed origin pattern or a forbidden combination.
Handler cors(CorsOptions options);

}  // namespace khz::middleware

// SPDX-License-Identifier: Apache-2.0
// khz::middleware::csrf: cross-site request forgery protection (Hertz's csrf; OWASP's
// synchronizer token and double-submit cookie patterns, with an Origin check in front).
//
//   server.use(khz::middleware::csrf({.secret = load_secret(), .allowed_origins = {"https://app.example"}}));
//   server.get("/form", [](khz::RequestContext& ctx) {
//     ctx.html(200, "<form method=post><input type=hidden name=csrf_token value=\"" +
//                       khz::middleware::csrf_token(ctx) + "\">...</form>");
//   });
//   // JavaScript sends it back in a header instead:  fetch(url, {method: "POST",
//   //     headers: {"X-CSRF-Token": token}, credentials: "same-origin"})
//
// Every request gets (or keeps) a per-client cookie; csrf_token(ctx) gives the token a page
// embeds. Safe methods (GET, HEAD, OPTIONS, TRACE) pass untouched: they must not change state.
// Any other method must pass, in order:
//   1. the origin check: `Sec-Fetch-Site: same-origin` (or `none`, a user-typed request)
//      passes; otherwise the Origin header, else the origin of the Referer, when present, must
//      be the request's own (scheme of the connection, Host) or one of `allowed_origins`
//      (`Origin: null` never passes). With neither header, the request goes on to the token
//      check unless `require_origin` is set (non-browser clients often send neither).
//   2. the token check: the token from the `header_name` header, else from the `form_field`
//      field of a buffered urlencoded or multipart body, compared in constant time
//      (CRYPTO_memcmp) with what the cookie allows.
// Refused: 403 "403 forbidden" and one info line naming the request and the reason.
//
// Modes. khz has no server-side session store, so the synchronizer token is stateless:
//   signed_token (default): the cookie holds a random 32-byte id (HttpOnly, scripts never see
//     it); a token is a random 16-byte salt and HMAC-SHA256(secret, salt || id), so each call
//     of csrf_token() gives a fresh token (no fixed secret in pages: BREACH) and every one stays
//     valid as long as the cookie. A token from another client's cookie, or signed with another
//     secret, does not verify. Needs `secret` (at least 32 bytes; the same on every instance).
//   double_submit: the cookie holds the random token itself, readable by the page's scripts
//     (not HttpOnly); the request must repeat it. No secret; weaker against an attacker who
//     can set cookies for the site (a sibling subdomain): prefer signed_token, or a "__Host-"
//     cookie name over HTTPS.
//
// Put it after recovery, request_id, cors and secure_headers, and before the handlers.
//
// Options (defaults):
//   mode             CsrfMode::signed_token
//   secret           "" (required by signed_token)
//   header_name      "X-CSRF-Token"
//   form_field       "csrf_token"
//   cookie_name      "csrf"
//   cookie_path      "/"
//   cookie_secure    false (set it in production behind HTTPS; a "__Host-" name requires it)
//   cookie_max_age   12 h (a new cookie is issued only to a request that has none)
//   same_site        SameSite::lax
//   allowed_origins  {} other origins ("https://app.example") that may send unsafe requests
//   require_origin   false
//   context_key      "csrf"
#pragma once

#include <khz/app/handler.h>
#include <khz/protocol/cookie.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace khz {
class RequestContext;
}

namespace khz::middleware {

enum class CsrfMode { signed_token, double_submit };

struct CsrfOptions {
  CsrfMode mode = CsrfMode::signed_token;
  std::string secret{};
  std::string header_name = "X-CSRF-Token";
  std::string form_field = "csrf_token";
  std::string cookie_name = "csrf";
  std::string cookie_path = "/";
  bool cookie_secure = false;
  std::chrono::seconds cookie_max_age = std::chrono::hours(12);
  SameSite same_site = SameSite::lax;
  std::vector<std::string> allowed_origins{};
  bool require_origin = false;
  std::string context_key = "csrf";
};

// Throws std::invalid_argument for a bad setup: signed_token with a secret under 32 bytes, a
// cookie that Cookie::validate refuses (a "__Host-" name without cookie_secure, ...), an
// allowed origin that is not scheme://host[:port], an empty header, field or context key.
Handler csrf(CsrfOptions options);

// The token to embed in the page (a form field, a meta tag) for this request's client; "" when
// the csrf middleware has not run for this request.
std::string csrf_token(RequestContext& ctx, std::string_view context_key = "csrf");

}  // namespace khz::middleware

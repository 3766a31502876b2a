// SPDX-License-Identifier: Apache-2.0
// khz::middleware::secure_headers: the response fields that tell browsers to be strict with
// this site (as helmet and Hertz's secure do): HSTS, Content-Security-Policy, nosniff, frame
// options, Referrer-Policy, Permissions-Policy and the cross-origin isolation fields.
//
//   server.use(khz::middleware::secure_headers());                     // the defaults below
//   server.use(khz::middleware::secure_headers({
//       .content_security_policy = "default-src 'none'; frame-ancestors 'none'",   // a JSON API
//       .hsts_preload = true}));
//
// The fields are set before the inner layers run, so a handler may replace any of them for
// its own response (ctx.set_header), and they stay on error answers (recovery and the Engine
// keep headers that do not describe the body). An empty string option sends no field. The
// values are checked once, when the middleware is made (std::invalid_argument for a control
// character, or a value the field does not take); each request costs one field set per field.
// A plain middleware: no coroutine frame.
//
// Strict-Transport-Security (RFC 6797) goes only on requests that came over TLS
// (RequestContext::is_tls), or, with trust_forwarded_proto, that a proxy in front marks as
// such (X-Forwarded-Proto: https): RFC 6797 §7.2, a browser ignores it over plain http.
//
// Options (defaults):
//   hsts_max_age                  365 days; 0: no Strict-Transport-Security
//   hsts_include_subdomains       true
//   hsts_preload                  false (read hstspreload.org before turning it on)
//   trust_forwarded_proto         false; true only behind a proxy that sets X-Forwarded-Proto
//   content_security_policy       "default-src 'self'; base-uri 'self'; font-src 'self' https: data:;
//                                 form-action 'self'; frame-ancestors 'self'; img-src 'self' data:;
//                                 object-src 'none'; script-src 'self'; script-src-attr 'none';
//                                 style-src 'self' https: 'unsafe-inline'; upgrade-insecure-requests"
//   csp_report_only               false; true: sent as Content-Security-Policy-Report-Only
//   content_type_options          "nosniff" (X-Content-Type-Options)
//   frame_options                 "SAMEORIGIN" (X-Frame-Options: DENY or SAMEORIGIN)
//   referrer_policy               "no-referrer"
//   permissions_policy            "" (e.g. "camera=(), microphone=(), geolocation=()")
//   cross_origin_opener_policy    "same-origin"
//   cross_origin_embedder_policy  "" (require-corp or credentialless isolate the page, and
//                                 break embeds that do not opt in)
//   cross_origin_resource_policy  "same-origin"
//   xss_protection                "0" (X-XSS-Protection: turns old browsers' filter off)
#pragma once

#include <khz/app/handler.h>

#include <chrono>
#include <string>

namespace khz::middleware {

struct SecureHeadersOptions {
  std::chrono::seconds hsts_max_age{std::chrono::hours(24 * 365)};
  bool hsts_include_subdomains = true;
  bool hsts_preload = false;
  bool trust_forwarded_proto = false;
  std::string content_security_policy =
      "default-src 'self'; base-uri 'self'; font-src 'self' https: data:; form-action 'self'; "
      "frame-ancestors 'self'; img-src 'self' data:; object-src 'none'; script-src 'self'; "
      "script-src-attr 'none'; style-src 'self' https: 'unsafe-inline'; upgrade-insecure-requests";
  bool csp_report_only = false;
  std::string content_type_options = "nosniff";
  std::string frame_options = "SAMEORIGIN";
  std::string referrer_policy = "no-referrer";
  std::string permissions_policy{};
  std::string cross_origin_opener_policy = "same-origin";
  std::string cross_origin_embedder_policy{};
  std::string cross_origin_resource_policy = "same-origin";
  std::string xss_protection = "0";
};

Handler secure_headers(SecureHeadersOptions options = {});

}  // namespace khz::middleware

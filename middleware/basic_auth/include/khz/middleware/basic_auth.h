// SPDX-License-Identifier: Apache-2.0
// khz::middleware::basic_auth: HTTP Basic authentication (RFC 7617), as Hertz's basic_auth.
//
//   auto admin = server.group("/admin", khz::middleware::basic_auth({
//       .users = {{"ann", "correct horse"}, {"bob", "battery staple"}}}));
//   admin.get("/stats", [](khz::RequestContext& ctx) {
//     ctx.string(200, "hello " + *ctx.get_as<std::string>("user"));
//   });
//   // Or decide yourself (a password hash store, ...):
//   khz::middleware::basic_auth({.validate = [&db](std::string_view user, std::string_view password) {
//     return db.check(user, password);
//   }});
//
// Each request must carry `Authorization: Basic base64(user ":" password)`. Accepted: the user
// name (a std::string) is stored under `context_key` (ctx.get_as<std::string>) and the chain
// runs on. Refused: 401 with `WWW-Authenticate: Basic realm="<realm>", charset="UTF-8"` and the
// chain stops; one info line says why (missing credentials are not logged: every browser's
// first request lacks them):
//   - malformed: another scheme, bad base64, no ':', a control character, over 4 KiB, or the
//     field sent twice;
//   - unknown user or wrong password (the line names the request, never the password).
// Comparisons are constant-time: the presented "user:password" is hashed (SHA-256) and compared
// with every configured pair's hash by CRYPTO_memcmp, all of them, so the time taken does not
// tell which user exists or how much of a password matched. `validate`, when set, is asked
// only if no listed pair matched; its own timing is its own.
// Use HTTPS: Basic credentials travel in clear otherwise. Put it after cors (a preflight has no
// credentials) and recovery.
//
// Options (defaults):
//   users        {} of {user, password}; a user name must not contain ':' (std::invalid_argument)
//   validate     none; bool(user, password), runs on the loop: must not block
//   realm        "Restricted" (no '"' or '\')
//   context_key  "user"; "" stores nothing
#pragma once

#include <khz/app/handler.h>

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace khz::middleware {

struct BasicAuthOptions {
  std::vector<std::pair<std::string, std::string>> users{};
  std::function<bool(std::string_view user, std::string_view password)> validate{};
  std::string realm = "Restricted";
  std::string context_key = "user";
};

// Throws std::invalid_argument when no user and no validate are given, or for a bad realm.
Handler basic_auth(BasicAuthOptions options);

}  // namespace khz::middleware

// SPDX-License-Identifier: Apache-2.0
// khz::middleware::key_auth: API key authentication, the key taken from a header, the query
// string or a cookie (Hertz's keyauth).
//
//   auto api = server.group("/api", khz::middleware::key_auth({.keys = {"k-2f9c...", "k-77ab..."}}));
//   // "Authorization: Bearer <key>", else "?api_key=<key>":
//   khz::middleware::key_auth({
//       .lookups = {{.from = khz::middleware::KeyFrom::header, .name = "Authorization", .scheme = "Bearer"},
//                   {.from = khz::middleware::KeyFrom::query, .name = "api_key"}},
//       .validate = [&store](std::string_view key) { return store.has(key); }});
//
// The lookups are tried in order; the first that finds a key decides (a later one is not
// tried). Accepted: the chain runs on. Refused: 401 with `WWW-Authenticate: <challenge>` and the
// chain stops; one info line says why (a request with no key at all is not logged):
//   - malformed: a header sent twice, a header without the expected scheme ("Bearer "), an
//     empty key, a key over `max_length` or with a byte outside visible ASCII;
//   - an unknown key (the line names the request and the source, never the key).
// Comparisons are constant-time: the presented key is hashed (SHA-256) and compared with every
// configured key's hash by CRYPTO_memcmp, all of them. `validate`, when set, is asked only if no
// listed key matched; its own timing is its own. Keys in a query string end up in access logs
// and browser history: prefer a header. Put it after cors and recovery.
//
// Options (defaults):
//   lookups     {{.from = KeyFrom::header, .name = "X-API-Key"}}
//               KeyLookup: from (header, query or cookie), name, scheme (header only: "" or
//               e.g. "Bearer", matched without case and followed by one or more spaces)
//   keys        {}
//   validate    none; bool(key), runs on the loop: must not block
//   max_length  1024
//   challenge   "" : `<scheme> realm="Restricted"` for the first lookup with a scheme, else
//               `ApiKey realm="Restricted"`
#pragma once

#include <khz/app/credential.h>
#include <khz/app/handler.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace khz::middleware {

using KeyFrom = CredentialFrom;  // header, query, cookie (<khz/app/credential.h>)

struct KeyLookup {
  KeyFrom from = KeyFrom::header;
  std::string name = "X-API-Key";
  std::string scheme{};
};

struct KeyAuthOptions {
  std::vector<KeyLookup> lookups{KeyLookup{}};
  std::vector<std::string> keys{};
  std::function<bool(std::string_view key)> validate{};
  std::size_t max_length = 1024;
  std::string challenge{};
};

// Throws std::invalid_argument when no key and no validate are given, or for an empty lookup.
Handler key_auth(KeyAuthOptions options);

}  // namespace khz::middleware

// SPDX-License-Identifier: Apache-2.0
// The pure part of middleware/jwt: key sets (static keys, JWKS documents) and the verdict on
// one compact JWS token at a given time. No I/O, no RequestContext: jwt.cc drives it per
// request, test/fuzz/jwt_fuzz.cc feeds it arbitrary tokens and JWKS documents.
//
//   auto keys = std::make_shared<jwt_detail::KeySet>();
//   jwt_detail::add_static_key(*keys, {.kid = "k1", .algorithms = {JwtAlg::hs256}, .secret = s});
//   jwt_detail::Verdict v = jwt_detail::verify_token(token, *keys, rules, unix_seconds_now);
//   if (v.ok) use(v.claims);  else log(v.reason);
//
// A KeySet is immutable once built; it may be shared between threads (shared_ptr<const>).
#pragma once

#include <khz/app/json.h>
#include <khz/middleware/jwt.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace khz::middleware::jwt_detail {

// One verification key. `public_key` is an EVP_PKEY owned through a shared_ptr with
// EVP_PKEY_free (kept opaque here so no OpenSSL header leaks into users of this file).
struct Key {
  std::string kid;
  std::uint32_t algorithms = 0;  // bit (1 << JwtAlg) for each allowed algorithm
  bool has_kid = false;
  std::string secret;                // HMAC
  std::shared_ptr<void> public_key;  // EVP_PKEY*
};

struct KeySet {
  std::vector<Key> keys;
};

// What the claims must satisfy (JwtOptions' claim rules).
struct ClaimRules {
  std::vector<std::string> audiences;
  std::vector<std::string> issuers;
  std::vector<std::string> required_claims;
  bool require_exp = true;
  std::int64_t leeway_seconds = 0;
  std::size_t max_token_size = 8192;
};

struct Verdict {
  bool ok = false;
  bool unknown_kid = false;  // refused because no key has the token's kid (a JWKS refetch may help)
  std::string reason;        // why it was refused; never contains the token or claim values
  Json claims;               // the payload, when ok
};

// Checks `key` (the rules of jwt()'s std::invalid_argument) and adds it.
void add_static_key(KeySet& set, const JwtKey& key);

// Adds the usable keys of a JWKS document (RFC 7517 §5) allowed `algorithms` (bits). Returns ""
// or why the document as a whole is unusable (not JSON, no "keys" array); single keys that
// are malformed or of an unsupported kind are skipped and counted in *skipped.
std::string add_jwks(KeySet& set, std::string_view document, std::uint32_t algorithms, std::size_t* skipped);

std::uint32_t algorithm_bits(const std::vector<JwtAlg>& algorithms) noexcept;

// The verdict on `token` at `now` (seconds since the Unix epoch).
Verdict verify_token(std::string_view token, const KeySet& keys, const ClaimRules& rules, std::int64_t now);

}  // namespace khz::middleware::jwt_detail

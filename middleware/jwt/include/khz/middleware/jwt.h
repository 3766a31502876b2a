// SPDX-License-Identifier: Apache-2.0
// khz::middleware::jwt: verifies a JSON Web Token (RFC 7519, JWS compact form, RFC 7515) on
// each request and hands its claims to the handlers (Hertz's jwt).
//
//   khz::Client client;   // for the JWKS; declared after the Server (see <khz/app/client.h>)
//   auto api = server.group("/api", khz::middleware::jwt({
//       .keys = {{.kid = "hs-1", .algorithms = {khz::middleware::JwtAlg::hs256}, .secret = secret}},
//       .jwks = {.url = "https://login.example/.well-known/jwks.json", .client = &client},
//       .audiences = {"orders-api"}, .issuers = {"https://login.example/"}}));
//   api.get("/me", [](khz::RequestContext& ctx) {
//     const khz::Json* claims = khz::middleware::jwt_claims(ctx);   // the verified payload
//     ctx.string(200, *claims->find("sub")->string());
//   });
//
// The token comes from `Authorization: Bearer <token>` unless `lookups` says otherwise (a
// header, a query parameter or a cookie, tried in order; the first that finds a token decides).
// Accepted: the payload is stored in the context (jwt_claims) and the chain runs on. Refused:
// 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3; only `Bearer` when
// no token was sent) and one info line naming the request and the reason (never the token):
//   - oversized (over max_token_size), not three segments, bad base64url, a header or payload
//     that is not a strict JSON object (duplicate members included), a "crit" header;
//   - alg "none" (always), an algorithm the chosen key does not allow (each key has an explicit
//     allow-list: the header's alg alone is never trusted; an HMAC secret is never a public key
//     and a public key never an HMAC secret, which defeats the RS256→HS256 switch);
//   - a kid no key has (after one rate-limited JWKS refetch), a kid two keys share, no kid when
//     more than one key could apply;
//   - a signature that does not verify (HMAC compared in constant time, CRYPTO_memcmp);
//   - exp passed, nbf or iat in the future (each with `leeway`), exp missing when require_exp,
//     aud or iss not among those configured, a required claim missing.
// Algorithms: HS256/384/512, RS256/384/512, PS256 (RSASSA-PSS, salt = digest length), ES256
// (P-256, the JOSE r||s signature), EdDSA (Ed25519); all through OpenSSL 3's EVP.
//
// Keys: static ones (an HMAC `secret`, or a `public_key_pem`: RSA, EC P-256 or Ed25519
// SubjectPublicKeyInfo), and a JWKS (RFC 7517) fetched with a khz::Client the caller owns.
// The JWKS is fetched by the first request, again when `jwks.refresh` has passed, and when a
// token names a kid it lacks (at most once per `jwks.min_refetch`); a request that finds the
// set stale fetches it while others use the old set; requests that come while the first fetch
// runs wait for it (up to 10 s). JWKs of kty RSA, EC (P-256) and OKP (Ed25519) are used;
// "use": "enc" keys, "oct" keys and others are skipped; a JWK's "alg", when present, narrows
// `jwks.algorithms` to itself. A fetch that fails keeps the old set (and is logged at warning
// level). The key set is immutable and swapped atomically: loops share it without locks.
//
// Put it after recovery, request_id and cors (a preflight carries no token), before the
// handlers it protects.
//
// Options (defaults):
//   lookups          {{.from = TokenFrom::header, .name = "Authorization", .scheme = "Bearer"}}
//   keys             {}  JwtKey: kid ("" : a key for tokens without kid), algorithms (required,
//                    the allow-list), secret (HMAC) or public_key_pem (exactly one of them)
//   jwks             url "" (none), client nullptr (required with a url), refresh 300 s,
//                    min_refetch 30 s, algorithms {rs256, ps256, es256, eddsa}, max_size 1 MiB
//   audiences        {} : aud not checked; else aud (string or array) must name one of them
//   issuers          {} : iss not checked; else iss must be one of them
//   required_claims  {}  names that must be present in the payload
//   require_exp      true
//   leeway           0 s   allowed clock skew for exp, nbf and iat
//   max_token_size   8192 bytes
//   context_key      "jwt" the per-request value holding the claims (a khz::Json)
//   realm            ""    when set, `realm="<realm>"` is added to the challenge
#pragma once

#include <khz/app/credential.h>
#include <khz/app/handler.h>
#include <khz/app/json.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace khz {
class Client;
class RequestContext;
}  // namespace khz

namespace khz::middleware {

enum class JwtAlg { hs256, hs384, hs512, rs256, rs384, rs512, ps256, es256, eddsa };

// "HS256", "EdDSA", ... (the JOSE names).
std::string_view to_string(JwtAlg alg) noexcept;

using TokenFrom = CredentialFrom;  // header, query, cookie (<khz/app/credential.h>)

struct TokenLookup {
  TokenFrom from = TokenFrom::header;
  std::string name = "Authorization";
  std::string scheme = "Bearer";  // header only; "" : the whole value is the token
};

struct JwtKey {
  std::string kid{};
  std::vector<JwtAlg> algorithms{};
  std::string secret{};          // HMAC (HS*) only
  std::string public_key_pem{};  // RS*/PS256 (RSA), ES256 (EC P-256), EdDSA (Ed25519)
};

struct JwksSource {
  std::string url{};
  Client* client = nullptr;
  std::chrono::seconds refresh{300};
  std::chrono::seconds min_refetch{30};
  std::vector<JwtAlg> algorithms{JwtAlg::rs256, JwtAlg::ps256, JwtAlg::es256, JwtAlg::eddsa};
  std::size_t max_size = 1 << 20;
};

struct JwtOptions {
  std::vector<TokenLookup> lookups{TokenLookup{}};
  std::vector<JwtKey> keys{};
  JwksSource jwks{};
  std::vector<std::string> audiences{};
  std::vector<std::string> issuers{};
  std::vector<std::string> required_claims{};
  bool require_exp = true;
  std::chrono::seconds leeway{0};
  std::size_t max_token_size = 8192;
  std::string context_key = "jwt";
  std::string realm{};
};

// Throws std::invalid_argument for a bad setup: no keys and no JWKS, a key with no algorithms,
// with both or neither of secret and public_key_pem, an HMAC algorithm on a public key or an
// asymmetric one on a secret, a PEM that is not a public key of the algorithms' type (or an RSA
// key under 2048 bits), an HMAC secret shorter than its hash (RFC 7518 §3.2: 32 bytes for
// HS256), a JWKS url without a client, two static keys with one kid.
Handler jwt(JwtOptions options);

// The verified payload of the request's token (a JSON object); nullptr when the jwt middleware
// has not accepted one for this request. Valid until the handler's Task completes.
const Json* jwt_claims(RequestContext& ctx, std::string_view context_key = "jwt");

}  // namespace khz::middleware

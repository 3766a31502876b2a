// SPDX-License-Identifier: Apache-2.0
// middleware/jwt's verifier (jwt_verify.h): the first byte picks what the rest is.
//   'J' + a JWKS document: parsed into a key set, then known tokens are verified against it;
//   anything else: the rest is a token, verified at a fixed time against fixed keys (an HMAC
//   secret, a P-256 key, an Ed25519 key, with claim rules).
// Never a crash, a leak or an accepted token whose claims are not an object; at start-up two
// known-good tokens must verify and a forged one must not (so a broken verifier fails here).
#include "jwt_verify.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace khz::middleware;
using namespace khz::middleware::jwt_detail;

namespace {

constexpr std::int64_t kNow = 1700000000;

// Ed25519 and P-256 public keys (x, y) whose private halves signed the seed corpus.
constexpr const char* kJwks =
    R"({"keys":[{"kty":"OKP","crv":"Ed25519","kid":"d","x":"Za5-yNCl2m_h53dUIE7P03Puyg0wX-CqPFhSLFQeIQs"},)"
    R"({"kty":"EC","crv":"P-256","kid":"e","x":"o9WgGwq1KpuLVrF2i8qBvPZ3mr8ReoHolXn73QYc5hE",)"
    R"("y":"TL6G47xv6N7EqcNnKGiAax7sSA3rCUIaEP8tHc8BiOo"}]})";

constexpr const char* kHs256 =
    "eyJhbGciOiJIUzI1NiIsImtpZCI6ImgifQ.eyJzdWIiOiJhbm4iLCJleHAiOjE3MDAwMDM2MDAsIm5iZiI6MTY5OTk5OTk5MCwiaWF0IjoxNjk5"
    "OTk5OTkwLCJhdWQiOlsib3JkZXJzIl0sImlzcyI6Imh0dHBzOi8vbG9naW4uZXhhbXBsZS8ifQ.YWc72YsgILKsomEiyc0TUwbvtqKk8H56mNcHizz"
    "ANF0";
constexpr const char* kEs256 =
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImUifQ.eyJzdWIiOiJhbm4iLCJleHAiOjE3MDAwMDM2MDAsIm5iZiI6MTY5OTk5OTk5MCwiaWF0IjoxNjk5"
    "OTk5OTkwLCJhdWQiOlsib3JkZXJzIl0sImlzcyI6Imh0dHBzOi8vbG9naW4uZXhhbXBsZS8ifQ.lcQ_ByWbZ32PHSlBsYkq5k8MvG6zzJiuW53wZvb"
    "QMgQztK5c0ZtazaAcmYf-3jRIs_ptEFSQys_5ORLFrZ241w";

ClaimRules rules() {
  ClaimRules r;
  r.audiences = {"orders"};
  r.issuers = {"https://login.example/"};
  r.required_claims = {"sub"};
  r.leeway_seconds = 5;
  r.max_token_size = 4096;
  return r;
}

const KeySet& fixed_keys() {
  static const KeySet keys = [] {
    KeySet k;
    add_static_key(k, {.kid = "h", .algorithms = {JwtAlg::hs256}, .secret = std::string(32, 'k')});
    std::size_t skipped = 0;
    if (!add_jwks(k, kJwks, algorithm_bits({JwtAlg::es256, JwtAlg::eddsa}), &skipped).empty() || skipped != 0) std::abort();
    return k;
  }();
  return keys;
}

void check(const Verdict& v) {
  if (v.ok && v.claims.object() == nullptr) std::abort();
  if (!v.ok && v.reason.empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const ClaimRules r = rules();
  KeySet hmac;
  add_static_key(hmac, {.kid = "h", .algorithms = {JwtAlg::hs256}, .secret = std::string(32, 'k')});
  if (!verify_token(kHs256, hmac, r, kNow).ok || !verify_token(kEs256, fixed_keys(), r, kNow).ok) std::abort();
  std::string forged = kEs256;
  forged[forged.size() - 5] = forged[forged.size() - 5] == 'A' ? 'B' : 'A';
  if (verify_token(forged, fixed_keys(), r, kNow).ok) std::abort();
  if (verify_token(kEs256, fixed_keys(), r, kNow + 7200).ok) std::abort();  // expired by then
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const ClaimRules r = rules();
  if (data[0] == 'J') {
    KeySet keys;
    std::size_t skipped = 0;
    (void)add_jwks(keys, rest, algorithm_bits({JwtAlg::rs256, JwtAlg::ps256, JwtAlg::es256, JwtAlg::eddsa}), &skipped);
    check(verify_token(kEs256, keys, r, kNow));
    check(verify_token(kHs256, keys, r, kNow));  // never accepted: no HMAC key comes from a JWKS
    if (verify_token(kHs256, keys, r, kNow).ok) std::abort();
    return 0;
  }
  check(verify_token(rest, fixed_keys(), r, kNow));
  return 0;
}

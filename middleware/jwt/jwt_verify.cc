// SPDX-License-Identifier: Apache-2.0
#include "jwt_verify.h"

#include <khz/protocol/base64.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <utility>

namespace khz::middleware {

std::string_view to_string(JwtAlg alg) noexcept {
  switch (alg) {
    case JwtAlg::hs256: return "HS256";
    case JwtAlg::hs384: return "HS384";
    case JwtAlg::hs512: return "HS512";
    case JwtAlg::rs256: return "RS256";
    case JwtAlg::rs384: return "RS384";
    case JwtAlg::rs512: return "RS512";
    case JwtAlg::ps256: return "PS256";
    case JwtAlg::es256: return "ES256";
    case JwtAlg::eddsa: return "EdDSA";
  }
  return "?";
}

namespace jwt_detail {
namespace {

constexpr JwtAlg kAllAlgs[] = {JwtAlg::hs256, JwtAlg::hs384, JwtAlg::hs512, JwtAlg::rs256, JwtAlg::rs384,
                               JwtAlg::rs512, JwtAlg::ps256, JwtAlg::es256, JwtAlg::eddsa};

constexpr std::uint32_t bit(JwtAlg a) noexcept { return 1u << static_cast<unsigned>(a); }
constexpr std::uint32_t kHmacBits = bit(JwtAlg::hs256) | bit(JwtAlg::hs384) | bit(JwtAlg::hs512);
constexpr std::uint32_t kRsaBits = bit(JwtAlg::rs256) | bit(JwtAlg::rs384) | bit(JwtAlg::rs512) | bit(JwtAlg::ps256);

template <class T, void (*F)(T*)>
struct Free {
  void operator()(T* p) const noexcept { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY, EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Free<BIO, BIO_free_all>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Free<EVP_MD_CTX, EVP_MD_CTX_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Free<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Free<BIGNUM, BN_free>>;
using SigPtr = std::unique_ptr<ECDSA_SIG, Free<ECDSA_SIG, ECDSA_SIG_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Free<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Free<OSSL_PARAM, OSSL_PARAM_free>>;

std::shared_ptr<void> share(PkeyPtr key) {
  return std::shared_ptr<void>(key.release(), [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
}
EVP_PKEY* pkey_of(const Key& k) noexcept { return static_cast<EVP_PKEY*>(k.public_key.get()); }

// The algorithms a key of this kind can serve (0: a kind khz does not verify with).
std::uint32_t algorithms_for(EVP_PKEY* key) noexcept {
  if (EVP_PKEY_is_a(key, "RSA")) return kRsaBits;
  if (EVP_PKEY_is_a(key, "ED25519")) return bit(JwtAlg::eddsa);
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) == 1 &&
        (std::string_view(group) == "prime256v1" || std::string_view(group) == "P-256")) {
      return bit(JwtAlg::es256);
    }
  }
  return 0;
}

std::optional<JwtAlg> alg_from_name(std::string_view name) noexcept {
  for (JwtAlg a : kAllAlgs) {
    if (to_string(a) == name) return a;
  }
  return std::nullopt;
}

const EVP_MD* digest_of(JwtAlg a) noexcept {
  switch (a) {
    case JwtAlg::hs256:
    case JwtAlg::rs256:
    case JwtAlg::ps256:
    case JwtAlg::es256: return EVP_sha256();
    case JwtAlg::hs384:
    case JwtAlg::rs384: return EVP_sha384();
    case JwtAlg::hs512:
    case JwtAlg::rs512: return EVP_sha512();
    case JwtAlg::eddsa: return nullptr;
  }
  return nullptr;
}

// Strict base64url without padding (RFC 7515 §2): the alphabet only, no '=', no length that
// cannot occur, no stray bits in the last character.
bool decode_base64url(std::string_view in, std::string& out) {
  auto bytes = protocol::base64url_decode(in, /*canonical=*/true);
  if (!bytes) return false;
  out = std::move(*bytes);
  return true;
}

bool verify_hmac(const Key& k, JwtAlg a, std::string_view input, std::string_view sig) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(digest_of(a), k.secret.data(), static_cast<int>(k.secret.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len) == nullptr) {
    return false;
  }
  return sig.size() == len && CRYPTO_memcmp(mac, sig.data(), len) == 0;
}

// JOSE's ES256 signature is r||s, 32 bytes each (RFC 7518 §3.4); OpenSSL wants DER.
bool es256_to_der(std::string_view sig, std::string& der) {
  if (sig.size() != 64) return false;
  BnPtr r(BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()), 32, nullptr));
  BnPtr s(BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()) + 32, 32, nullptr));
  SigPtr es(ECDSA_SIG_new());
  if (!r || !s || !es || ECDSA_SIG_set0(es.get(), r.get(), s.get()) != 1) return false;
  (void)r.release();
  (void)s.release();
  const int n = i2d_ECDSA_SIG(es.get(), nullptr);
  if (n <= 0) return false;
  der.resize(static_cast<std::size_t>(n));
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  return i2d_ECDSA_SIG(es.get(), &p) == n;
}

bool verify_public(const Key& k, JwtAlg a, std::string_view input, std::string_view sig) {
  std::string der;
  if (a == JwtAlg::es256) {
    if (!es256_to_der(sig, der)) return false;
    sig = der;
  }
  MdCtxPtr md(EVP_MD_CTX_new());
  if (!md) return false;
  EVP_PKEY_CTX* pctx = nullptr;  // owned by md
  if (EVP_DigestVerifyInit(md.get(), &pctx, digest_of(a), nullptr, pkey_of(k)) != 1) return false;
  if (a == JwtAlg::ps256) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1) {
      return false;
    }
  } else if ((bit(a) & kRsaBits) != 0) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) return false;
  }
  return EVP_DigestVerify(md.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

Verdict refused(std::string reason, bool unknown_kid = false) {
  Verdict v;
  v.reason = std::move(reason);
  v.unknown_kid = unknown_kid;
  return v;
}

// A NumericDate claim (RFC 7519 §2): a JSON number of seconds; fractions allowed.
bool numeric_date(const Json& claims, std::string_view name, bool& present, double& value) {
  const Json* v = claims.find(name);
  present = v != nullptr;
  if (!present) return true;
  const auto n = v->number();
  if (!n) return false;
  value = *n;
  return true;
}

Verdict check_claims(Json claims, const ClaimRules& rules, std::int64_t now) {
  const double leeway = static_cast<double>(rules.leeway_seconds);
  const double t = static_cast<double>(now);
  bool present = false;
  double value = 0;
  if (!numeric_date(claims, "exp", present, value)) return refused("malformed token (exp is not a number)");
  if (!present && rules.require_exp) return refused("no exp claim");
  if (present && t >= value + leeway) return refused("expired");
  if (!numeric_date(claims, "nbf", present, value)) return refused("malformed token (nbf is not a number)");
  if (present && t + leeway < value) return refused("not yet valid (nbf)");
  if (!numeric_date(claims, "iat", present, value)) return refused("malformed token (iat is not a number)");
  if (present && t + leeway < value) return refused("issued in the future (iat)");
  if (!rules.issuers.empty()) {
    const Json* iss = claims.find("iss");
    const std::string* s = iss != nullptr ? iss->string() : nullptr;
    if (s == nullptr || std::find(rules.issuers.begin(), rules.issuers.end(), *s) == rules.issuers.end()) {
      return refused("wrong issuer");
    }
  }
  if (!rules.audiences.empty()) {
    const Json* aud = claims.find("aud");
    bool match = false;
    auto wanted = [&](const Json& j) {
      const std::string* s = j.string();
      return s != nullptr && std::find(rules.audiences.begin(), rules.audiences.end(), *s) != rules.audiences.end();
    };
    if (aud != nullptr && aud->string() != nullptr) {
      match = wanted(*aud);
    } else if (aud != nullptr && aud->array() != nullptr) {
      match = std::any_of(aud->array()->begin(), aud->array()->end(), wanted);
    }
    if (!match) return refused("wrong audience");
  }
  for (const auto& name : rules.required_claims) {
    if (claims.find(name) == nullptr) return refused("required claim " + name + " missing");
  }
  Verdict v;
  v.ok = true;
  v.claims = std::move(claims);
  return v;
}

PkeyPtr rsa_from_jwk(const Json& jwk) {
  const Json* n = jwk.find("n");
  const Json* e = jwk.find("e");
  std::string nb, eb;
  if (n == nullptr || e == nullptr || n->string() == nullptr || e->string() == nullptr ||
      !decode_base64url(*n->string(), nb) || !decode_base64url(*e->string(), eb) || nb.size() < 256 || eb.empty() ||
      eb.size() > 8) {
    return nullptr;  // RSA keys under 2048 bits are refused (RFC 7518 §3.3)
  }
  BnPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(nb.data()), static_cast<int>(nb.size()), nullptr));
  BnPtr be(BN_bin2bn(reinterpret_cast<const unsigned char*>(eb.data()), static_cast<int>(eb.size()), nullptr));
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bn || !be || !bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, be.get()) != 1) {
    return nullptr;
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return nullptr;
  }
  return PkeyPtr(key);
}

PkeyPtr ec_from_jwk(const Json& jwk) {
  const Json* crv = jwk.find("crv");
  const Json* x = jwk.find("x");
  const Json* y = jwk.find("y");
  std::string xb, yb;
  if (crv == nullptr || crv->string() == nullptr || *crv->string() != "P-256" || x == nullptr || y == nullptr ||
      x->string() == nullptr || y->string() == nullptr || !decode_base64url(*x->string(), xb) ||
      !decode_base64url(*y->string(), yb) || xb.size() != 32 || yb.size() != 32) {
    return nullptr;
  }
  std::string point = "\x04" + xb + yb;  // uncompressed point (SEC 1 §2.3.3)
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    return nullptr;
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return nullptr;
  }
  PkeyPtr owned(key);
  // fromdata does not check that the point is on the curve; a public check does.
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, owned.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
  return owned;
}

PkeyPtr okp_from_jwk(const Json& jwk) {
  const Json* crv = jwk.find("crv");
  const Json* x = jwk.find("x");
  std::string xb;
  if (crv == nullptr || crv->string() == nullptr || *crv->string() != "Ed25519" || x == nullptr ||
      x->string() == nullptr || !decode_base64url(*x->string(), xb) || xb.size() != 32) {
    return nullptr;
  }
  return PkeyPtr(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                             reinterpret_cast<const unsigned char*>(xb.data()), xb.size()));
}

}  // namespace

std::uint32_t algorithm_bits(const std::vector<JwtAlg>& algorithms) noexcept {
  std::uint32_t bits = 0;
  for (JwtAlg a : algorithms) bits |= bit(a);
  return bits;
}

void add_static_key(KeySet& set, const JwtKey& key) {
  const std::string name = key.kid.empty() ? std::string("the key without kid") : "key '" + key.kid + "'";
  if (key.algorithms.empty()) throw std::invalid_argument("JwtOptions::keys: " + name + " allows no algorithm");
  if (key.secret.empty() == key.public_key_pem.empty()) {
    throw std::invalid_argument("JwtOptions::keys: " + name + " needs exactly one of secret and public_key_pem");
  }
  for (const Key& k : set.keys) {
    if (k.kid == key.kid) throw std::invalid_argument("JwtOptions::keys: two keys with kid '" + key.kid + "'");
  }
  Key k;
  k.kid = key.kid;
  k.has_kid = !key.kid.empty();
  k.algorithms = algorithm_bits(key.algorithms);
  if (!key.secret.empty()) {
    if ((k.algorithms & ~kHmacBits) != 0) {
      throw std::invalid_argument("JwtOptions::keys: " + name + " is an HMAC secret: HS256/384/512 only");
    }
    for (JwtAlg a : key.algorithms) {
      if (key.secret.size() < static_cast<std::size_t>(EVP_MD_get_size(digest_of(a)))) {
        throw std::invalid_argument("JwtOptions::keys: " + name + ": secret shorter than " +
                                    std::to_string(EVP_MD_get_size(digest_of(a))) + " bytes for " +
                                    std::string(to_string(a)));
      }
    }
    k.secret = key.secret;
  } else {
    BioPtr bio(BIO_new_mem_buf(key.public_key_pem.data(), static_cast<int>(key.public_key_pem.size())));
    PkeyPtr pkey(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!pkey) throw std::invalid_argument("JwtOptions::keys: " + name + ": public_key_pem is not a PEM public key");
    const std::uint32_t usable = algorithms_for(pkey.get());
    if (usable == 0) throw std::invalid_argument("JwtOptions::keys: " + name + ": not an RSA, P-256 or Ed25519 key");
    if (usable == kRsaBits && EVP_PKEY_get_bits(pkey.get()) < 2048) {
      throw std::invalid_argument("JwtOptions::keys: " + name + ": an RSA key under 2048 bits (RFC 7518 §3.3)");
    }
    if ((k.algorithms & ~usable) != 0) {
      throw std::invalid_argument("JwtOptions::keys: " + name + ": an algorithm this key's type cannot verify");
    }
    k.public_key = share(std::move(pkey));
  }
  set.keys.push_back(std::move(k));
}

std::string add_jwks(KeySet& set, std::string_view document, std::uint32_t algorithms, std::size_t* skipped) {
  std::size_t dropped = 0;
  JsonError error;
  std::optional<Json> doc = Json::parse(document, &error, {.max_depth = 8});
  if (!doc) return "not JSON (" + error.message + ")";
  const Json* keys = doc->find("keys");
  if (keys == nullptr || keys->array() == nullptr) return "no \"keys\" array";
  for (const Json& jwk : *keys->array()) {
    const Json* kty = jwk.find("kty");
    const Json* use = jwk.find("use");
    const Json* kid = jwk.find("kid");
    const Json* alg = jwk.find("alg");
    if (kty == nullptr || kty->string() == nullptr || (use != nullptr && (use->string() == nullptr || *use->string() != "sig")) ||
        (kid != nullptr && kid->string() == nullptr) || (alg != nullptr && alg->string() == nullptr)) {
      ++dropped;
      continue;
    }
    PkeyPtr pkey;
    if (*kty->string() == "RSA") {
      pkey = rsa_from_jwk(jwk);
    } else if (*kty->string() == "EC") {
      pkey = ec_from_jwk(jwk);
    } else if (*kty->string() == "OKP") {
      pkey = okp_from_jwk(jwk);
    }
    if (!pkey) {
      ++dropped;
      continue;
    }
    Key k;
    k.algorithms = algorithms & algorithms_for(pkey.get());
    if (alg != nullptr) {
      const auto a = alg_from_name(*alg->string());
      k.algorithms &= a ? bit(*a) : 0;
    }
    if (k.algorithms == 0) {
      ++dropped;
      continue;
    }
    k.has_kid = kid != nullptr;
    if (kid != nullptr) k.kid = *kid->string();
    k.public_key = share(std::move(pkey));
    set.keys.push_back(std::move(k));
  }
  if (skipped != nullptr) *skipped = dropped;
  return {};
}

Verdict verify_token(std::string_view token, const KeySet& keys, const ClaimRules& rules, std::int64_t now) {
  if (token.size() > rules.max_token_size) {
    return refused("oversized token (over " + std::to_string(rules.max_token_size) + " bytes)");
  }
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return refused("malformed token (" + std::to_string(std::count(token.begin(), token.end(), '.') + 1) +
                   " segments, not 3)");
  }
  std::string header_text, payload_text, signature;
  if (!decode_base64url(token.substr(0, dot1), header_text) ||
      !decode_base64url(token.substr(dot1 + 1, dot2 - dot1 - 1), payload_text) ||
      !decode_base64url(token.substr(dot2 + 1), signature)) {
    return refused("malformed token (bad base64url)");
  }
  const JsonOptions strict{.max_depth = 16};
  std::optional<Json> header = Json::parse(header_text, nullptr, strict);
  if (!header || header->object() == nullptr) return refused("malformed token (header is not a JSON object)");
  const Json* alg_field = header->find("alg");
  if (alg_field == nullptr || alg_field->string() == nullptr) return refused("malformed token (no alg)");
  if (header->find("crit") != nullptr) return refused("unsupported token (crit header)");
  const std::string& alg_name = *alg_field->string();
  if (alg_name == "none" || alg_name == "None" || alg_name == "NONE") return refused("alg none refused");
  const auto alg = alg_from_name(alg_name);
  if (!alg) return refused("unsupported algorithm");
  const Json* kid_field = header->find("kid");
  if (kid_field != nullptr && kid_field->string() == nullptr) return refused("malformed token (kid is not a string)");

  const Key* key = nullptr;
  if (kid_field != nullptr) {
    const std::string& kid = *kid_field->string();
    std::size_t n = 0;
    for (const Key& k : keys.keys) {
      if (k.has_kid && k.kid == kid) {
        key = &k;
        ++n;
      }
    }
    if (n == 0) return refused("unknown kid", true);
    if (n > 1) return refused("kid shared by " + std::to_string(n) + " keys");
  } else {
    std::size_t without = 0;
    for (const Key& k : keys.keys) {
      if (!k.has_kid) {
        key = &k;
        ++without;
      }
    }
    if (without == 0 && keys.keys.size() == 1) {
      key = &keys.keys.front();
    } else if (without != 1) {
      return refused(keys.keys.empty() ? std::string("no keys") : "no kid, and " + std::to_string(keys.keys.size()) + " keys");
    }
  }
  if ((key->algorithms & bit(*alg)) == 0) return refused("algorithm " + alg_name + " not allowed for this key");
  const std::string_view input = token.substr(0, dot2);
  const bool good = (bit(*alg) & kHmacBits) != 0 ? (!key->secret.empty() && verify_hmac(*key, *alg, input, signature))
                                                 : (key->public_key && verify_public(*key, *alg, input, signature));
  if (!good) return refused("bad signature");
  std::optional<Json> claims = Json::parse(payload_text, nullptr, strict);
  if (!claims || claims->object() == nullptr) return refused("malformed token (payload is not a JSON object)");
  return check_claims(std::move(*claims), rules, now);
}

}  // namespace jwt_detail
}  // namespace khz::middleware

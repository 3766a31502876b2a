// SPDX-License-Identifier: Apache-2.0
// Test support for middleware/jwt: keys made with OpenSSL and tokens signed with them, so the
// tests check the middleware against an independent signer (OpenSSL's own EVP calls, not the
// verifier's code), plus the public halves as PEM and as JWK.
//
//   auto rsa = khz::test::SigningKey::generate(khz::test::SigningKey::Kind::rsa);
//   std::string token = rsa.sign("RS256", R"({"alg":"RS256","kid":"r1"})", R"({"sub":"ann"})");
//   std::string jwk = rsa.jwk("r1");          // {"kty":"RSA","kid":"r1","n":...,"e":...}
#pragma once

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace khz::test {

inline std::string base64url(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

// header.payload.signature with an HMAC secret ("HS256", "HS384", "HS512").
inline std::string sign_hmac(std::string_view alg, std::string_view secret, std::string_view header,
                             std::string_view payload) {
  const std::string input = base64url(header) + "." + base64url(payload);
  const EVP_MD* md = alg == "HS384" ? EVP_sha384() : alg == "HS512" ? EVP_sha512() : EVP_sha256();
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(md, secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), mac, &len);
  return input + "." + base64url(std::string_view(reinterpret_cast<const char*>(mac), len));
}

class SigningKey {
 public:
  enum class Kind { rsa, ec, ed25519 };

  static SigningKey generate(Kind kind) {
    SigningKey k;
    k.kind_ = kind;
    EVP_PKEY* p = kind == Kind::rsa  ? EVP_RSA_gen(2048)
                  : kind == Kind::ec ? EVP_EC_gen("P-256")
                                     : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    if (p == nullptr) throw std::runtime_error("key generation failed");
    k.key_.reset(p, EVP_PKEY_free);
    return k;
  }

  std::string public_pem() const {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_PUBKEY(bio.get(), key_.get());
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
  }

  // The public key as a JWK (RFC 7517), with `kid` ("" : none) and `extra` members appended.
  std::string jwk(std::string_view kid, std::string_view extra = {}) const {
    std::string out;
    if (kind_ == Kind::rsa) {
      out = R"({"kty":"RSA","n":")" + base64url(bn_param(OSSL_PKEY_PARAM_RSA_N)) + R"(","e":")" +
            base64url(bn_param(OSSL_PKEY_PARAM_RSA_E)) + "\"";
    } else if (kind_ == Kind::ec) {
      unsigned char point[65];
      std::size_t len = 0;
      EVP_PKEY_get_octet_string_param(key_.get(), OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &len);
      const std::string_view p(reinterpret_cast<const char*>(point), len);
      out = R"({"kty":"EC","crv":"P-256","x":")" + base64url(p.substr(1, 32)) + R"(","y":")" +
            base64url(p.substr(33, 32)) + "\"";
    } else {
      unsigned char raw[32];
      std::size_t len = sizeof raw;
      EVP_PKEY_get_raw_public_key(key_.get(), raw, &len);
      out = R"({"kty":"OKP","crv":"Ed25519","x":")" + base64url(std::string_view(reinterpret_cast<const char*>(raw), len)) +
            "\"";
    }
    if (!kid.empty()) out += R"(,"kid":")" + std::string(kid) + "\"";
    if (!extra.empty()) out += "," + std::string(extra);
    return out + "}";
  }

  // A compact JWS of `header` and `payload` (JSON texts, encoded here) signed with `alg`:
  // RS256/384/512, PS256, ES256 (DER from OpenSSL turned into JOSE r||s), EdDSA.
  std::string sign(std::string_view alg, std::string_view header, std::string_view payload) const {
    const std::string input = base64url(header) + "." + base64url(payload);
    const EVP_MD* md = alg == "RS384" ? EVP_sha384() : alg == "RS512" ? EVP_sha512() : alg == "EdDSA" ? nullptr : EVP_sha256();
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    EVP_PKEY_CTX* pctx = nullptr;
    if (EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, key_.get()) != 1) throw std::runtime_error("sign init");
    if (alg == "PS256") {
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    }
    std::size_t len = 0;
    EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
      throw std::runtime_error("sign");
    }
    sig.resize(len);
    if (alg == "ES256") {
      const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
      std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> es(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())),
                                                               ECDSA_SIG_free);
      unsigned char rs[64];
      BN_bn2binpad(ECDSA_SIG_get0_r(es.get()), rs, 32);
      BN_bn2binpad(ECDSA_SIG_get0_s(es.get()), rs + 32, 32);
      sig.assign(reinterpret_cast<const char*>(rs), 64);
    }
    return input + "." + base64url(sig);
  }

 private:
  std::string bn_param(const char* name) const {
    BIGNUM* bn = nullptr;
    EVP_PKEY_get_bn_param(key_.get(), name, &bn);
    std::string out(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
    BN_free(bn);
    return out;
  }

  Kind kind_ = Kind::rsa;
  std::shared_ptr<EVP_PKEY> key_;
};

}  // namespace khz::test

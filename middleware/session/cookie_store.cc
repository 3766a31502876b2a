// SPDX-License-Identifier: Apache-2.0
// cookie_store: the session sealed into the cookie's value (OpenSSL 3: EVP_MAC HMAC-SHA256,
// EVP AES-256-GCM, RAND_bytes; strict canonical base64url by <khz/protocol/base64.h>).
//   signed:    base64url('s' | payload | HMAC-SHA256(mac key, 's' | payload))
//   encrypted: base64url('e' | nonce (12) | AES-256-GCM(enc key, payload; AAD 'e') | tag (16))
#include <khz/common/log.h>
#include <khz/middleware/session.h>
#include <khz/protocol/base64.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "cookie_open.h"
#include "record_codec.h"

#include <array>
#include <cstring>
#include <optional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace khz::middleware {
namespace {

constexpr std::size_t kMaxCookie = 4096;  // name and value together
constexpr std::size_t kMacLen = 32;
constexpr std::size_t kNonceLen = 12;
constexpr std::size_t kTagLen = 16;
using Key = std::array<unsigned char, 32>;

template <auto Fn>
struct Free {
  template <class T>
  void operator()(T* p) const noexcept { Fn(p); }
};
using MacPtr = std::unique_ptr<EVP_MAC, Free<EVP_MAC_free>>;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, Free<EVP_MAC_CTX_free>>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, Free<EVP_CIPHER_CTX_free>>;

// HMAC-SHA256 of the concatenated pieces; false when OpenSSL fails.
bool hmac(const EVP_MAC* mac, const unsigned char* key, std::size_t key_len, std::initializer_list<std::string_view> pieces,
          unsigned char* out) {
  MacCtxPtr ctx(EVP_MAC_CTX_new(const_cast<EVP_MAC*>(mac)));
  if (!ctx) return false;
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(ctx.get(), key, key_len, params) != 1) return false;
  for (std::string_view p : pieces) {
    if (EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(p.data()), p.size()) != 1) return false;
  }
  std::size_t n = 0;
  return EVP_MAC_final(ctx.get(), out, &n, kMacLen) == 1 && n == kMacLen;
}

std::string base64url(std::string_view bytes) { return protocol::base64url_encode(bytes); }

// Strict: the base64url alphabet only, no padding, no length that no byte string encodes to,
// canonical (no stray bits in the last character), not empty.
std::optional<std::string> from_base64url(std::string_view text) {
  if (text.empty()) return std::nullopt;
  return protocol::base64url_decode(text, /*canonical=*/true);
}

struct KeyPair {
  Key mac{};
  Key enc{};
};

class CookieStore final : public SessionStore {
 public:
  CookieStore(CookieStoreOptions o) : encrypt_(o.encrypt), mac_(EVP_MAC_fetch(nullptr, "HMAC", nullptr)) {
    if (!mac_) throw std::runtime_error("cookie_store: OpenSSL has no HMAC");
    for (const std::string& secret : o.keys) {
      KeyPair k;
      const auto* s = reinterpret_cast<const unsigned char*>(secret.data());
      if (!hmac(mac_.get(), s, secret.size(), {"khz session hmac-sha256"}, k.mac.data()) ||
          !hmac(mac_.get(), s, secret.size(), {"khz session aes-256-gcm"}, k.enc.data())) {
        throw std::runtime_error("cookie_store: key derivation failed");
      }
      keys_.push_back(k);
    }
  }

  Task<Result<SessionRecord>> load(std::string value) override { co_return open(value); }

  Task<Result<std::string>> save(SessionRecord record, std::chrono::seconds) override {
    if (record.id.empty()) record.id = new_id();
    co_return seal(record);
  }

  Task<std::error_code> erase(std::string) override { co_return std::error_code{}; }

  Result<SessionRecord> open(std::string_view value) const {
    if (value.size() > kMaxCookie) return make_error_code(session_errc::too_large);
    auto raw = from_base64url(value);
    if (!raw || raw->empty()) return make_error_code(session_errc::malformed);
    const char mode = encrypt_ ? 'e' : 's';
    if ((*raw)[0] != mode) return make_error_code(session_errc::bad_signature);
    std::string payload;
    if (!encrypt_) {
      if (raw->size() < 1 + kMacLen) return make_error_code(session_errc::malformed);
      const std::string_view signed_part = std::string_view(*raw).substr(0, raw->size() - kMacLen);
      const auto* tag = reinterpret_cast<const unsigned char*>(raw->data() + signed_part.size());
      bool ok = false;
      for (const KeyPair& k : keys_) {
        unsigned char want[kMacLen];
        if (hmac(mac_.get(), k.mac.data(), k.mac.size(), {signed_part}, want) && CRYPTO_memcmp(want, tag, kMacLen) == 0) {
          ok = true;
          break;
        }
      }
      if (!ok) return make_error_code(session_errc::bad_signature);
      payload.assign(signed_part.substr(1));
    } else {
      if (raw->size() < 1 + kNonceLen + kTagLen) return make_error_code(session_errc::malformed);
      bool ok = false;
      for (const KeyPair& k : keys_) {
        if (decrypt(k.enc, *raw, payload)) {
          ok = true;
          break;
        }
      }
      if (!ok) return make_error_code(session_errc::bad_signature);
    }
    auto rec = detail::decode_record(payload);
    if (!rec) return make_error_code(session_errc::malformed);
    return std::move(*rec);
  }

  Result<std::string> seal(const SessionRecord& record) const {
    std::string payload;
    detail::encode_record(record, payload);
    std::string raw;
    const KeyPair& k = keys_.front();
    if (!encrypt_) {
      raw.push_back('s');
      raw.append(payload);
      unsigned char tag[kMacLen];
      if (!hmac(mac_.get(), k.mac.data(), k.mac.size(), {raw}, tag)) return make_error_code(session_errc::unavailable);
      raw.append(reinterpret_cast<const char*>(tag), kMacLen);
    } else if (!encrypt(k.enc, payload, raw)) {
      return make_error_code(session_errc::unavailable);
    }
    // base64 grows by 4/3: refuse before encoding what cannot fit.
    if (raw.size() > kMaxCookie) return make_error_code(session_errc::too_large);
    return base64url(raw);
  }

 private:
  static bool encrypt(const Key& key, std::string_view payload, std::string& raw) {
    raw.assign(1, 'e');
    unsigned char nonce[kNonceLen];
    if (RAND_bytes(nonce, kNonceLen) != 1) return false;
    raw.append(reinterpret_cast<const char*>(nonce), kNonceLen);
    CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce) != 1) return false;
    int n = 0;
    if (EVP_EncryptUpdate(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>("e"), 1) != 1) return false;
    const std::size_t at = raw.size();
    raw.resize(at + payload.size() + kTagLen);
    auto* out = reinterpret_cast<unsigned char*>(raw.data() + at);
    if (EVP_EncryptUpdate(ctx.get(), out, &n, reinterpret_cast<const unsigned char*>(payload.data()),
                          static_cast<int>(payload.size())) != 1) return false;
    int tail = 0;
    if (EVP_EncryptFinal_ex(ctx.get(), out + n, &tail) != 1) return false;
    return EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagLen), out + payload.size()) == 1;
  }

  static bool decrypt(const Key& key, std::string_view raw, std::string& payload) {
    const auto* nonce = reinterpret_cast<const unsigned char*>(raw.data() + 1);
    const std::string_view body = raw.substr(1 + kNonceLen, raw.size() - 1 - kNonceLen - kTagLen);
    std::array<unsigned char, kTagLen> tag;
    std::memcpy(tag.data(), raw.data() + raw.size() - kTagLen, kTagLen);
    CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce) != 1) return false;
    int n = 0;
    if (EVP_DecryptUpdate(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>("e"), 1) != 1) return false;
    payload.resize(body.size());
    auto* out = reinterpret_cast<unsigned char*>(payload.data());
    if (!body.empty() && EVP_DecryptUpdate(ctx.get(), out, &n, reinterpret_cast<const unsigned char*>(body.data()),
                                           static_cast<int>(body.size())) != 1) return false;
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagLen), tag.data()) != 1) return false;
    int tail = 0;
    return EVP_DecryptFinal_ex(ctx.get(), out + body.size(), &tail) == 1;
  }

  bool encrypt_;
  MacPtr mac_;
  std::vector<KeyPair> keys_;
};

}  // namespace

Result<SessionRecord> detail::open_cookie(const SessionStore& store, std::string_view value) {
  const auto* cs = dynamic_cast<const CookieStore*>(&store);
  KHZ_ASSERT(cs != nullptr);
  return cs->open(value);
}

Result<std::string> detail::seal_cookie(const SessionStore& store, const SessionRecord& record) {
  const auto* cs = dynamic_cast<const CookieStore*>(&store);
  KHZ_ASSERT(cs != nullptr);
  return cs->seal(record);
}

std::shared_ptr<SessionStore> cookie_store(CookieStoreOptions o) {
  if (o.keys.empty()) throw std::invalid_argument("CookieStoreOptions::keys: none");
  for (const auto& k : o.keys) {
    if (k.size() < 32) throw std::invalid_argument("CookieStoreOptions::keys: a key under 32 bytes");
  }
  return std::make_shared<CookieStore>(std::move(o));
}

}  // namespace khz::middleware

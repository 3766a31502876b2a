// SPDX-License-Identifier: Apache-2.0
#include <khz/middleware/basic_auth.h>

#include <khz/app/request_context.h>
#include <khz/common/log.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace khz::middleware {
namespace {

using Digest = std::array<unsigned char, SHA256_DIGEST_LENGTH>;

Digest digest_of(std::string_view text) {
  Digest d;
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), d.data());
  return d;
}

constexpr std::size_t kMaxCredentials = 4096;

struct State {
  std::vector<Digest> pairs;  // SHA-256("user:password")
  std::function<bool(std::string_view, std::string_view)> validate;
  std::string challenge;      // the WWW-Authenticate value
  std::string context_key;
};

bool iequals_prefix(std::string_view s, std::string_view prefix) noexcept {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

bool is_base64_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// Strict base64 (RFC 4648 §4, padded): OpenSSL's decoder, after checking what it would skip
// or accept loosely (whitespace, a missing or misplaced '=').
bool decode_base64(std::string_view in, std::string& out) {
  if (in.empty() || in.size() % 4 != 0) return false;
  std::size_t pad = 0;
  while (pad < 2 && in[in.size() - 1 - pad] == '=') ++pad;
  for (std::size_t i = 0; i < in.size() - pad; ++i) {
    if (!is_base64_char(in[i])) return false;
  }
  out.resize(in.size() / 4 * 3);
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0 || static_cast<std::size_t>(n) < pad) return false;
  out.resize(static_cast<std::size_t>(n) - pad);
  return true;
}

void refuse(const State& s, RequestContext& ctx, std::string_view why) {
  if (!why.empty()) KHZ_LOG(info, "basic_auth: " << ctx.method() << " " << ctx.path() << ": " << why << "; 401");
  ctx.discard_response(401);
  ctx.set_header("WWW-Authenticate", s.challenge);
  ctx.string(401, "401 unauthorized");
  ctx.abort();
}

struct BasicAuth {
  std::shared_ptr<const State> state;

  void operator()(RequestContext& ctx) const {
    const State& s = *state;
    const HeaderMap& in = ctx.request().headers();
    const std::size_t fields = in.count("Authorization");
    if (fields == 0) return refuse(s, ctx, {});
    if (fields > 1) return refuse(s, ctx, "malformed Authorization (sent " + std::to_string(fields) + " times)");
    std::string_view value = in.get("Authorization");
    if (value.size() > kMaxCredentials) return refuse(s, ctx, "malformed Authorization (over 4 KiB)");
    if (!iequals_prefix(value, "basic ")) return refuse(s, ctx, "malformed Authorization (not the Basic scheme)");
    value.remove_prefix(6);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    std::string plain;
    if (!decode_base64(value, plain)) return refuse(s, ctx, "malformed Authorization (bad base64)");
    const auto colon = plain.find(':');
    if (colon == std::string::npos) return refuse(s, ctx, "malformed Authorization (no ':' in the credentials)");
    const bool clean = std::all_of(plain.begin(), plain.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return u >= 0x20 && u != 0x7f;
    });
    if (!clean) return refuse(s, ctx, "malformed Authorization (a control character in the credentials)");
    const Digest presented = digest_of(plain);
    int matched = 0;
    for (const Digest& d : s.pairs) matched |= CRYPTO_memcmp(d.data(), presented.data(), d.size()) == 0 ? 1 : 0;
    const std::string_view user = std::string_view(plain).substr(0, colon);
    if (matched == 0 && !(s.validate && s.validate(user, std::string_view(plain).substr(colon + 1)))) {
      return refuse(s, ctx, "credentials refused");
    }
    if (!s.context_key.empty()) ctx.set(s.context_key, std::string(user));
  }
};

}  // namespace

Handler basic_auth(BasicAuthOptions o) {
  if (o.users.empty() && !o.validate) throw std::invalid_argument("BasicAuthOptions: no users and no validate");
  if (o.realm.find_first_of("\"\\\r\n") != std::string::npos) {
    throw std::invalid_argument("BasicAuthOptions::realm: no '\"', '\\' or line breaks");
  }
  auto s = std::make_shared<State>();
  for (const auto& [user, password] : o.users) {
    if (user.find(':') != std::string::npos) {
      throw std::invalid_argument("BasicAuthOptions::users: '" + user + "' has a ':' (RFC 7617 §2 forbids it)");
    }
    s->pairs.push_back(digest_of(user + ":" + password));
  }
  s->validate = std::move(o.validate);
  s->challenge = "Basic realm=\"" + o.realm + "\", charset=\"UTF-8\"";
  s->context_key = std::move(o.context_key);
  return Handler("khz::middleware::basic_auth", BasicAuth{std::move(s)});
}

}  // namespace khz::middleware

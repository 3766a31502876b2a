// SPDX-License-Identifier: Apache-2.0
#include <khz/middleware/key_auth.h>

#include <khz/app/request_context.h>
#include <khz/common/log.h>

#include <openssl/crypto.h>
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

struct State {
  std::vector<KeyLookup> lookups;
  std::vector<Digest> keys;
  std::function<bool(std::string_view)> validate;
  std::size_t max_length = 1024;
  std::string challenge;
};

void refuse(const State& s, RequestContext& ctx, std::string_view why) {
  if (!why.empty()) KHZ_LOG(info, "key_auth: " << ctx.method() << " " << ctx.path() << ": " << why << "; 401");
  ctx.discard_response(401);
  ctx.set_header("WWW-Authenticate", s.challenge);
  ctx.string(401, "401 unauthorized");
  ctx.abort();
}

struct KeyAuth {
  std::shared_ptr<const State> state;

  void operator()(RequestContext& ctx) const {
    const State& s = *state;
    for (const KeyLookup& l : s.lookups) {
      const FoundCredential c = find_credential(ctx, l.from, l.name, l.scheme);
      if (!c.malformed.empty()) return refuse(s, ctx, "malformed key (" + c.malformed + ")");
      if (!c.found) continue;
      const std::string_view key = c.value;
      const std::string where = credential_source(l.from, l.name);
      if (key.empty()) return refuse(s, ctx, "malformed key (empty, in " + where + ")");
      if (key.size() > s.max_length) return refuse(s, ctx, "malformed key (over " + std::to_string(s.max_length) + " bytes, in " + where + ")");
      const bool clean = std::all_of(key.begin(), key.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u > 0x20 && u < 0x7f;
      });
      if (!clean) return refuse(s, ctx, "malformed key (a byte outside visible ASCII, in " + where + ")");
      const Digest presented = digest_of(key);
      int matched = 0;
      for (const Digest& d : s.keys) matched |= CRYPTO_memcmp(d.data(), presented.data(), d.size()) == 0 ? 1 : 0;
      if (matched == 0 && !(s.validate && s.validate(key))) return refuse(s, ctx, "unknown key (in " + where + ")");
      return;  // accepted
    }
    refuse(s, ctx, {});  // no key anywhere
  }
};

}  // namespace

Handler key_auth(KeyAuthOptions o) {
  if (o.keys.empty() && !o.validate) throw std::invalid_argument("KeyAuthOptions: no keys and no validate");
  if (o.lookups.empty()) throw std::invalid_argument("KeyAuthOptions::lookups: empty");
  for (const auto& l : o.lookups) {
    if (l.name.empty()) throw std::invalid_argument("KeyAuthOptions::lookups: a lookup without a name");
    if (!l.scheme.empty() && l.from != KeyFrom::header) {
      throw std::invalid_argument("KeyAuthOptions::lookups: a scheme applies to a header only");
    }
  }
  for (const auto& k : o.keys) {
    if (k.empty()) throw std::invalid_argument("KeyAuthOptions::keys: an empty key");
  }
  if (o.max_length == 0) throw std::invalid_argument("KeyAuthOptions::max_length: 0");
  if (o.challenge.find_first_of("\r\n") != std::string::npos) {
    throw std::invalid_argument("KeyAuthOptions::challenge: a line break");
  }
  auto s = std::make_shared<State>();
  for (const auto& k : o.keys) s->keys.push_back(digest_of(k));
  s->validate = std::move(o.validate);
  s->max_length = o.max_length;
  s->challenge = std::move(o.challenge);
  if (s->challenge.empty()) {
    std::string scheme = "ApiKey";
    for (const auto& l : o.lookups) {
      if (!l.scheme.empty()) {
        scheme = l.scheme;
        break;
      }
    }
    s->challenge = scheme + " realm=\"Restricted\"";
  }
  s->lookups = std::move(o.lookups);
  return Handler("khz::middleware::key_auth", KeyAuth{std::move(s)});
}

}  // namespace khz::middleware

// SPDX-License-Identifier: Apache-2.0
#include <khz/middleware/basic_auth.h>

#include <khz/app/request_context.h>
#include <khz/common/log.h>

#include "basic_parse.h"

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
  std::vector<Digest> pairs;  // SHA-256("user:password")
  std::function<bool(std::string_view, std::string_view)> validate;
  std::string challenge;      // the WWW-Authenticate value
  std::string context_key;
};

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
    std::string plain;
    std::size_t colon = 0;
    const std::string why = basic_detail::parse_basic_authorization(in.get("Authorization"), plain, colon);
    if (!why.empty()) return refuse(s, ctx, "malformed Authorization (" + why + ")");
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

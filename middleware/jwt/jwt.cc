// SPDX-License-Identifier: Apache-2.0
#include <khz/middleware/jwt.h>

#include <utility>  // before Asio's coroutine headers (Boost 1.74 with GCC 12)

#include <khz/app/client.h>
#include <khz/app/request_context.h>
#include <khz/common/event_loop.h>
#include <khz/common/log.h>

#include "jwt_verify.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

namespace khz::middleware {
namespace {

using jwt_detail::KeySet;
using jwt_detail::Verdict;

// How long a request waits for a first JWKS fetch another request started: 20 ms polls.
constexpr int kFirstFetchPolls = 500;  // 10 s

std::int64_t steady_seconds() noexcept {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::int64_t unix_seconds() noexcept {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The JWKS side, shared by every loop: the current key set (static keys plus the fetched
// ones) is immutable and swapped whole; one fetch at a time.
struct Jwks {
  std::atomic<std::shared_ptr<const KeySet>> keys;
  std::atomic<bool> fetching{false};
  std::atomic<bool> fetched{false};
  std::atomic<std::int64_t> fetched_at{0};      // steady seconds of the last good fetch
  std::atomic<std::int64_t> attempted_at{INT64_MIN / 2};  // of the last attempt
};

struct State {
  std::vector<TokenLookup> lookups;
  std::shared_ptr<const KeySet> static_keys;
  jwt_detail::ClaimRules rules;
  std::string context_key;
  std::string challenge;          // no token
  std::string invalid_challenge;  // a bad token
  // JWKS (when jwks.url is set)
  std::string jwks_url;
  Client* client = nullptr;
  std::int64_t refresh = 300;
  std::int64_t min_refetch = 30;
  std::uint32_t jwks_algorithms = 0;
  std::size_t jwks_max_size = 0;
  std::unique_ptr<Jwks> jwks;
};

void refuse(const State& s, RequestContext& ctx, std::string_view why) {
  if (!why.empty()) KHZ_LOG(info, "jwt: " << ctx.method() << " " << ctx.path() << ": " << why << "; 401");
  ctx.discard_response(401);
  ctx.set_header("WWW-Authenticate", why.empty() ? s.challenge : s.invalid_challenge);
  ctx.string(401, "401 unauthorized");
  ctx.abort();
}

// Claims one fetch: none running, and the last attempt at least min_refetch ago.
bool claim_fetch(const State& s) noexcept {
  Jwks& j = *s.jwks;
  const std::int64_t now = steady_seconds();
  if (now - j.attempted_at.load() < s.min_refetch) return false;
  bool expected = false;
  if (!j.fetching.compare_exchange_strong(expected, true)) return false;
  j.attempted_at.store(now);
  return true;
}

struct FetchDone {
  Jwks& jwks;
  ~FetchDone() { jwks.fetching.store(false); }
};

// Fetches the JWKS and swaps the key set; a failure keeps the old set. After claim_fetch().
Task<void> fetch_jwks(std::shared_ptr<const State> state, std::string why) {
  const State& s = *state;
  FetchDone done{*s.jwks};
  Result<Response> r = co_await s.client->get(s.jwks_url);
  if (!r) {
    KHZ_LOG(warn, "jwt: JWKS " << s.jwks_url << " (" << why << "): " << r.error().message() << "; keys kept");
    co_return;
  }
  if (r->status() != 200 || r->body().size() > s.jwks_max_size) {
    KHZ_LOG(warn, "jwt: JWKS " << s.jwks_url << " (" << why << "): status " << r->status() << ", "
                                  << r->body().size() << " bytes; keys kept");
    co_return;
  }
  auto next = std::make_shared<KeySet>(*s.static_keys);
  std::size_t skipped = 0;
  const std::string error = jwt_detail::add_jwks(*next, r->body(), s.jwks_algorithms, &skipped);
  if (!error.empty()) {
    KHZ_LOG(warn, "jwt: JWKS " << s.jwks_url << " (" << why << "): " << error << "; keys kept");
    co_return;
  }
  KHZ_LOG(info, "jwt: JWKS " << s.jwks_url << " (" << why << "): " << next->keys.size() - s.static_keys->keys.size()
                             << " keys, " << skipped << " skipped");
  s.jwks->keys.store(std::move(next));
  s.jwks->fetched_at.store(steady_seconds());
  s.jwks->fetched.store(true);
}

Task<void> authenticate(std::shared_ptr<const State> state, RequestContext& ctx) {
  const State& s = *state;
  std::string_view token;
  bool found = false;
  std::string where;
  for (const TokenLookup& l : s.lookups) {
    const FoundCredential c = find_credential(ctx, l.from, l.name, l.scheme);
    if (!c.malformed.empty()) {
      refuse(s, ctx, "malformed token (" + c.malformed + ")");
      co_return;
    }
    if (c.found) {
      token = c.value;
      found = true;
      where = credential_source(l.from, l.name);
      break;
    }
  }
  if (!found) {
    refuse(s, ctx, {});
    co_return;
  }
  if (token.empty()) {
    refuse(s, ctx, "malformed token (empty, in " + where + ")");
    co_return;
  }
  if (s.jwks) {
    const bool stale = !s.jwks->fetched.load() || steady_seconds() - s.jwks->fetched_at.load() >= s.refresh;
    if (stale && claim_fetch(s)) {
      co_await fetch_jwks(state, s.jwks->fetched.load() ? "refresh" : "first fetch");
    } else if (!s.jwks->fetched.load()) {
      // The first fetch is running for another request: wait for it (briefly, bounded) rather
      // than refuse a valid token for want of keys.
      for (int i = 0; i < kFirstFetchPolls && s.jwks->fetching.load() && !s.jwks->fetched.load(); ++i) {
        co_await sleep_for(std::chrono::milliseconds(20));
      }
    }
  }
  std::shared_ptr<const KeySet> keys = s.jwks ? s.jwks->keys.load() : s.static_keys;
  Verdict v = jwt_detail::verify_token(token, *keys, s.rules, unix_seconds());
  if (!v.ok && v.unknown_kid && s.jwks && claim_fetch(s)) {
    co_await fetch_jwks(state, "unknown kid");
    keys = s.jwks->keys.load();
    v = jwt_detail::verify_token(token, *keys, s.rules, unix_seconds());
  }
  if (!v.ok) {
    refuse(s, ctx, v.reason + " (in " + where + ")");
    co_return;
  }
  ctx.set(s.context_key, std::move(v.claims));
}

struct JwtMiddleware {
  std::shared_ptr<const State> state;
  Task<void> operator()(RequestContext& ctx) const { return authenticate(state, ctx); }
};

}  // namespace

Handler jwt(JwtOptions o) {
  if (o.keys.empty() && o.jwks.url.empty()) throw std::invalid_argument("JwtOptions: no keys and no JWKS url");
  if (o.lookups.empty()) throw std::invalid_argument("JwtOptions::lookups: empty");
  for (const auto& l : o.lookups) {
    if (l.name.empty()) throw std::invalid_argument("JwtOptions::lookups: a lookup without a name");
    if (!l.scheme.empty() && l.from != TokenFrom::header) {
      throw std::invalid_argument("JwtOptions::lookups: a scheme applies to a header only");
    }
  }
  if (o.max_token_size == 0) throw std::invalid_argument("JwtOptions::max_token_size: 0");
  if (o.context_key.empty()) throw std::invalid_argument("JwtOptions::context_key: empty");
  if (o.realm.find_first_of("\"\\\r\n") != std::string::npos) {
    throw std::invalid_argument("JwtOptions::realm: no '\"', '\\' or line breaks");
  }
  auto keys = std::make_shared<KeySet>();
  for (const auto& k : o.keys) jwt_detail::add_static_key(*keys, k);
  auto s = std::make_shared<State>();
  if (!o.jwks.url.empty()) {
    if (o.jwks.client == nullptr) throw std::invalid_argument("JwtOptions::jwks: a url without a client");
    if (o.jwks.refresh.count() <= 0 || o.jwks.min_refetch.count() < 0) {
      throw std::invalid_argument("JwtOptions::jwks: refresh must be positive, min_refetch not negative");
    }
    s->jwks_algorithms = jwt_detail::algorithm_bits(o.jwks.algorithms);
    if (s->jwks_algorithms == 0) throw std::invalid_argument("JwtOptions::jwks: no algorithms");
    if ((s->jwks_algorithms & jwt_detail::algorithm_bits({JwtAlg::hs256, JwtAlg::hs384, JwtAlg::hs512})) != 0) {
      throw std::invalid_argument("JwtOptions::jwks: HMAC algorithms are never taken from a JWKS");
    }
    s->jwks_url = std::move(o.jwks.url);
    s->client = o.jwks.client;
    s->refresh = o.jwks.refresh.count();
    s->min_refetch = o.jwks.min_refetch.count();
    s->jwks_max_size = o.jwks.max_size;
    s->jwks = std::make_unique<Jwks>();
    s->jwks->keys.store(keys);
  }
  s->static_keys = std::move(keys);
  s->lookups = std::move(o.lookups);
  s->rules.audiences = std::move(o.audiences);
  s->rules.issuers = std::move(o.issuers);
  s->rules.required_claims = std::move(o.required_claims);
  s->rules.require_exp = o.require_exp;
  s->rules.leeway_seconds = o.leeway.count();
  s->rules.max_token_size = o.max_token_size;
  s->context_key = std::move(o.context_key);
  s->challenge = o.realm.empty() ? std::string("Bearer") : "Bearer realm=\"" + o.realm + "\"";
  s->invalid_challenge = (o.realm.empty() ? std::string("Bearer ") : s->challenge + ", ") + "error=\"invalid_token\"";
  return Handler("khz::middleware::jwt", JwtMiddleware{std::move(s)});
}

const Json* jwt_claims(RequestContext& ctx, std::string_view context_key) {
  return ctx.get_as<Json>(context_key);
}

}  // namespace khz::middleware

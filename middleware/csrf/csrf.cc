// SPDX-License-Identifier: Apache-2.0
#include <khz/middleware/csrf.h>

#include <khz/app/request_context.h>
#include <khz/common/log.h>
#include <khz/protocol/base64.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace khz::middleware {
namespace {

constexpr std::size_t kIdBytes = 32;    // the cookie's random value
constexpr std::size_t kSaltBytes = 16;  // a signed token's salt
constexpr std::size_t kMacBytes = 32;   // HMAC-SHA256

std::string base64url(const unsigned char* bytes, std::size_t n) {
  return protocol::base64url_encode(std::string_view(reinterpret_cast<const char*>(bytes), n));
}

// Decodes canonical unpadded base64url of exactly `n` bytes; false for anything else.
bool decode_exact(std::string_view in, unsigned char* out, std::size_t n) {
  auto bytes = protocol::base64url_decode(in, /*canonical=*/true);
  if (!bytes || bytes->size() != n) return false;
  std::copy_n(bytes->data(), n, out);
  return true;
}

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

// scheme "://" host [":" port], nothing else (RFC 6454 §6.2).
bool is_origin(std::string_view o) noexcept {
  const auto sep = o.find("://");
  if (sep == std::string_view::npos || sep == 0 || sep + 3 >= o.size()) return false;
  return o.find_first_of("/?#@ \t", sep + 3) == std::string_view::npos;
}

// The origin of a Referer URL: "https://app.example:8443/a/b?c" → "https://app.example:8443".
std::string_view origin_of_url(std::string_view url) noexcept {
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) return {};
  const auto end = url.find_first_of("/?#", sep + 3);
  return url.substr(0, end);
}

struct State {
  CsrfMode mode = CsrfMode::signed_token;
  std::string secret;
  std::string header_name;
  std::string form_field;
  Cookie cookie;  // name and attributes; value set per issue
  std::vector<std::string> allowed_origins;
  bool require_origin = false;
  std::string context_key;
};

// What a request's context holds for csrf_token(): the state and the client's cookie value.
struct Slot {
  std::shared_ptr<const State> state;
  std::string id;
};

std::array<unsigned char, kMacBytes> mac_of(const State& s, const unsigned char* salt, std::string_view id) {
  std::string input(reinterpret_cast<const char*>(salt), kSaltBytes);
  input.append(id);
  std::array<unsigned char, kMacBytes> mac{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), s.secret.data(), static_cast<int>(s.secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(), &len);
  return mac;
}

std::string make_token(const Slot& slot) {
  if (slot.state->mode == CsrfMode::double_submit) return slot.id;
  std::array<unsigned char, kSaltBytes + kMacBytes> raw{};
  if (RAND_bytes(raw.data(), static_cast<int>(kSaltBytes)) != 1) throw std::runtime_error("csrf: RAND_bytes failed");
  const auto mac = mac_of(*slot.state, raw.data(), slot.id);
  std::copy(mac.begin(), mac.end(), raw.begin() + kSaltBytes);
  return base64url(raw.data(), raw.size());
}

bool token_matches(const State& s, std::string_view id, std::string_view token) {
  if (s.mode == CsrfMode::double_submit) {
    std::array<unsigned char, kIdBytes> a{}, b{};
    return decode_exact(token, a.data(), a.size()) && decode_exact(id, b.data(), b.size()) &&
           CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
  }
  std::array<unsigned char, kSaltBytes + kMacBytes> raw{};
  if (!decode_exact(token, raw.data(), raw.size())) return false;
  const auto mac = mac_of(s, raw.data(), id);
  return CRYPTO_memcmp(mac.data(), raw.data() + kSaltBytes, kMacBytes) == 0;
}

void refuse(RequestContext& ctx, std::string_view why) {
  KHZ_LOG(info, "csrf: " << ctx.method() << " " << ctx.path() << ": " << why << "; 403");
  ctx.discard_response(403);
  ctx.string(403, "403 forbidden");
  ctx.abort();
}

bool is_safe(std::string_view method) noexcept {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE";
}

// The origin check (step 1 in the header). "" when it passes, else why not.
std::string check_origin(const State& s, RequestContext& ctx) {
  const HeaderMap& in = ctx.request().headers();
  const std::string_view site = in.get("Sec-Fetch-Site");
  if (site == "same-origin" || site == "none") return {};
  std::string_view origin = in.get("Origin");
  std::string_view source = "Origin";
  if (!in.contains("Origin")) {
    if (!in.contains("Referer")) {
      return s.require_origin ? std::string("no Origin or Referer") : std::string();
    }
    origin = origin_of_url(in.get("Referer"));
    source = "Referer";
  }
  if (origin == "null" || !is_origin(origin)) return "cross-origin request (" + std::string(source) + " not an origin)";
  const std::string own = std::string(ctx.is_tls() ? "https://" : "http://") + std::string(ctx.request().host());
  if (!ctx.request().host().empty() && iequals(origin, own)) return {};
  for (const auto& allowed : s.allowed_origins) {
    if (iequals(origin, allowed)) return {};
  }
  return "cross-origin request (" + std::string(source) + " " + std::string(origin.substr(0, 256)) + ")";
}

struct Csrf {
  std::shared_ptr<const State> state;

  void operator()(RequestContext& ctx) const {
    const State& s = *state;
    std::string_view id = ctx.cookie(s.cookie.name);
    std::array<unsigned char, kIdBytes> scratch{};
    const bool have_cookie = decode_exact(id, scratch.data(), scratch.size());
    if (is_safe(ctx.method())) {
      Slot slot{state, std::string(id)};
      if (!have_cookie) {
        if (RAND_bytes(scratch.data(), static_cast<int>(scratch.size())) != 1) throw std::runtime_error("csrf: RAND_bytes failed");
        slot.id = base64url(scratch.data(), scratch.size());
        Cookie c = s.cookie;
        c.value = slot.id;
        ctx.set_cookie(c);
      }
      ctx.set(s.context_key, std::move(slot));
      return;
    }
    if (const std::string why = check_origin(s, ctx); !why.empty()) return refuse(ctx, why);
    if (!have_cookie) return refuse(ctx, id.empty() ? "no CSRF cookie" : "malformed CSRF cookie");
    const HeaderMap& in = ctx.request().headers();
    std::string_view token;
    if (in.contains(s.header_name)) {
      if (in.count(s.header_name) > 1) return refuse(ctx, "CSRF header " + s.header_name + " sent more than once");
      token = in.get(s.header_name);
    } else if (ctx.has_form(s.form_field)) {
      token = ctx.form(s.form_field);
    } else {
      return refuse(ctx, "no CSRF token");
    }
    if (!token_matches(s, id, token)) return refuse(ctx, "CSRF token mismatch");
    ctx.set(s.context_key, Slot{state, std::string(id)});
  }
};

}  // namespace

Handler csrf(CsrfOptions o) {
  if (o.mode == CsrfMode::signed_token && o.secret.size() < 32) {
    throw std::invalid_argument("CsrfOptions::secret: signed_token needs a secret of at least 32 bytes");
  }
  if (o.header_name.empty() || o.form_field.empty() || o.context_key.empty()) {
    throw std::invalid_argument("CsrfOptions: empty header_name, form_field or context_key");
  }
  for (const auto& origin : o.allowed_origins) {
    if (!is_origin(origin)) {
      throw std::invalid_argument("CsrfOptions::allowed_origins: '" + origin + "' is not scheme://host[:port]");
    }
  }
  auto s = std::make_shared<State>();
  s->cookie = Cookie{.name = std::move(o.cookie_name),
                     .value = std::string(43, 'A'),
                     .path = std::move(o.cookie_path),
                     .max_age = o.cookie_max_age,
                     .secure = o.cookie_secure,
                     .http_only = o.mode == CsrfMode::signed_token,
                     .same_site = o.same_site};
  if (const std::error_code ec = s->cookie.validate()) {
    throw std::invalid_argument("CsrfOptions: the cookie is refused: " + ec.message());
  }
  s->mode = o.mode;
  s->secret = std::move(o.secret);
  s->header_name = std::move(o.header_name);
  s->form_field = std::move(o.form_field);
  s->allowed_origins = std::move(o.allowed_origins);
  s->require_origin = o.require_origin;
  s->context_key = std::move(o.context_key);
  return Handler("khz::middleware::csrf", Csrf{std::move(s)});
}

std::string csrf_token(RequestContext& ctx, std::string_view context_key) {
  const Slot* slot = ctx.get_as<Slot>(context_key);
  return slot != nullptr ? make_token(*slot) : std::string();
}

}  // namespace khz::middleware

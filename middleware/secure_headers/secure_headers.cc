// SPDX-License-Identifier: Apache-2.0
#include <khz/middleware/secure_headers.h>

#include <khz/app/request_context.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace khz::middleware {
namespace {

struct State {
  std::vector<std::pair<std::string, std::string>> always;  // set on every response
  std::string hsts;                                         // "" when off
  bool trust_forwarded_proto = false;
  // Bit n set: one of the names above is n bytes long (all are under 64).
  std::uint64_t name_lengths = 0;
};

constexpr std::string_view kHsts = "Strict-Transport-Security";

// Whether `out` already holds a field named as one of ours (an earlier layer's, say): then
// each is replaced; else ours are linked straight in. Name lengths rule out most fields
// without a comparison.
bool holds_any_of_ours(const State& s, const HeaderMap& out) noexcept {
  for (const HeaderMap::Field& f : out) {
    if (f.name.size() >= 64 || ((s.name_lengths >> f.name.size()) & 1) == 0) continue;
    if (iequals(f.name, kHsts)) return true;
    for (const auto& field : s.always) {
      if (iequals(f.name, field.first)) return true;
    }
  }
  return false;
}

bool is_https(const State& s, const RequestContext& ctx) noexcept {
  if (ctx.is_tls()) return true;
  if (!s.trust_forwarded_proto) return false;
  // The proxy's own value is the last of a list ("http, https" after two hops).
  std::string_view proto = ctx.request().header("X-Forwarded-Proto");
  if (const auto comma = proto.rfind(','); comma != std::string_view::npos) proto.remove_prefix(comma + 1);
  while (!proto.empty() && proto.front() == ' ') proto.remove_prefix(1);
  while (!proto.empty() && proto.back() == ' ') proto.remove_suffix(1);
  return proto.size() == 5 && (proto[0] | 0x20) == 'h' && (proto[1] | 0x20) == 't' && (proto[2] | 0x20) == 't' &&
         (proto[3] | 0x20) == 'p' && (proto[4] | 0x20) == 's';
}

struct SecureHeaders {
  std::shared_ptr<const State> state;

  void operator()(RequestContext& ctx) const {
    const State& s = *state;
    HeaderMap& out = ctx.response().headers();
    // Linked, not copied: the strings live in the state, which the server keeps for its life.
    const bool hsts = !s.hsts.empty() && is_https(s, ctx);
    if (holds_any_of_ours(s, out)) {
      for (const auto& [name, value] : s.always) out.set_ref(name, value);
      if (hsts) out.set_ref(kHsts, s.hsts);
      return;
    }
    for (const auto& [name, value] : s.always) out.add_ref(name, value);
    if (hsts) out.add_ref(kHsts, s.hsts);
  }
};

// A field value: visible ASCII, spaces and tabs (RFC 9110 §5.5), so no header injection.
void check_value(const char* option, const std::string& value) {
  const bool clean = std::all_of(value.begin(), value.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u < 0x7f);
  });
  if (!clean) throw std::invalid_argument(std::string("SecureHeadersOptions::") + option + ": a control or non-ASCII character");
}

void check_one_of(const char* option, const std::string& value, std::initializer_list<std::string_view> allowed) {
  if (value.empty()) return;
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return;
  std::string list;
  for (auto a : allowed) list.append(list.empty() ? "" : ", ").append(a);
  throw std::invalid_argument(std::string("SecureHeadersOptions::") + option + ": '" + value + "' (want one of " + list + ")");
}

}  // namespace

Handler secure_headers(SecureHeadersOptions o) {
  check_one_of("frame_options", o.frame_options, {"DENY", "SAMEORIGIN"});
  check_one_of("content_type_options", o.content_type_options, {"nosniff"});
  check_one_of("cross_origin_opener_policy", o.cross_origin_opener_policy,
               {"same-origin", "same-origin-allow-popups", "noopener-allow-popups", "unsafe-none"});
  check_one_of("cross_origin_embedder_policy", o.cross_origin_embedder_policy,
               {"require-corp", "credentialless", "unsafe-none"});
  check_one_of("cross_origin_resource_policy", o.cross_origin_resource_policy, {"same-origin", "same-site", "cross-origin"});
  check_one_of("xss_protection", o.xss_protection, {"0", "1", "1; mode=block"});
  // Referrer-Policy may list fallbacks, comma-separated (W3C Referrer Policy §4.1).
  {
    std::string_view rest = o.referrer_policy;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      std::string token(rest.substr(0, comma));
      token.erase(0, token.find_first_not_of(' '));
      token.erase(token.find_last_not_of(' ') + 1);
      check_one_of("referrer_policy", token,
                   {"no-referrer", "no-referrer-when-downgrade", "origin", "origin-when-cross-origin", "same-origin",
                    "strict-origin", "strict-origin-when-cross-origin", "unsafe-url"});
      if (token.empty()) throw std::invalid_argument("SecureHeadersOptions::referrer_policy: an empty entry");
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  check_value("content_security_policy", o.content_security_policy);
  check_value("permissions_policy", o.permissions_policy);
  if (o.hsts_max_age.count() < 0) throw std::invalid_argument("SecureHeadersOptions::hsts_max_age: negative");
  if (o.hsts_preload && (!o.hsts_include_subdomains || o.hsts_max_age < std::chrono::hours(24 * 365))) {
    throw std::invalid_argument(
        "SecureHeadersOptions::hsts_preload: the preload list wants include_subdomains and a max-age of a year or more");
  }

  auto s = std::make_shared<State>();
  auto add = [&](const char* name, const std::string& value) {
    if (!value.empty()) s->always.emplace_back(name, value);
  };
  add(o.csp_report_only ? "Content-Security-Policy-Report-Only" : "Content-Security-Policy", o.content_security_policy);
  add("X-Content-Type-Options", o.content_type_options);
  add("X-Frame-Options", o.frame_options);
  add("Referrer-Policy", o.referrer_policy);
  add("Permissions-Policy", o.permissions_policy);
  add("Cross-Origin-Opener-Policy", o.cross_origin_opener_policy);
  add("Cross-Origin-Embedder-Policy", o.cross_origin_embedder_policy);
  add("Cross-Origin-Resource-Policy", o.cross_origin_resource_policy);
  add("X-XSS-Protection", o.xss_protection);
  if (o.hsts_max_age.count() > 0) {
    s->hsts = "max-age=" + std::to_string(o.hsts_max_age.count());
    if (o.hsts_include_subdomains) s->hsts += "; includeSubDomains";
    if (o.hsts_preload) s->hsts += "; preload";
  }
  s->trust_forwarded_proto = o.trust_forwarded_proto;
  s->name_lengths = std::uint64_t{1} << kHsts.size();
  for (const auto& field : s->always) s->name_lengths |= std::uint64_t{1} << field.first.size();
  return Handler("khz::middleware::secure_headers", SecureHeaders{std::move(s)});
}

}  // namespace khz::middleware

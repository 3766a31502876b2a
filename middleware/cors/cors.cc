// SPDX-License-Identifier: Apache-2.0
#include <khz/middleware/cors.h>

#include <khz/common/log.h>

#include "origin_match.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace khz::middleware {
namespace {

using cors_detail::is_well_formed_origin;
using cors_detail::matches_origin_pattern;
using cors_detail::OriginPattern;
using cors_detail::parse_origin_pattern;

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out.append(out.empty() ? "" : ", ").append(i);
  return out;
}

struct State {
  bool any_origin = false;
  std::vector<std::string> exact;  // lower case
  std::vector<OriginPattern> patterns;  // lower case
  std::function<bool(std::string_view)> allow_origin;
  std::vector<std::string> methods;
  std::string methods_value;
  bool any_header = false;
  std::vector<std::string> headers;  // lower case
  std::string headers_value;
  std::string expose_value;
  bool credentials = false;
  std::string max_age_value;  // "" when not sent
  bool private_network = false;
  bool passthrough = false;
  int preflight_status = 204;
  bool vary_origin = true;  // the answer depends on the origin
};

bool origin_allowed(const State& s, std::string_view origin) {
  if (s.any_origin) return true;
  for (const auto& e : s.exact) {
    if (iequals(e, origin)) return true;
  }
  for (const auto& p : s.patterns) {
    if (matches_origin_pattern(p, origin)) return true;
  }
  return s.allow_origin && s.allow_origin(origin);
}

// Same origin as the request's Host (scheme aside): not a cross-origin request.
bool is_same_origin(std::string_view origin, std::string_view host) noexcept {
  const auto sep = origin.find("://");
  return sep != std::string_view::npos && !host.empty() && iequals(origin.substr(sep + 3), host);
}

void refuse(RequestContext& ctx, std::string_view why) {
  KHZ_LOG(info, "cors: " << why << " for " << ctx.method() << " " << ctx.path() << "; 403");
  ctx.discard_response(403);
  if (ctx.method() == "OPTIONS" && !ctx.response().headers().contains("Vary")) ctx.response().headers().add("Vary", "Origin");
  ctx.string(403, "403 forbidden");
  ctx.abort();
}

void preflight(const State& s, RequestContext& ctx, std::string_view origin, std::string_view method) {
  if (std::find(s.methods.begin(), s.methods.end(), method) == s.methods.end()) {
    if (is_token(method)) {
      refuse(ctx, "method " + std::string(method) + " not allowed (origin " + std::string(origin) + ")");
    } else {
      refuse(ctx, "malformed Access-Control-Request-Method");
    }
    return;
  }
  const std::string_view requested = ctx.header("Access-Control-Request-Headers");
  std::string_view rest = requested;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view name = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (name.empty()) continue;
    if (!is_token(name)) {
      refuse(ctx, "malformed Access-Control-Request-Headers");
      return;
    }
    if (s.any_header) continue;
    const bool listed = std::any_of(s.headers.begin(), s.headers.end(),
                                    [name](const std::string& h) { return iequals(h, name); });
    if (!listed) {
      refuse(ctx, "header " + std::string(name) + " not allowed (origin " + std::string(origin) + ")");
      return;
    }
  }
  HeaderMap& out = ctx.response().headers();
  out.set("Access-Control-Allow-Origin", s.any_origin && !s.credentials ? std::string_view("*") : origin);
  out.add("Vary", s.vary_origin ? "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
                                : "Access-Control-Request-Method, Access-Control-Request-Headers");
  out.set("Access-Control-Allow-Methods", s.methods_value);
  if (s.any_header) {
    if (!trim(requested).empty()) out.set("Access-Control-Allow-Headers", requested);
  } else if (!s.headers_value.empty()) {
    out.set("Access-Control-Allow-Headers", s.headers_value);
  }
  if (s.credentials) out.set("Access-Control-Allow-Credentials", "true");
  if (!s.max_age_value.empty()) out.set("Access-Control-Max-Age", s.max_age_value);
  // Private Network Access: a public page asking a private (or local) address.
  if (iequals(ctx.header("Access-Control-Request-Private-Network"), "true")) {
    if (s.private_network) {
      out.set("Access-Control-Allow-Private-Network", "true");
    } else {
      KHZ_LOG(debug, "cors: private network access asked by " << origin << " and not allowed");
    }
  }
  if (!s.passthrough) {
    ctx.discard_response(s.preflight_status);
    ctx.abort();
  }
}

struct Cors {
  std::shared_ptr<const State> state;

  void operator()(RequestContext& ctx) const {
    const State& s = *state;
    const HeaderMap& in = ctx.request().headers();
    const std::size_t origins = in.count("Origin");
    const bool is_preflight = ctx.method() == "OPTIONS" && in.contains("Access-Control-Request-Method");
    // Whatever comes next depends on Origin (also when it is absent: a cached answer without
    // Access-Control-Allow-Origin must not be served to a cross-origin request).
    if (s.vary_origin && !is_preflight) ctx.response().headers().add("Vary", "Origin");
    if (origins == 0) return;
    if (origins > 1) {
      refuse(ctx, "Origin sent " + std::to_string(origins) + " times");
      return;
    }
    const std::string_view origin = in.get("Origin");
    if (!is_well_formed_origin(origin)) {
      refuse(ctx, "malformed Origin (" + std::to_string(origin.size()) + " bytes)");
      return;
    }
    if (!is_preflight && is_same_origin(origin, ctx.header("Host"))) return;
    if (!origin_allowed(s, origin)) {
      refuse(ctx, "origin " + std::string(origin) + " refused");
      return;
    }
    if (is_preflight) {
      preflight(s, ctx, origin, in.get("Access-Control-Request-Method"));
      return;
    }
    HeaderMap& out = ctx.response().headers();
    out.set("Access-Control-Allow-Origin", s.any_origin && !s.credentials ? std::string_view("*") : origin);
    if (s.credentials) out.set("Access-Control-Allow-Credentials", "true");
    if (!s.expose_value.empty()) out.set("Access-Control-Expose-Headers", s.expose_value);
  }
};

OriginPattern parse_pattern(const std::string& text) {
  std::optional<OriginPattern> p = parse_origin_pattern(text);
  if (!p) {
    throw std::invalid_argument("CorsOptions::allow_origins: '" + text +
                                "' is not an origin pattern (want \"https://*.example.com\")");
  }
  return std::move(*p);
}

}  // namespace

Handler cors(CorsOptions options) {
  auto s = std::make_shared<State>();
  for (const auto& o : options.allow_origins) {
    if (o == "*") {
      s->any_origin = true;
    } else if (o.find('*') != std::string::npos) {
      s->patterns.push_back(parse_pattern(o));
    } else if (is_well_formed_origin(o)) {
      s->exact.push_back(lowered(o));
    } else {
      throw std::invalid_argument("CorsOptions::allow_origins: '" + o +
                                  "' is not an origin (want scheme://host[:port], without a path)");
    }
  }
  if (!s->any_origin && s->exact.empty() && s->patterns.empty() && !options.allow_origin) {
    throw std::invalid_argument("CorsOptions: no origin allowed (set allow_origins or allow_origin)");
  }
  if (s->any_origin && options.allow_credentials) {
    throw std::invalid_argument(
        "CorsOptions: allow_credentials with \"*\" would let every site read answers sent with the user's "
        "credentials; list the origins or decide with allow_origin");
  }
  for (const auto& m : options.allow_methods) {
    if (!is_token(m)) throw std::invalid_argument("CorsOptions::allow_methods: '" + m + "' is not a method");
  }
  for (const auto& h : options.allow_headers) {
    if (h == "*") {
      s->any_header = true;
    } else if (!is_token(h)) {
      throw std::invalid_argument("CorsOptions::allow_headers: '" + h + "' is not a field name");
    } else {
      s->headers.push_back(lowered(h));
    }
  }
  for (const auto& h : options.expose_headers) {
    if (!is_token(h)) throw std::invalid_argument("CorsOptions::expose_headers: '" + h + "' is not a field name");
  }
  if (options.max_age.count() < 0) throw std::invalid_argument("CorsOptions::max_age: negative");
  if (options.preflight_status < 200 || options.preflight_status > 299) {
    throw std::invalid_argument("CorsOptions::preflight_status: want 2xx");
  }
  s->allow_origin = std::move(options.allow_origin);
  s->methods = options.allow_methods;
  s->methods_value = join(options.allow_methods);
  s->headers_value = join(options.allow_headers);
  s->expose_value = join(options.expose_headers);
  s->credentials = options.allow_credentials;
  if (options.max_age.count() > 0) s->max_age_value = std::to_string(options.max_age.count());
  s->private_network = options.allow_private_network;
  s->passthrough = options.options_passthrough;
  s->preflight_status = options.preflight_status;
  s->vary_origin = !s->any_origin;
  return Handler("khz::middleware::cors", Cors{std::move(s)});
}

}  // namespace khz::middleware

// SPDX-License-Identifier: Apache-2.0
// khz::middleware::dye: the first matching rule sets a baggage entry on the request.
#include <khz/middleware/dye.h>

#include <khz/app/request_context.h>
#include <khz/protocol/baggage.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string_view>

namespace khz::middleware {
namespace {

bool in_share(std::string_view value, double percent) {
  // Sticky: the same value is always in or out (FNV-1a, spread over 10,000 buckets).
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : value) h = (h ^ c) * 1099511628211ull;
  return static_cast<double>(h % 10000) < percent * 100;
}

bool random_share(double percent) {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return std::uniform_real_distribution<double>(0, 100)(gen) < percent;
}

bool holds(const DyeRule& rule, RequestContext& ctx) {
  std::string_view got;
  bool looked = false;
  if (!rule.header.empty()) {
    got = ctx.header(rule.header);
    looked = true;
  } else if (!rule.cookie.empty()) {
    got = ctx.cookie(rule.cookie);
    looked = true;
  }
  if (rule.percent > 0) {
    if (!looked) return random_share(rule.percent);
    return !got.empty() && in_share(got, rule.percent);
  }
  if (!looked || got.empty()) return false;
  return rule.values.empty() || std::find(rule.values.begin(), rule.values.end(), got) != rule.values.end();
}

struct Dye {
  DyeOptions options;

  void operator()(RequestContext& ctx) const {
    const DyeRule* hit = nullptr;
    for (const DyeRule& rule : options.rules) {
      if (holds(rule, ctx)) {
        hit = &rule;
        break;
      }
    }
    HeaderMap& headers = ctx.request().headers();
    if (hit == nullptr && (!options.strip_incoming || !headers.contains("baggage"))) return;
    protocol::Baggage baggage;
    for (const auto& field : headers) {
      if (iequals(field.name, "baggage")) baggage.add_header(field.value);
    }
    const std::size_t before = baggage.size();
    if (options.strip_incoming) {
      for (const DyeRule& rule : options.rules) baggage.erase(rule.key);
    }
    if (hit == nullptr && baggage.size() == before) return;  // nothing to strip
    if (hit != nullptr) baggage.set(hit->key, hit->value);
    headers.remove("baggage");
    if (baggage.empty()) return;
    std::string value = baggage.format();
    headers.set("baggage", value);
    if (options.propagate) ctx.set_outbound_header("baggage", value);
  }
};

}  // namespace

Handler dye(DyeOptions options) {
  for (const DyeRule& rule : options.rules) {
    if (rule.key.empty()) throw std::invalid_argument("dye: a rule needs a baggage key");
    if (rule.percent < 0 || rule.percent > 100) throw std::invalid_argument("dye: percent must be within [0, 100]");
  }
  return Dye{std::move(options)};
}

}  // namespace khz::middleware

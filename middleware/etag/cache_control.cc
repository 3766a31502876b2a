// SPDX-License-Identifier: Apache-2.0
#include <khz/app/request_context.h>
#include <khz/middleware/etag.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace khz::middleware {
namespace {

void directive(std::string& out, std::string_view name) {
  if (!out.empty()) out += ", ";
  out += name;
}

void directive(std::string& out, std::string_view name, const std::optional<std::chrono::seconds>& age) {
  if (!age) return;
  if (age->count() < 0) throw std::invalid_argument("CacheControlOptions: " + std::string(name) + " is negative");
  directive(out, name);
  out += '=';
  out += std::to_string(age->count());
}

Task<void> apply(const std::string* value, RequestContext& ctx) {
  ctx.set_header("Cache-Control", *value);
  co_await ctx.next();
  // An error answer is not to be cached for max_age; a streamed one has its head out already.
  if (ctx.status() >= 400 && !ctx.is_streaming() && ctx.response().header("Cache-Control") == *value) {
    ctx.response().headers().remove("Cache-Control");
  }
}

struct CacheControl {
  std::shared_ptr<const std::string> value;
  Task<void> operator()(RequestContext& ctx) const { return apply(value.get(), ctx); }
};

}  // namespace

std::string cache_control_value(const CacheControlOptions& o) {
  if (o.is_public && o.is_private) throw std::invalid_argument("CacheControlOptions: both public and private");
  std::string out;
  if (o.is_public) directive(out, "public");
  if (o.is_private) directive(out, "private");
  if (o.no_cache) directive(out, "no-cache");
  if (o.no_store) directive(out, "no-store");
  directive(out, "max-age", o.max_age);
  directive(out, "s-maxage", o.s_maxage);
  if (o.must_revalidate) directive(out, "must-revalidate");
  if (o.proxy_revalidate) directive(out, "proxy-revalidate");
  if (o.no_transform) directive(out, "no-transform");
  if (o.immutable) directive(out, "immutable");
  directive(out, "stale-while-revalidate", o.stale_while_revalidate);
  directive(out, "stale-if-error", o.stale_if_error);
  if (out.empty()) throw std::invalid_argument("CacheControlOptions: no directive set");
  return out;
}

Handler cache_control(CacheControlOptions options) {
  return Handler("khz::middleware::cache_control",
                 CacheControl{std::make_shared<const std::string>(cache_control_value(options))});
}

}  // namespace khz::middleware

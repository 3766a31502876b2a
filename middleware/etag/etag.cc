// SPDX-License-Identifier: Apache-2.0
#include <khz/middleware/etag.h>

#include <khz/app/request_context.h>
#include <khz/protocol/conditional.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include <xxhash.h>

namespace khz::middleware {
namespace {

bool none_match(const HeaderMap& headers, std::string_view tag) {
  for (const auto& field : headers) {
    if (iequals(field.name, "If-None-Match") && protocol::etag_list_matches(field.value, tag, /*weak=*/true)) {
      return true;
    }
  }
  return false;
}

Task<void> tag_response(RequestContext& ctx) {
  co_await ctx.next();
  const std::string_view method = ctx.method();
  const bool head = method == "HEAD";
  if (method != "GET" && !head) co_return;
  const Response& r = ctx.response();
  if (r.status() < 200 || r.status() > 299) co_return;
  if (ctx.is_streaming() || r.file_body() != nullptr) co_return;
  if (!r.header("ETag").empty()) co_return;
  if (head && r.body().empty()) co_return;
  const std::string tag = weak_etag(r.body());
  if (none_match(ctx.request().headers(), tag)) {
    ctx.discard_response(304);
  }
  ctx.set_header("ETag", tag);
}

struct Etag {
  Task<void> operator()(RequestContext& ctx) const { return tag_response(ctx); }
};

}  // namespace

std::string weak_etag(std::string_view body) {
  const XXH64_hash_t h = XXH3_64bits(body.data(), body.size());
  char text[48];
  const int n = std::snprintf(text, sizeof text, "W/\"%zx-%016llx\"", body.size(), static_cast<unsigned long long>(h));
  return std::string(text, static_cast<std::size_t>(n));
}

Handler etag() { return Handler("khz::middleware::etag", Etag{}).onion(); }

}  // namespace khz::middleware

// SPDX-License-Identifier: Apache-2.0
#include <khz/middleware/trailing_slash.h>

#include <khz/app/request_context.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace khz::middleware {
namespace {

struct TrailingSlash {
  TrailingSlashOptions options;

  void operator()(RequestContext& ctx) const {
    std::string_view path = ctx.path();
    if (path.empty() || path == "/") return;
    std::string target;
    if (options.mode == SlashMode::remove) {
      if (path.back() != '/') return;
      while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
      target.assign(path);
    } else {
      if (path.back() == '/') return;
      const auto last = path.rfind('/');
      if (path.find('.', last == std::string_view::npos ? 0 : last) != std::string_view::npos) return;
      target.assign(path).push_back('/');
    }
    // One leading '/': "//host" or "/\host" would read as another site.
    std::size_t extra = 0;
    while (extra + 1 < target.size() && (target[extra + 1] == '/' || target[extra + 1] == '\\')) ++extra;
    target.erase(1, extra);
    if (!ctx.request().query().empty()) target.append("?").append(ctx.request().query());
    const int status = options.status != 0 ? options.status
                                           : (ctx.method() == "GET" || ctx.method() == "HEAD") ? 301 : 308;
    ctx.discard_response(status);
    ctx.redirect(status, target);
    ctx.abort();
  }
};

}  // namespace

Handler trailing_slash(TrailingSlashOptions options) {
  const int s = options.status;
  if (s != 0 && s != 301 && s != 302 && s != 303 && s != 307 && s != 308) {
    throw std::invalid_argument("TrailingSlashOptions::status: want 0, 301, 302, 303, 307 or 308");
  }
  return Handler("khz::middleware::trailing_slash", TrailingSlash{options});
}

}  // namespace khz::middleware

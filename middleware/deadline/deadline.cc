// SPDX-License-Identifier: Apache-2.0
// khz::middleware::deadline: the caller's remaining time as the handler's deadline.
#include <khz/middleware/deadline.h>

#include <khz/app/request_context.h>
#include <khz/common/exception_text.h>
#include <khz/common/log.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <stdexcept>
#include <string>

namespace khz::middleware {
namespace {

// The header's milliseconds, or 0 when absent or not a positive integer.
std::int64_t parse_ms(std::string_view v) {
  if (v.empty() || v.size() > 19) return 0;
  std::int64_t ms = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), ms);
  return ec == std::errc() && end == v.data() + v.size() && ms > 0 ? ms : 0;
}

Task<void> bound(DeadlineOptions o, RequestContext& ctx) {
  const std::string_view sent = ctx.header(o.header);
  std::int64_t ms = parse_ms(sent);
  if (ms == 0 && !sent.empty()) KHZ_LOG(debug, "deadline: ignoring " << o.header << ": \"" << sent << "\"");
  if (ms == 0) ms = o.fallback.count();
  if (ms <= 0) {
    co_await ctx.next();
    co_return;
  }
  ms = std::min<std::int64_t>(ms, o.max.count());
  if (o.propagate) ctx.set_outbound_header(o.header, std::to_string(ms));
  DeadlineOutcome outcome = co_await ctx.next_with_deadline(std::chrono::milliseconds(ms));
  if (!outcome.expired) {
    if (outcome.exception) std::rethrow_exception(outcome.exception);
    co_return;
  }
  const std::string_view route = ctx.full_path().empty() ? ctx.path() : ctx.full_path();
  if (outcome.exception) {
    KHZ_LOG(debug, "deadline: " << ctx.method() << " " << route << " threw after its deadline: "
                                << exception_text(outcome.exception));
  }
  if (ctx.is_streaming()) co_return;
  const int status = outcome.interrupted_wait ? 504 : 503;
  KHZ_LOG(info, "deadline: " << ctx.method() << " " << route << " passed the caller's " << ms << " ms; " << status);
  ctx.discard_response(status);
  ctx.response().set_body(status == 504 ? "504 gateway timeout" : "503 service unavailable", "text/plain; charset=utf-8");
}

struct Deadline {
  DeadlineOptions options;
  Task<void> operator()(RequestContext& ctx) const { return bound(options, ctx); }
};

}  // namespace

Handler deadline(DeadlineOptions options) {
  if (options.header.empty()) throw std::invalid_argument("DeadlineOptions::header: must not be empty");
  if (options.max.count() <= 0) throw std::invalid_argument("DeadlineOptions::max: must be positive");
  return Handler("khz::middleware::deadline", Deadline{std::move(options)}).onion();
}

}  // namespace khz::middleware

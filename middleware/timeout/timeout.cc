// SPDX-License-Identifier: Apache-2.0
#include <khz/middleware/timeout.h>

#include <khz/app/request_context.h>
#include <khz/common/exception_text.h>
#include <khz/common/log.h>

#include <exception>
#include <stdexcept>
#include <string>

namespace khz::middleware {
namespace {

Task<void> limit(TimeoutOptions o, RequestContext& ctx) {
  DeadlineOutcome outcome = co_await ctx.next_with_deadline(o.after);
  if (!outcome.expired) {
    if (outcome.exception) std::rethrow_exception(outcome.exception);
    co_return;
  }
  const std::string_view route = ctx.full_path().empty() ? ctx.path() : ctx.full_path();
  if (outcome.exception) {
    KHZ_LOG(debug, "timeout: " << ctx.method() << " " << route << " threw after its deadline: "
                               << exception_text(outcome.exception));
  }
  if (ctx.is_streaming()) {
    KHZ_LOG(info, "timeout: " << ctx.method() << " " << route << " passed its " << o.after.count()
                              << " ms deadline after its response began streaming; left as is");
    co_return;
  }
  const int status = outcome.interrupted_wait ? o.wait_status : o.status;
  KHZ_LOG(info, "timeout: " << ctx.method() << " " << route << " passed its " << o.after.count() << " ms deadline; "
                            << status);
  ctx.discard_response(status);
  ctx.response().set_body(status == 504   ? "504 gateway timeout"
                          : status == 503 ? "503 service unavailable"
                                          : std::to_string(status),
                          "text/plain; charset=utf-8");
}

struct Timeout {
  TimeoutOptions options;
  Task<void> operator()(RequestContext& ctx) const { return limit(options, ctx); }
};

}  // namespace

Handler timeout(TimeoutOptions options) {
  if (options.after.count() <= 0) throw std::invalid_argument("TimeoutOptions::after: must be positive");
  for (int s : {options.status, options.wait_status}) {
    if (s < 500 || s > 599) throw std::invalid_argument("TimeoutOptions: status " + std::to_string(s) + " is not 5xx");
  }
  return Handler("khz::middleware::timeout", Timeout{options}).onion();
}

}  // namespace khz::middleware

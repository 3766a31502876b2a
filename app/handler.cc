// SPDX-License-Identifier: Apache-2.0
// only_when: a handler run for some requests only (handler.h).
#include <khz/app/handler.h>
#include <khz/app/request_context.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace khz {
namespace {

struct OnlyWhenPlain {
  std::function<bool(RequestContext&)> applies;
  std::function<void(RequestContext&)> handler;
  void operator()(RequestContext& ctx) const {
    if (applies(ctx)) handler(ctx);
  }
};

struct OnlyWhenCoroutine {
  std::function<bool(RequestContext&)> applies;
  std::function<Task<void>(RequestContext&)> handler;
  Task<void> operator()(RequestContext& ctx) const {
    if (applies(ctx)) co_await handler(ctx);
  }
};

}  // namespace

Handler only_when(std::function<bool(RequestContext&)> applies, Handler handler) {
  if (!applies) throw std::invalid_argument("only_when: no predicate");
  std::string name = "only_when(" + handler.name_ + ")";
  if (handler.is_coroutine()) {
    return Handler(std::move(name), OnlyWhenCoroutine{std::move(applies), std::move(handler.coroutine_)});
  }
  return Handler(std::move(name), OnlyWhenPlain{std::move(applies), std::move(handler.plain_)});
}

}  // namespace khz

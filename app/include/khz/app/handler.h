// SPDX-License-Identifier: Apache-2.0
// khz::Handler: a handler or a middleware (they are the same thing, as in Hertz): any callable
// taking RequestContext& and returning void (plain) or khz::Task<> (a coroutine).
//
//   void ping(khz::RequestContext& ctx) { ctx.json(200, khz::H{{"message", "pong"}}); }
//   khz::Task<> timing(khz::RequestContext& ctx) {
//     auto t0 = std::chrono::steady_clock::now();
//     co_await ctx.next();                          // the inner layers of the onion
//     ctx.set_header("X-Elapsed-Us", ...);
//   }
//
// A plain handler runs directly: it pays nothing for the coroutine machinery.
//
// An onion layer: a coroutine middleware that runs the rest of the chain only through its own
// co_await ctx.next() (timing, recovery, tracing) can say so, and saves a coroutine frame per
// request (next() hands it the rest directly instead of through a frame that would go on after
// it). When such a layer returns without calling next(), the chain ends there, as after abort():
//   server.use(khz::Handler("timing", timing).onion());
//
// only_when(applies, handler): `handler` runs for the requests `applies` accepts; for the
// others it is skipped and the chain goes on. A middleware for some requests only:
//   server.use(khz::only_when([](khz::RequestContext& c) { return c.header("Host") == "admin.example"; },
//                             khz::middleware::basic_auth({...})));
#pragma once

#include <khz/common/task.h>

#include <concepts>
#include <functional>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

namespace khz {

class RequestContext;

namespace detail {
std::string demangle(const char* mangled);
}

template <class F>
concept PlainHandler = std::invocable<F&, RequestContext&> &&
                       std::same_as<std::invoke_result_t<F&, RequestContext&>, void>;
template <class F>
concept CoroutineHandler = std::invocable<F&, RequestContext&> &&
                           std::same_as<std::invoke_result_t<F&, RequestContext&>, Task<void>>;

class Handler {
 public:
  template <class F>
    requires PlainHandler<F> || CoroutineHandler<F>
  Handler(F f) : name_(detail::demangle(typeid(F).name())) {  // NOLINT: implicit by design
    if constexpr (CoroutineHandler<F>) {
      coroutine_ = std::move(f);
    } else {
      plain_ = std::move(f);
    }
  }

  // The same, with an explicit name for routes() listings.
  template <class F>
  Handler(std::string name, F f) : Handler(std::move(f)) { name_ = std::move(name); }

  // Marks a coroutine layer as an onion layer (see above); no effect on a plain handler.
  Handler onion() && noexcept {
    onion_ = true;
    return std::move(*this);
  }

  bool is_coroutine() const noexcept { return static_cast<bool>(coroutine_); }
  bool is_onion() const noexcept { return onion_ && is_coroutine(); }
  std::string_view name() const noexcept { return name_; }

 private:
  friend class RequestContext;
  friend Handler only_when(std::function<bool(RequestContext&)> applies, Handler handler);
  std::function<void(RequestContext&)> plain_;
  std::function<Task<void>(RequestContext&)> coroutine_;
  std::string name_;
  bool onion_ = false;
};

using HandlerChain = std::vector<Handler>;

// `handler`, run only for the requests `applies` returns true for (called on the request's
// loop, before `handler`); the others pass on to the rest of the chain. Its name in routes()
// listings: "only_when(<handler's name>)".
Handler only_when(std::function<bool(RequestContext&)> applies, Handler handler);

}  // namespace khz

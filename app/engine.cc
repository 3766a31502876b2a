// SPDX-License-Identifier: Apache-2.0
#include <khz/app/engine.h>
#include <khz/common/log.h>
#include <khz/route/path.h>

#include <algorithm>
#include <stdexcept>

namespace khz {
namespace {

bool is_method_char(char c) { return c >= 'A' && c <= 'Z'; }  // Hertz: ^[A-Z]+$

void default_not_found(RequestContext& ctx) { ctx.string(404, "404 page not found"); }
void default_not_allowed(RequestContext& ctx) { ctx.string(405, "405 method not allowed"); }

}  // namespace

std::string RouteGroup::join(std::string_view relative) const {
  if (relative.empty()) return prefix_;
  std::string joined = route::clean_path(prefix_ + "/" + std::string(relative));
  if (relative.back() == '/' && joined.back() != '/') joined.push_back('/');
  return joined;
}

void RouteGroup::add_route(std::string_view method, std::string path, HandlerChain chain) {
  engine_->register_route(method, std::move(path), std::move(chain));
}

Engine::Engine(EngineOptions options) : RouteGroup(this, "/", {}), options_(options) { rebuild_fallbacks(); }
Engine::~Engine() = default;

void Engine::rebuild_fallbacks() {
  no_route_chain_ = middleware_;
  if (no_route_user_.empty()) no_route_chain_.emplace_back(&default_not_found);
  else no_route_chain_.insert(no_route_chain_.end(), no_route_user_.begin(), no_route_user_.end());
  no_method_chain_ = middleware_;
  if (no_method_user_.empty()) no_method_chain_.emplace_back(&default_not_allowed);
  else no_method_chain_.insert(no_method_chain_.end(), no_method_user_.begin(), no_method_user_.end());
}

Engine::MethodTree* Engine::tree_for(std::string_view method) noexcept {
  for (auto& t : trees_) {
    if (t.method == method) return &t;
  }
  return nullptr;
}

void Engine::register_route(std::string_view method, std::string path, HandlerChain chain) {
  if (method.empty() || !std::all_of(method.begin(), method.end(), is_method_char)) {
    throw std::invalid_argument("route '" + path + "': bad method '" + std::string(method) +
                                "' (want upper-case letters, such as GET)");
  }
  if (path.empty() || path.front() != '/') {
    throw std::invalid_argument("route '" + path + "': path must begin with '/'");
  }
  std::string handler_name(chain.back().name());
  MethodTree* t = tree_for(method);
  if (t == nullptr) {
    trees_.push_back(MethodTree{std::string(method), {}});
    t = &trees_.back();
    try {
      t->tree.add(path, Route{std::move(chain)});
    } catch (...) {
      trees_.pop_back();
      throw;
    }
  } else {
    t->tree.add(path, Route{std::move(chain)});
  }
  max_params_ = std::max(max_params_, t->tree.max_params());
  route_list_.push_back(RouteInfo{std::string(method), std::move(path), std::move(handler_name)});
}

std::vector<RouteInfo> Engine::routes() const { return route_list_; }

void Engine::dispatch(RequestContext& ctx) {
  Request& req = ctx.request();
  std::string_view path = req.path();
  MethodTree* t = tree_for(req.method());
  if (t != nullptr) {
    auto match = t->tree.find(path, ctx.params_);
    if (match.value != nullptr) {
      ctx.chain_ = &match.value->chain;
      ctx.full_path_ = match.pattern;
      return;
    }
    if (match.trailing_slash_redirect && options_.redirect_trailing_slash && req.method() != "CONNECT" &&
        path != "/") {
      // Hertz: 301 for GET, 307 for the other methods (they must keep their body).
      std::string location(path);
      if (location.size() > 1 && location.back() == '/') location.pop_back(); else location.push_back('/');
      if (!req.query().empty()) location.append("?").append(req.query());
      ctx.redirect(req.method() == "GET" ? 301 : 307, location);
      ctx.chain_ = nullptr;
      return;
    }
  }
  ctx.params_.clear();
  if (options_.handle_method_not_allowed) {
    std::string allow;
    route::Params scratch;
    for (auto& other : trees_) {
      if (other.method == req.method()) continue;
      if (other.tree.find(path, scratch).value != nullptr) {
        if (!allow.empty()) allow += ", ";
        allow += other.method;
      }
    }
    if (!allow.empty()) {
      ctx.response().headers().set("Allow", allow);
      ctx.chain_ = &no_method_chain_;
      return;
    }
  }
  ctx.chain_ = &no_route_chain_;
}

Task<void> Engine::serve(Exchange& exchange) {
  if (!exchange.core_state) {
    auto ctx = std::make_unique<RequestContext>();
    ctx->params_.reserve(max_params_);
    exchange.core_state = std::move(ctx);
  }
  auto& ctx = static_cast<RequestContext&>(*exchange.core_state);
  ctx.reset(exchange);
  std::string error;
  try {
    dispatch(ctx);
    co_await ctx.next();
  } catch (const std::exception& e) {
    error = e.what();
  } catch (...) {
    error = "non-standard exception";
  }
  if (!error.empty()) {
    KHZ_LOG(error, "handler for " << exchange.request.method() << " " << exchange.request.path()
                                  << " threw: " << error);
    if (ctx.is_streaming()) {
      exchange.failed = true;
    } else {
      exchange.response.clear();
      exchange.response.set_status(500);
      exchange.response.set_body("500 internal server error", "text/plain; charset=utf-8");
    }
  }
}

}  // namespace khz

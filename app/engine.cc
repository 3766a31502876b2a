// SPDX-License-Identifier: Apache-2.0
#include <khz/app/engine.h>
#include <khz/common/log.h>
#include <khz/common/tick_clock.h>
#include <khz/protocol/response.h>
#include <khz/route/path.h>

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <string>

#include "metrics/server_instruments.h"

namespace khz {
namespace {

bool is_method_char(char c) { return c >= 'A' && c <= 'Z'; }  // Hertz: ^[A-Z]+$

// RFC 9110 §9.3 and RFC 5789 (PATCH): the methods every server recognises.
bool is_standard_method(std::string_view m) noexcept {
  for (std::string_view s : {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}) {
    if (m == s) return true;
  }
  return false;
}

std::string_view fallback_body(int status) noexcept {
  switch (status) {
    case 404: return "404 page not found";
    case 405: return "405 method not allowed";
    default: return "501 not implemented";
  }
}

}  // namespace

std::string RouteGroup::join(std::string_view relative) const {
  if (relative.empty()) return prefix_;
  std::string joined = route::clean_path(prefix_ + "/" + std::string(relative));
  if (relative.back() == '/' && joined.back() != '/') joined.push_back('/');
  return joined;
}

void RouteGroup::add_route(std::string_view method, std::string path, HandlerChain chain,
                           std::shared_ptr<RouteBodySettings> settings) {
  if (max_body_bytes_ != 0 && settings->max_bytes == 0) {
    settings->max_bytes = max_body_bytes_;
    engine_->has_body_settings_ = true;
  }
  engine_->register_route(method, std::move(path), std::move(chain), std::move(settings));
}

RouteHandle& RouteHandle::stream_body(std::size_t max_bytes) {
  settings_->stream = true;
  settings_->max_bytes = max_bytes;
  engine_->has_body_settings_ = true;
  return *this;
}

RouteHandle& RouteHandle::max_body_bytes(std::size_t max_bytes) {
  settings_->max_bytes = max_bytes;
  engine_->has_body_settings_ = true;
  return *this;
}

Engine::Engine(EngineOptions options)
    : RouteGroup(this, "/", {}), options_(std::move(options)), offload_pool_(options_.offload) {
  TickClock::calibrate();  // once per process, here rather than on a request (after_response's durations)
  const int status = options_.handler_error.status;
  if (status < 400 || status > 599) {
    throw std::invalid_argument("EngineOptions::handler_error.status " + std::to_string(status) +
                                ": want an error status, 400-599");
  }
  // Resolve the defaults once, so an answer costs no formatting.
  if (!options_.handler_error.body) {
    std::string body = std::to_string(status) + " " + std::string(reason_phrase(status));
    std::transform(body.begin(), body.end(), body.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
    options_.handler_error.body = std::move(body);
  }
  if (options_.handler_error.content_type.empty()) {
    options_.handler_error.content_type = "text/plain; charset=utf-8";
  }
  rebuild_fallbacks();
}
Engine::~Engine() = default;

void Engine::rebuild_fallbacks() {
  // Hertz's serveError: the engine's middleware and the user's handlers run with the status
  // preset; the default body is added afterwards if nobody wrote one.
  no_route_chain_ = middleware_;
  no_route_chain_.insert(no_route_chain_.end(), no_route_user_.begin(), no_route_user_.end());
  no_method_chain_ = middleware_;
  no_method_chain_.insert(no_method_chain_.end(), no_method_user_.begin(), no_method_user_.end());
}

Engine::MethodTree* Engine::tree_for(std::string_view method) noexcept {
  for (auto& t : trees_) {
    if (t.method == method) return &t;
  }
  return nullptr;
}

void Engine::register_route(std::string_view method, std::string path, HandlerChain chain,
                            std::shared_ptr<RouteBodySettings> settings) {
  if (method.empty() || !std::all_of(method.begin(), method.end(), is_method_char)) {
    throw std::invalid_argument("route '" + path + "': bad method '" + std::string(method) +
                                "' (want upper-case letters, such as GET)");
  }
  if (path.empty() || path.front() != '/') {
    throw std::invalid_argument("route '" + path + "': path must begin with '/'");
  }
  std::string handler_name(chain.back().name());
  const auto route_id = static_cast<std::uint32_t>(route_list_.size() + 1);
  MethodTree* t = tree_for(method);
  if (t == nullptr) {
    trees_.push_back(MethodTree{std::string(method), {}});
    t = &trees_.back();
    try {
      t->tree.add(path, Route{std::move(chain), settings, route_id});
    } catch (...) {
      trees_.pop_back();
      throw;
    }
  } else {
    t->tree.add(path, Route{std::move(chain), settings, route_id});
  }
  if (instruments_) instruments_->add_route(route_id, std::string(method), path);
  max_params_ = std::max(max_params_, t->tree.max_params());
  route_list_.push_back(RouteInfo{std::string(method), std::move(path), std::move(handler_name)});
}

std::vector<RouteInfo> Engine::routes() const { return route_list_; }

namespace {

// A path routes as is unless it has an escape, an empty segment or a dot segment.
bool needs_normalising(std::string_view p) noexcept {
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '%') return true;
    if (p[i] == '/' && i + 1 < p.size() && (p[i + 1] == '/' || p[i + 1] == '.')) return true;
  }
  return false;
}

bool has_extra_slash_or_dot(std::string_view p) noexcept {
  for (std::size_t i = 0; i + 1 < p.size(); ++i) {
    if (p[i] == '/' && (p[i + 1] == '/' || p[i + 1] == '.')) return true;
  }
  return false;
}

}  // namespace

std::string_view Engine::routing_path(const Request& req, std::string& scratch) const {
  std::string_view path = req.path();
  if (!options_.use_raw_path) {
    // A clean path (the usual case) has no extra slash or dot segment either: one scan.
    if (!needs_normalising(path)) return path;
    // As Hertz's URI.Path(): decoded (a malformed escape stays as it is), then cleaned.
    auto decoded = route::percent_decode(path);
    scratch = route::clean_path(decoded ? std::string_view(*decoded) : path);
    path = scratch;
  }
  if (options_.remove_extra_slash && has_extra_slash_or_dot(path)) {
    scratch = route::clean_path(path);
    path = scratch;
  }
  return path;
}

BodyPolicy Engine::body_policy(Exchange& exchange) {
  if (!has_body_settings_) return {};
  const Request& req = exchange.request;
  MethodTree* t = tree_for(req.method());
  if (t == nullptr) return {};
  std::string scratch;
  thread_local route::Params params;
  auto match = t->tree.find(routing_path(req, scratch), params);
  if (match.value == nullptr || !match.value->body) return {};
  return BodyPolicy{match.value->body->stream, match.value->body->max_bytes};
}

namespace {

// A byte allowed in a forwarded prefix: RFC 3986 pchar or '/', less ',' (a proxy may join
// several values with commas). No backslash, '?', '#', space, control or non-ASCII byte.
bool is_prefix_char(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '/': case '-': case '.': case '_': case '~': case '%': case '!': case '$': case '&':
    case '\'': case '(': case ')': case '*': case '+': case ';': case '=': case ':': case '@':
      return true;
    default:
      return false;
  }
}

// The X-Forwarded-Prefix to put before a redirect's path, without a trailing '/'; "" when
// there is none or it is not a clean absolute path (see EngineOptions::redirect_forwarded_prefix).
// Starting with one '/' and holding no "//" keeps the Location a path on this origin: it can
// never read as a scheme, a network-path reference ("//evil.example") or, with a backslash,
// as one that browsers repair into it ("/\\evil.example").
std::string_view forwarded_prefix(const Request& req) {
  const HeaderMap& headers = req.headers();
  if (headers.count("X-Forwarded-Prefix") != 1) return {};  // absent, or ambiguous
  std::string_view prefix = headers.get("X-Forwarded-Prefix");
  if (prefix.empty() || prefix.front() != '/') return {};
  if (!std::all_of(prefix.begin(), prefix.end(), is_prefix_char)) return {};
  if (route::clean_path(prefix) != prefix) return {};  // "//", "." or ".." segments
  if (prefix.back() == '/') prefix.remove_suffix(1);   // "/" adds nothing; "/api/" is "/api"
  return prefix;
}

}  // namespace

void Engine::redirect_to(RequestContext& ctx, std::string_view path, bool keep_query) const {
  const Request& req = ctx.request();
  std::string location;
  if (options_.redirect_forwarded_prefix) location = forwarded_prefix(req);
  location.append(path);
  if (keep_query && !req.query().empty()) location.append("?").append(req.query());
  ctx.redirect(req.method() == "GET" ? 301 : 307, location);
  ctx.chain_ = nullptr;
}

// Hertz's UnescapePathValues: each value as Go's url.QueryUnescape decodes it ('+' is a space,
// %2F a '/'), or as it was when an escape is malformed. A value without '%' or '+' is left as
// a view into the path, so such a lookup allocates nothing; a decoded one goes to the
// request's arena (never longer than the raw text; warm after the first such request).
void Engine::unescape_params(RequestContext& ctx) {
  for (std::size_t i = 0; i < ctx.params_.size(); ++i) {
    const std::string_view raw = ctx.params_[i].value;
    if (!route::needs_query_unescape(raw)) continue;
    char* out = ctx.request().arena().allocate(raw.size());
    if (auto n = route::query_unescape_to(raw, out)) ctx.params_.set_value(i, std::string_view(out, *n));
  }
}

int Engine::dispatch(RequestContext& ctx) {
  const Request& req = ctx.request();
  std::string_view path = routing_path(ctx.request(), ctx.routed_path_);
  // RFC 9112 §3.2.1: an origin-form path begins with '/'.
  if (path.empty() || path.front() != '/') {
    ctx.string(400, "400 bad request");
    ctx.chain_ = nullptr;
    return 0;
  }
  if (MethodTree* t = tree_for(req.method())) {
    auto match = t->tree.find(path, ctx.params_);
    if (match.value != nullptr) {
      if (options_.use_raw_path && options_.unescape_path_values) unescape_params(ctx);
      ctx.chain_ = &match.value->chain;
      ctx.full_path_ = match.pattern;
      ctx.route_id_ = match.value->id;
      return 0;
    }
    if (req.method() != "CONNECT" && path != "/") {
      if (match.trailing_slash_redirect && options_.redirect_trailing_slash) {
        std::string target(path);
        if (target.size() > 1 && target.back() == '/') target.pop_back(); else target.push_back('/');
        redirect_to(ctx, target, true);
        return 0;
      }
      if (options_.redirect_fixed_path) {
        if (auto fixed = t->tree.find_case_insensitive(route::clean_path(path), true)) {
          redirect_to(ctx, *fixed, false);  // as Hertz: the fixed path alone, no query
          return 0;
        }
      }
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
      return 405;
    }
  }
  ctx.chain_ = &no_route_chain_;
  // RFC 9110 §9.1: a method the server does not recognise (not a standard one, and no route
  // registered for it) is 501; the request was framed, so the connection stays usable.
  return is_standard_method(req.method()) ? 404 : 501;
}

void Engine::answer_unavailable(RequestContext& ctx) {
  ctx.discard_response(503);
  ctx.response().set_body("503 service unavailable", "text/plain; charset=utf-8");
}

void Engine::answer_handler_error(RequestContext& ctx, const std::exception_ptr& error) const {
  const HandlerErrorOptions& answer = options_.handler_error;
  Response& response = ctx.response();
  auto reset = [&] { ctx.discard_response(answer.status); };
  reset();
  if (answer.render) {
    try {
      answer.render(ctx, error);
      return;
    } catch (const std::exception& e) {
      KHZ_LOG(error, "handler_error.render threw: " << e.what());
    } catch (...) {
      KHZ_LOG(error, "handler_error.render threw a non-standard exception");
    }
    reset();
  }
  response.set_body(*answer.body, answer.content_type);
}

void Engine::load_templates(std::string directory, TemplateOptions options) {
  templates_ = std::make_shared<const Templates>(std::move(directory), options);
}

Task<void> Engine::serve(Exchange& exchange) {
  if (!exchange.core_state) {
    auto ctx = std::make_unique<RequestContext>();
    ctx->params_.reserve(max_params_);
    ctx->pool_ = &offload_pool_;
    ctx->engine_ = this;
    ctx->form_options_ = &options_.form;
    exchange.core_state = std::move(ctx);
  }
  auto& ctx = static_cast<RequestContext&>(*exchange.core_state);
  ctx.reset(exchange);
  ctx.route_id_ = 0;
  ServerInstruments* const instruments = instruments_.get();
  std::uint64_t started = 0;
  if (instruments != nullptr) [[unlikely]] started = instruments->begin(exchange.received_ticks);
  // The handler's Task is over when this frame ends (or is destroyed): from then on the
  // context is out of bounds for the code that borrowed it (see RequestContext's lifetime checks).
  struct EndOfRequest {
    RequestContext& ctx;
    ~EndOfRequest() {
      ctx.end_filters();  // the exchange gets its own body writer back
      ctx.serving_ = false;
      ctx.end_form();  // uploads' temp files go now, however the handler ended
    }
  } end_of_request{ctx};
  std::exception_ptr thrown;
  std::string error;
  int fallback_status = 0;
  bool unavailable = false;  // an OffloadError: 503
  try {
    bool routed = true;
    if (!pre_chain_.empty()) {  // pre(): before routing; may rewrite the method or the target
      ctx.chain_ = &pre_chain_;
      Task<void> pre = ctx.next();
      pre.set_outbound_fields(&ctx.outbound_);
      co_await pre;
      ctx.index_ = -1;
      ctx.query_parsed_ = false;  // the target may have changed
      routed = !ctx.aborted_;
      if (!routed) ctx.chain_ = nullptr;  // answered before routing
    }
    if (routed) {
      fallback_status = dispatch(ctx);
      if (fallback_status != 0) ctx.set_status(fallback_status);
      Task<void> chain = ctx.next();
      chain.set_outbound_fields(&ctx.outbound_);  // the client's ambient header fields
      co_await chain;
    }
  } catch (const OffloadError& e) {
    thrown = std::current_exception();
    error = e.what();
    unavailable = true;
  } catch (const std::exception& e) {
    thrown = std::current_exception();
    error = e.what();
  } catch (...) {
    thrown = std::current_exception();
    error = "non-standard exception";
  }
  if (ctx.sse_) co_await ctx.end_sse();  // a heartbeat may still be writing
  if (fallback_status != 0 && !thrown && exchange.response.status() == fallback_status &&
      exchange.response.body().empty() && !ctx.is_streaming()) {
    exchange.response.set_body(fallback_body(fallback_status), "text/plain; charset=utf-8");
  }
  if (thrown) {
    if (unavailable) {  // a full pool is worth a warning; a client that left is not
      if (exchange.cancel_signal != nullptr && exchange.cancel_signal->triggered()) {
        KHZ_LOG(debug, "handler for " << exchange.request.method() << " " << exchange.request.path() << ": " << error);
      } else {
        KHZ_LOG(warn, "handler for " << exchange.request.method() << " " << exchange.request.path()
                                     << ": " << error << "; 503");
      }
    } else {
      KHZ_LOG(error, "handler for " << exchange.request.method() << " " << exchange.request.path()
                                    << " threw: " << error);
    }
    if (ctx.is_streaming()) {
      exchange.failed = true;  // the head is out: cut the stream off rather than end it cleanly
    } else if (unavailable) {
      answer_unavailable(ctx);
    } else {
      answer_handler_error(ctx, thrown);
    }
  }
  if (ctx.has_response_filters()) co_await ctx.end_response_filters();
  if (instruments != nullptr) [[unlikely]] {
    instruments->end(started, ctx.route_id_, exchange.request.method(), exchange.response.status(),
                     exchange.request.version(), exchange.request.body().size(),
                     ctx.is_streaming() ? 0 : exchange.response.content_length());
  }
  ctx.run_after_response(thrown != nullptr);
}

void Engine::set_instruments(std::unique_ptr<ServerInstruments> instruments) {
  instruments_ = std::move(instruments);
  if (!instruments_) return;
  for (std::uint32_t id = 1; id <= route_list_.size(); ++id) {
    instruments_->add_route(id, route_list_[id - 1].method, route_list_[id - 1].path);
  }
}

}  // namespace khz

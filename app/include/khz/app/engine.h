// SPDX-License-Identifier: Apache-2.0
// khz::Engine: routes, groups, middleware and the fallbacks, as in Hertz's route.Engine.
// It implements ServerCore, so every protocol server (HTTP/1.1, HTTP/2) hands it exchanges.
//
//   khz::Engine engine;
//   engine.use(logger);                                    // middleware for routes added after
//   engine.get("/ping", [](khz::RequestContext& c) { c.string(200, "pong"); });
//   auto v1 = engine.group("/v1", auth);                    // prefix + group middleware
//   v1.post("/users", create_user);
//   engine.no_route([](khz::RequestContext& c) { c.string(404, "nothing here"); });
//
// Registration throws std::invalid_argument for a conflicting or malformed route, naming both
// routes. Register everything before serving; the route table is then read-only.
// Handler exceptions become a logged 500 at exactly one place: Engine::serve (its answer is
// set by EngineOptions::handler_error; an OffloadError, from RequestContext::offload, is a 503).
// The Engine owns the worker pool RequestContext::offload runs jobs on; its threads start on
// the first offload and are joined when the Engine (or the Server) stops.
#pragma once

#include <khz/app/handler.h>
#include <khz/app/request_context.h>
#include <khz/app/static_fs.h>
#include <khz/app/templates.h>
#include <khz/protocol/server_core.h>
#include <khz/route/radix_tree.h>

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace khz {

class Engine;
class ServerInstruments;  // app/metrics/server_instruments.h

// How a route takes request bodies; set through the handle a registration returns:
//   engine.post("/upload", upload).stream_body();          // read as it arrives (ctx.read_body_chunk)
//   engine.put("/avatar", save).max_body_bytes(16 << 20);  // buffered, with a limit of its own
struct RouteBodySettings {
  bool stream = false;
  std::size_t max_bytes = 0;  // 0: the server's max_body_bytes
};

class RouteHandle {
 public:
  // The route's handlers get the request body as it arrives (RequestContext::read_body_chunk)
  // instead of whole in body(); at most `max_bytes` of it (default: no limit).
  RouteHandle& stream_body(std::size_t max_bytes = BodyPolicy::unlimited);
  // The largest body this route accepts (413 above it), instead of the server's max_body_bytes.
  RouteHandle& max_body_bytes(std::size_t max_bytes);

 private:
  friend class RouteGroup;
  RouteHandle(Engine* engine, std::shared_ptr<RouteBodySettings> settings)
      : engine_(engine), settings_(std::move(settings)) {}
  Engine* engine_;
  std::shared_ptr<RouteBodySettings> settings_;
};

// The answer to a handler that threw (Engine::serve logs the exception first). It is built on
// the response as the chain left it: the status, the body, the trailers and the headers that
// describe that body or its framing (Content-Type, -Length, -Encoding, -Language, -Location,
// -Range, -Disposition, Transfer-Encoding, Trailer, ETag, Last-Modified) are dropped; every
// other header stays, so what middleware set before `co_await ctx.next()` (a request id, CORS)
// reaches the client. Once a streamed response has begun (ctx.write) nothing can be
// replaced: the stream is cut off instead (HTTP/1.1: the connection closes).
//
//   khz::Engine engine({.handler_error = {.status = 503, .body = "try again later"}});
//   khz::Engine quiet({.handler_error = {.body = ""}});      // a 500 with no body
//   khz::Engine api({.handler_error = {.render = [](khz::RequestContext& ctx, std::exception_ptr) {
//     ctx.json(500, khz::H{{"error", "internal"}, {"request_id", std::string(ctx.header("X-Request-Id"))}});
//   }}});
struct HandlerErrorOptions {
  // The status of the answer: 400-599 (another throws std::invalid_argument when the Engine is
  // built). Default: 500.
  int status = 500;
  // The body. Unset (the default): the status and its reason phrase in lower case, as in
  // "500 internal server error" (a set "" sends no body).
  std::optional<std::string> body{};
  // The body's Content-Type. Empty (the default): "text/plain; charset=utf-8".
  std::string content_type{};
  // When set, writes the answer instead of `body`: called with the response already cleared as
  // above and its status set to `status`, and with the exception (rethrow it to tell kinds
  // apart). It runs on the loop and must not block or co_await. Should it throw, that is logged
  // and the answer of `body` and `content_type` goes out instead. Default: none.
  std::function<void(RequestContext&, std::exception_ptr)> render{};
};

// Options with Hertz's names and defaults. Routing works on the request path as follows:
//   use_raw_path = false: the percent-decoded, normalised path ("/a/../b%20c" routes as "/b c");
//   use_raw_path = true:  the path as received; then unescape_path_values decodes each param
//                         value as Hertz does (Go's url.QueryUnescape: "%2F" is '/', '+' a space;
//                         a value with a malformed escape stays as received);
//   remove_extra_slash:   clean the routing path first ("//a///b" routes as "/a/b").
// On a miss (not for CONNECT or "/"): redirect_trailing_slash (the Location keeps the query
// string), then redirect_fixed_path (case-insensitive lookup of the cleaned path; as in Hertz,
// the Location is the fixed path alone: the query string is dropped), both 301 for GET and 307
// for other methods; then handle_method_not_allowed (405 + Allow); else NoRoute (404).
struct EngineOptions {
  bool redirect_trailing_slash = true;
  bool redirect_fixed_path = false;
  bool handle_method_not_allowed = false;
  bool use_raw_path = false;
  bool unescape_path_values = true;
  bool remove_extra_slash = false;
  // Behind a trusted reverse proxy that mounts this service under a path prefix: trailing-slash
  // and fixed-path redirects put the request's X-Forwarded-Prefix before the path, so
  // "X-Forwarded-Prefix: /api" and a miss on "/users/" redirect to "/api/users" (Hertz always
  // does this for trailing-slash redirects; here it is opt-in). Default: off.
  // Caveat (open redirect): the header is whatever the client sent unless the proxy overwrites
  // it, so turn this on only behind a proxy that does. Even so, a prefix is used only when it is
  // one clean absolute path: it begins with '/', has no "//", "." or ".." segment, and holds
  // only RFC 3986 path characters (so no scheme, no backslash, '?', '#', ',', space, CR/LF or
  // other control byte); a field sent twice is not used either. Any other value is ignored and
  // the redirect goes to the path alone, so a forged header can at worst name another path on
  // this origin, never another site.
  bool redirect_forwarded_prefix = false;
  // What a handler's exception becomes (see HandlerErrorOptions). Default: a 500 with
  // "500 internal server error", keeping the headers middleware had set.
  HandlerErrorOptions handler_error{};
  // The worker pool behind RequestContext::offload: at most `threads` threads (none until the
  // first offload) and `max_queue` jobs waiting for one; beyond that offload fails (503).
  WorkerPoolOptions offload{};
  // Request forms (RequestContext::form, file, read_form): limits and where uploads are spooled.
  FormOptions form{};
};

class RouteGroup {
 public:
  // Adds middleware to this group: it wraps routes registered on the group afterwards.
  template <class... H>
  RouteGroup& use(H&&... handlers) {
    (middleware_.emplace_back(std::forward<H>(handlers)), ...);
    on_use();
    return *this;
  }

  // A nested group: this group's prefix, middleware and body limit, plus its own middleware.
  template <class... H>
  RouteGroup group(std::string_view relative_path, H&&... handlers) {
    RouteGroup g(engine_, join(relative_path), middleware_);
    g.max_body_bytes_ = max_body_bytes_;
    (g.middleware_.emplace_back(std::forward<H>(handlers)), ...);
    return g;
  }

  // The largest request body the routes registered on this group afterwards (and on groups
  // nested in it) accept, instead of the server's max_body_bytes: a longer announced body is
  // refused with 413 before it is read (no 100 Continue), a longer chunked one when it passes
  // the limit. A route's own .max_body_bytes(n) or .stream_body(n) takes precedence.
  //   auto uploads = server.group("/uploads").max_body_bytes(64 << 20);
  //   auto api = server.group("/api").max_body_bytes(64 << 10);
  RouteGroup& max_body_bytes(std::size_t max_bytes) {
    max_body_bytes_ = max_bytes;
    return *this;
  }

  template <class... H> RouteHandle get(std::string_view p, H&&... h) { return handle("GET", p, std::forward<H>(h)...); }
  template <class... H> RouteHandle post(std::string_view p, H&&... h) { return handle("POST", p, std::forward<H>(h)...); }
  template <class... H> RouteHandle put(std::string_view p, H&&... h) { return handle("PUT", p, std::forward<H>(h)...); }
  template <class... H> RouteHandle del(std::string_view p, H&&... h) { return handle("DELETE", p, std::forward<H>(h)...); }
  template <class... H> RouteHandle patch(std::string_view p, H&&... h) { return handle("PATCH", p, std::forward<H>(h)...); }
  template <class... H> RouteHandle head(std::string_view p, H&&... h) { return handle("HEAD", p, std::forward<H>(h)...); }
  template <class... H> RouteHandle options(std::string_view p, H&&... h) { return handle("OPTIONS", p, std::forward<H>(h)...); }
  // A WebSocket endpoint (<khz/app/websocket.h>): a GET route (HTTP/1.1) and an extended
  // CONNECT route (HTTP/2, RFC 8441) that accept the opening handshake (ctx.websocket) and run
  // `handler` on the connection or the stream; the group's middleware runs before the
  // handshake (authentication, logging) as for any route. The handle is the GET route's.
  RouteHandle websocket(std::string_view p, WebSocketHandler handler, WebSocketOptions options = {});
  // Every common method: GET POST PUT PATCH HEAD OPTIONS DELETE CONNECT TRACE.
  template <class... H>
  RouteHandle any(std::string_view p, H&&... h) {
    HandlerChain chain = chain_with(std::forward<H>(h)...);
    auto settings = std::make_shared<RouteBodySettings>();
    for (std::string_view m : {"GET", "POST", "PUT", "PATCH", "HEAD", "OPTIONS", "DELETE", "CONNECT", "TRACE"}) {
      add_route(m, join(p), chain, settings);
    }
    return RouteHandle(engine_, std::move(settings));
  }
  // Any method name (upper-case token).
  template <class... H>
  RouteHandle handle(std::string_view method, std::string_view p, H&&... h) {
    auto settings = std::make_shared<RouteBodySettings>();
    add_route(method, join(p), chain_with(std::forward<H>(h)...), settings);
    return RouteHandle(engine_, std::move(settings));
  }

  // Serves the files under the folder `root` at `prefix` (<khz/app/static_fs.h>): GET and
  // HEAD on "prefix/*filepath", and 405 (Allow: GET, HEAD) for POST, PUT, PATCH and DELETE
  // there. Throws std::invalid_argument when `root` is not a directory.
  //   server.static_fs("/assets", "/srv/www", {.cache_control = "public, max-age=3600"});
  void static_fs(std::string_view prefix, std::string_view root, StaticOptions options = {});

  std::string_view base_path() const noexcept { return prefix_; }

 protected:
  RouteGroup(Engine* engine, std::string prefix, HandlerChain middleware)
      : engine_(engine), prefix_(std::move(prefix)), middleware_(std::move(middleware)) {}
  virtual void on_use() {}

  template <class... H>
  HandlerChain chain_with(H&&... h) {
    static_assert(sizeof...(H) > 0, "a route needs at least one handler");
    HandlerChain chain = middleware_;
    (chain.emplace_back(std::forward<H>(h)), ...);
    return chain;
  }
  std::string join(std::string_view relative) const;
  void add_route(std::string_view method, std::string path, HandlerChain chain,
                 std::shared_ptr<RouteBodySettings> settings);

  Engine* engine_;
  std::string prefix_;
  HandlerChain middleware_;
  std::size_t max_body_bytes_ = 0;  // 0: the server's
};

struct RouteInfo {
  std::string method{};
  std::string path{};
  std::string handler{};  // name of the last handler of the chain
};

class Engine : public RouteGroup, public ServerCore {
 public:
  explicit Engine(EngineOptions options = {});
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Handlers for requests that match no route (after the engine's middleware). Default: 404.
  template <class... H>
  void no_route(H&&... h) { no_route_user_ = HandlerChain{Handler(std::forward<H>(h))...}; rebuild_fallbacks(); }
  // Handlers for a path that exists under other methods (with handle_method_not_allowed). Default: 405.
  template <class... H>
  void no_method(H&&... h) { no_method_user_ = HandlerChain{Handler(std::forward<H>(h))...}; rebuild_fallbacks(); }

  // Handlers that run for every request BEFORE routing, in order, ahead of all use()
  // middleware: they may rewrite what the router sees, the method
  // (ctx.request().set_method("PUT")) or the target (ctx.request().set_target("/v2/users")),
  // or answer at once (ctx.abort_with_status(...), or ctx.abort() after setting the response:
  // then nothing is routed and no use() middleware runs). `co_await ctx.next()` in a pre
  // handler runs the pre handlers after it, not the route. full_path() and param() are empty
  // there; ctx.query() reads the target as it is then (it is read afresh after the rewrite).
  // The protocol server chooses the body's handling (.stream_body(), a route's
  // max_body_bytes) from the request as received, before pre handlers run. A throw is the
  // Engine's 500 as elsewhere; after_response hooks added here run as usual. Set before serving.
  //   server.pre(khz::middleware::method_override());
  template <class... H>
  void pre(H&&... handlers) {
    (pre_chain_.emplace_back(std::forward<H>(handlers)), ...);
  }

  // What RequestContext::reject answers with binding errors (a custom body, 422, ...); the
  // default answers errors.status() with an RFC 9457 application/problem+json body. Set before
  // serving.
  void set_bind_error_handler(BindErrorHandler handler) { bind_error_handler_ = std::move(handler); }
  const BindErrorHandler& bind_error_handler() const noexcept { return bind_error_handler_; }

  std::vector<RouteInfo> routes() const;
  const EngineOptions& engine_options() const noexcept { return options_; }
  // The pool RequestContext::offload uses (for metrics and tests: threads_started, pending).
  WorkerPool& offload_pool() noexcept { return offload_pool_; }

  // ---- HTML templates (RequestContext::html). Set before serving.
  // Loads every template under `directory` (<khz/app/templates.h>); throws
  // std::invalid_argument naming the file when one cannot be read or does not parse.
  //   server.load_templates("templates", {.reload = true});   // development: picks up edits
  void load_templates(std::string directory, TemplateOptions options = {});
  // Or a set made elsewhere (several engines may share one); nullptr: none.
  void set_templates(std::shared_ptr<const Templates> templates) noexcept { templates_ = std::move(templates); }
  // nullptr when none were loaded.
  const Templates* templates() const noexcept { return templates_.get(); }

  Task<void> serve(Exchange& exchange) override;
  BodyPolicy body_policy(Exchange& exchange) override;

  // The request instruments (<khz/app/metrics.h>; Server::enable_metrics turns them on):
  // null until then, and then one branch per request. Set before serving.
  void set_instruments(std::unique_ptr<ServerInstruments> instruments);
  ServerInstruments* instruments() const noexcept { return instruments_.get(); }

 private:
  friend class RouteGroup;
  friend class RouteHandle;
  struct Route {
    HandlerChain chain;
    std::shared_ptr<RouteBodySettings> body;
    std::uint32_t id = 0;  // 1-based, in registration order (route_list_[id - 1])
  };
  struct MethodTree {
    std::string method;
    route::RadixTree<Route> tree;
  };

  void on_use() override { rebuild_fallbacks(); }
  void rebuild_fallbacks();
  void register_route(std::string_view method, std::string path, HandlerChain chain,
                      std::shared_ptr<RouteBodySettings> settings);
  MethodTree* tree_for(std::string_view method) noexcept;
  // Picks the chain for ctx's request; returns the status a fallback chain presets (404/405),
  // or 0 for a matched route or a redirect.
  int dispatch(RequestContext& ctx);
  // The path routing uses for `req` (see EngineOptions); `scratch` holds it when it differs.
  std::string_view routing_path(const Request& req, std::string& scratch) const;
  static void unescape_params(RequestContext& ctx);
  // A 301 (GET) or 307 to `path`, with the request's query string when `keep_query`.
  void redirect_to(RequestContext& ctx, std::string_view path, bool keep_query) const;
  // Turns the response into the answer to a handler's exception (see HandlerErrorOptions).
  void answer_handler_error(RequestContext& ctx, const std::exception_ptr& error) const;
  // The answer to an OffloadError the handler let escape: 503.
  static void answer_unavailable(RequestContext& ctx);

  EngineOptions options_;
  std::vector<MethodTree> trees_;
  std::vector<RouteInfo> route_list_;
  HandlerChain pre_chain_;  // pre()
  HandlerChain no_route_user_;
  HandlerChain no_method_user_;
  HandlerChain no_route_chain_;
  HandlerChain no_method_chain_;
  std::size_t max_params_ = 0;
  bool has_body_settings_ = false;  // some route has RouteBodySettings other than the default
  BindErrorHandler bind_error_handler_;
  std::shared_ptr<const Templates> templates_;  // ctx.html's
  std::unique_ptr<ServerInstruments> instruments_;  // null: metrics off
  WorkerPool offload_pool_;  // last: stopped (joined) before the routes its jobs' handlers use go
};

}  // namespace khz

// SPDX-License-Identifier: Apache-2.0
// khz::RequestContext: everything a handler sees of one exchange, and the control of the
// middleware chain. One per connection, reset between requests.
//
//   server.get("/users/:id", [](khz::RequestContext& ctx) {
//     std::string_view id = ctx.param("id");
//     std::string_view fields = ctx.query("fields");
//     ctx.json(200, khz::H{{"id", std::string(id)}, {"fields", std::string(fields)}});
//   });
//
// Lifetimes: every string_view a getter returns is valid until the handler's Task completes,
// and so is the context itself: it is pooled per connection and reset for the next request.
// Work that outlives the handler (a spawned task, another thread) takes a RequestSnapshot
// (ctx.snapshot()): an owned copy of the request, safe to keep and to move across threads.
//
//   server.post("/orders/:user", [](khz::RequestContext& ctx) {
//     khz::spawn(audit(ctx.snapshot()));   // audit(khz::RequestSnapshot) owns what it reads
//     ctx.string(202, "accepted");
//   });
//
// Debug builds check this: when KHZ_DEBUG_LIFETIME is 1 (by default when NDEBUG is not
// defined; the KHZ_SANITIZE build turns it on too) every accessor of a context whose handler
// has returned aborts with "khz: RequestContext::header() called after its handler returned
// ...". With NDEBUG (Release) the checks are compiled out (RequestContext::lifetime_checks is
// false); the only trace left is a flag the Engine sets and clears once per request.
// Flow: co_await ctx.next() runs the rest of the chain (onion); a handler that does not call
// next() lets the chain continue after it returns; abort() stops the chain after the current
// handler. Threading: used on its connection's loop only.
//
// Blocking calls (database drivers, SDKs, file reads, seconds of CPU) go through offload():
// it is THE way to call a blocking library from a handler. The call runs on the Server's
// worker pool while the loop serves other connections, and the handler resumes on its own loop:
//
//   server.get("/users/:id", [&db](khz::RequestContext& ctx) -> khz::Task<> {
//     auto fetch = [&] { return db.find_user(ctx.param("id")); };   // a worker thread runs it
//     User user = co_await ctx.offload(fetch);                       // back on this loop
//     ctx.json(200, to_json(user));
//   });
#pragma once

#include <khz/app/bind.h>
#include <khz/app/body_filter.h>
#include <khz/app/form.h>
#include <khz/app/handler.h>
#include <khz/app/json.h>
#include <khz/app/sse.h>
#include <khz/app/static_fs.h>
#include <khz/app/websocket.h>
#include <khz/common/outbound_fields.h>
#include <khz/common/task.h>
#include <khz/common/worker_pool.h>
#include <khz/protocol/cookie.h>
#include <khz/protocol/error.h>
#include <khz/protocol/server_core.h>
#include <khz/protocol/urlencoded.h>
#include <khz/route/radix_tree.h>

#include <any>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// 1: RequestContext accessors abort when used after their handler returned (see above).
// Default: 1 without NDEBUG, else 0. The build sets it for khz and its users alike
// (CMake's KHZ_DEBUG_LIFETIME), so every translation unit agrees.
#ifndef KHZ_DEBUG_LIFETIME
#ifdef NDEBUG
#define KHZ_DEBUG_LIFETIME 0
#else
#define KHZ_DEBUG_LIFETIME 1
#endif
#endif

namespace khz {

class RequestContext;
class Engine;
namespace detail {
struct FilterState;
}

// Turns binding errors into the response (Engine::set_bind_error_handler); the default answers
// errors.status() with errors.problem_json() as application/problem+json.
using BindErrorHandler = std::function<void(RequestContext& ctx, const BindErrors& errors)>;

namespace detail {
// Logs what was misused and aborts (the debug lifetime check).
[[noreturn]] void request_context_used_after_handler(const char* accessor) noexcept;

// What binding reads from a request: path parameters, the decoded query, headers, cookies, the
// form and the body (app/bind/context_input.cc).
class ContextBindInput final : public BindInput {
 public:
  explicit ContextBindInput(RequestContext& ctx) noexcept : ctx_(ctx) {}
  std::size_t values(Source source, std::string_view name, Visit visit, void* state) override;
  std::string_view content_type() override;
  std::string_view body() override;
  std::string_view keep(std::string_view text) override;
  bool body_is_form() override;
  bool form_failed(std::string& message, int& status) override;

 private:
  RequestContext& ctx_;
};
}  // namespace detail

// An owned copy of a request, for work that outlives its handler (a spawned task, a job on
// another thread, a queue): every string is the snapshot's own, so it is valid as long as the
// snapshot, and the snapshot may be moved to and read on any thread (one thread at a time).
// Copying it copies every byte. Made by RequestContext::snapshot().
//
//   khz::Task<> audit(khz::RequestSnapshot req) {                  // by value: the task owns it
//     co_await khz::sleep_for(std::chrono::seconds(1));             // long after the handler returned
//     KHZ_LOG(info, req.method() << " " << req.path() << " id=" << req.param("id")
//                                << " ua=" << req.header("User-Agent") << " " << req.body().size() << " bytes");
//   }
struct RequestSnapshot {
  Request request{};  // method, target (path and raw query), version, headers, trailers, body
  std::vector<std::pair<std::string, std::string>> params{};  // path parameters, in pattern order
  std::vector<std::pair<std::string, std::string>> query_params{};  // decoded, in request order
  std::string full_path{};     // the route pattern that matched ("" when none did)
  std::string peer_address{};  // "host:port" of the client

  std::string_view method() const noexcept { return request.method(); }
  std::string_view path() const noexcept { return request.path(); }
  std::string_view header(std::string_view name) const noexcept { return request.header(name); }
  // The body as it was buffered: "" on a route registered with .stream_body().
  std::string_view body() const noexcept { return request.body(); }
  // A path parameter by name; "" when absent.
  std::string_view param(std::string_view key) const noexcept;
  // A query parameter, decoded; the first value; "" when absent.
  std::string_view query(std::string_view key) const noexcept;
};

// What an after-response hook learns of the finished exchange (RequestContext::after_response).
struct CompletedResponse {
  int status = 0;
  // The body: the buffered body's size, or the bytes sent through RequestContext::write.
  std::uint64_t body_bytes = 0;
  bool streamed = false;  // the body went out through RequestContext::write (or SSE)
  bool threw = false;     // the chain threw; the Engine's boundary answered (status is its answer)
  bool failed = false;    // a streamed response broke off: the peer sees it incomplete
  // From the call of after_response() that added this hook to the end of the chain.
  std::chrono::nanoseconds elapsed{};
};

// What RequestContext::next_with_deadline saw.
struct DeadlineOutcome {
  bool expired = false;           // the deadline passed before the inner layers returned
  bool interrupted_wait = false;  // when it passed, something watched the signal (an outbound
                                  // call of the khz client, usually, or the handler's own Watch)
  std::exception_ptr exception{};  // what the inner layers threw, if they did: rethrow it to
                                   // hand it to the Engine's boundary (or answer for it)
};

// An after-response hook: a plain function and the pointer it was registered with (a
// middleware passes its own options, which live as long as its Handler).
using ResponseHook = void (*)(RequestContext& ctx, const CompletedResponse& done, void* data);

class RequestContext : public ExchangeState {
 public:
  RequestContext();
  ~RequestContext() override;

  // Whether this build checks the context's lifetime (KHZ_DEBUG_LIFETIME; see the top).
  static constexpr bool lifetime_checks = KHZ_DEBUG_LIFETIME != 0;

  Request& request() noexcept { return check_live("request"), exchange_->request; }
  const Request& request() const noexcept { return check_live("request"), exchange_->request; }
  Response& response() noexcept { return check_live("response"), exchange_->response; }
  const Response& response() const noexcept { return check_live("response"), exchange_->response; }

  // ---- request
  std::string_view method() const noexcept { return check_live("method"), exchange_->request.method(); }
  std::string_view path() const noexcept { return check_live("path"), exchange_->request.path(); }
  // The :protocol of an HTTP/2 extended CONNECT (RFC 8441; "websocket"), whose route is
  // handle("CONNECT", path); "" for every other request, HTTP/1.1 included. See hijack().
  std::string_view connect_protocol() const noexcept {
    return check_live("connect_protocol"), exchange_->request.connect_protocol();
  }
  // The route pattern that matched ("/users/:id"); "" when none did.
  std::string_view full_path() const noexcept { return check_live("full_path"), full_path_; }
  // A path parameter by name; "" when absent.
  std::string_view param(std::string_view key) const noexcept;
  // Every path parameter, in pattern order.
  const route::Params& params() const noexcept { return check_live("params"), params_; }
  // A query parameter, percent-decoded ('+' is a space); first value; "" when absent.
  std::string_view query(std::string_view key);
  bool has_query(std::string_view key);
  // All values of a query parameter, decoded.
  std::vector<std::string_view> query_all(std::string_view key);
  std::string_view header(std::string_view name) const noexcept {
    return check_live("header"), exchange_->request.header(name);
  }
  // The whole request body; "" on a route registered with .stream_body() (see read_body_chunk).
  std::string_view body() const noexcept { return check_live("body"), exchange_->request.body(); }
  // The next piece of the request body as it arrives, or "" once it is complete; a piece is
  // valid until the next call. On a route registered with .stream_body() this reads from the
  // connection (the first call sends 100 Continue when the client waits for it), so the client
  // sends only as fast as the handler reads; elsewhere the buffered body comes as one piece.
  // Errors: protocol::errc::body_too_large, protocol::errc::malformed_body, or a transport
  // error such as the peer closing; the connection then closes after the response.
  //
  //   engine.post("/upload", [](khz::RequestContext& ctx) -> khz::Task<> {
  //     for (;;) {
  //       auto piece = co_await ctx.read_body_chunk();
  //       if (!piece) { ctx.abort_with_status(piece.error() == khz::protocol::errc::body_too_large ? 413 : 400); co_return; }
  //       if (piece->empty()) break;
  //       sink.write(*piece);
  //     }
  //     ctx.string(201, "stored");
  //   }).stream_body();
  Task<Result<std::string_view>> read_body_chunk();
  // True when the body arrives through read_body_chunk() rather than in body().
  bool body_streamed() const noexcept { return check_live("body_streamed"), exchange_->body_reader != nullptr; }
  // True when the request came over TLS (https); false over plain TCP, a Unix socket, or in
  // process (khz::testing). What a proxy in front says (X-Forwarded-Proto) is not looked at.
  bool is_tls() const noexcept {
    return check_live("is_tls"), exchange_->connection != nullptr && exchange_->connection->is_tls();
  }
  // "host:port" of the peer ("[v6]:port"; over a Unix domain socket "unix:", or "unix:/path"
  // when the client bound its socket to one); formatted on the first call.
  std::string_view peer_address() const;
  // Fires when the client goes away while the handler runs (HTTP/1.1: hangs up; HTTP/2: resets
  // the stream or the connection ends); null outside a protocol server (e.g. engine tests).
  // The HTTP client called from the handler watches it by itself and cancels its outbound call
  // (client::errc::cancelled); a handler doing long work of its own can watch it too:
  //   CancelSignal::Watch w(ctx.cancel_signal(), [](void* job) { static_cast<Job*>(job)->stop(); }, &job);
  // Inside next_with_deadline(), the deadline's signal (it also fires with the request's).
  CancelSignal* cancel_signal() const noexcept {
    return check_live("cancel_signal"), cancel_scope_ != nullptr ? cancel_scope_ : exchange_->cancel_signal;
  }

  // Adds a header field to every request the khz client makes from this handler's chain (the
  // handler, the middleware, and the coroutines they await; not a task spawned on its own),
  // unless that request sets the field itself: a request id, trace context. The set rides the
  // chain's Tasks as the cancel signal does (<khz/common/outbound_fields.h>) and is cleared
  // with the request.
  //   ctx.set_outbound_header("X-Request-ID", id);
  //   auto r = co_await client.get("http://inventory/items");   // sends X-Request-ID: id
  void set_outbound_header(std::string_view name, std::string_view value) {
    check_live("set_outbound_header");
    outbound_.set(name, value);
  }
  const OutboundFields& outbound_fields() const noexcept { return check_live("outbound_fields"), outbound_; }

  // An owned copy of the request (method, target, headers, trailers, the buffered body, path and
  // decoded query parameters, route pattern, peer address) for work that outlives the handler.
  // Costs a copy of every byte: take it only for such work.
  RequestSnapshot snapshot();

  // ---- binding and validation (<khz/app/bind.h>, <khz/app/fields.h>)
  // Binds path parameters, query, headers, cookies, form and JSON body to T through its field
  // list. Synchronous: on a .stream_body() route, read the form first (the body is otherwise
  // empty here). string_view members are valid until the handler's Task completes.
  template <Reflected T>
  Bound<T> bind() {
    check_live("bind");
    detail::ContextBindInput input(*this);
    return khz::bind<T>(input);
  }
  // T's rules; every failing field is in the result.
  template <Reflected T>
  BindErrors validate(const T& value) const {
    check_live("validate");
    return khz::validate(value);
  }
  template <Reflected T>
  Bound<T> bind_and_validate() {
    check_live("bind_and_validate");
    detail::ContextBindInput input(*this);
    return khz::bind_and_validate<T>(input);
  }
  // Answers with the errors through the Engine's bind error handler (by default errors.status()
  // and an RFC 9457 application/problem+json body naming every failing field) and aborts the
  // chain. Logs one info line with the route and the summary.
  void reject(const BindErrors& errors);

  // ---- response
  void set_status(int status) noexcept { check_live("set_status"), exchange_->response.set_status(status); }
  int status() const noexcept { return check_live("status"), exchange_->response.status(); }
  void set_header(std::string_view name, std::string_view value) {
    check_live("set_header");
    exchange_->response.headers().set(name, value);
  }
  // Drops what the chain wrote so far, to answer afresh (an error, a redirect): sets `status`
  // and clears the body, the trailers and the headers that describe the body or its framing
  // (Content-Type, -Length, -Encoding, -Language, -Location, -Range, -Disposition,
  // Transfer-Encoding, Trailer, ETag, Last-Modified). Every other header stays, so what
  // middleware set (a request id, CORS, security headers) still reaches the client. Useless
  // once a streamed response has begun (is_streaming()): its head is out.
  void discard_response(int status);
  // text/plain; charset=utf-8
  void string(int status, std::string_view text);
  // application/json; charset=utf-8
  void json(int status, const Json& value);
  // A struct with a field list, rendered through it (<khz/app/bind.h>, to_json).
  template <class T>
    requires Reflected<T>
  void json(int status, const T& value) {
    check_live("json");
    std::string& body = begin_json(status);
    khz::to_json(value, body);
  }
  void data(int status, std::string_view content_type, std::string_view bytes);
  // Location: `location`; status 301, 302, 303, 307 or 308.
  void redirect(int status, std::string_view location);
  // Streams a piece of the response body now (chunked on HTTP/1.1): the status and headers go
  // out with the first write, so set them before. Returns false once the peer is gone.
  Task<bool> write(std::string_view chunk);
  bool is_streaming() const noexcept;
  // Ends a streamed response as broken once the handler returns: the peer sees it incomplete
  // (HTTP/1.1: the connection closes without the last chunk; HTTP/2: the stream is reset),
  // never as a clean end. For a body whose source failed after write() began (a proxy's
  // upstream dying mid-body). No effect before the first write().
  void fail_stream() noexcept;
  // Server-Sent Events (<khz/app/sse.h>): sends the text/event-stream head and returns the
  // writer. Call once per request.
  //   auto sse = co_await ctx.sse();
  //   SseEvent ev{.id = "1", .data = "hello"};
  //   co_await sse.send(ev);
  Task<SseWriter> sse(SseOptions options = {});

  // Answers with the file at `path`, as Hertz's c.File (an uploaded file is form_file(), below):
  // type, validators, conditional and Range requests, HEAD, precompressed siblings,
  // Cache-Control (<khz/app/static_fs.h>); sendfile(2) where it can.
  // GET and HEAD; another method gets 405 (Allow: GET, HEAD). A missing file or a directory
  // is 404, one the server may not read 403. `path` is used as given (symlinks followed):
  // never build it from request input without a check of your own (static_fs does that).
  void file(std::string_view path);
  void file(std::string_view path, const StaticOptions& options);

  // Takes the connection over once this response has been sent: on HTTP/1.1 `handler` gets the
  // raw connection, with any bytes that followed the request already in its input; the
  // connection closes when the handler's Task completes. On HTTP/2, only for an extended
  // CONNECT (connect_protocol() not empty) answered 2xx: `handler` gets the stream as a
  // connection (its DATA frames; flow-controlled both ways), and the stream ends (END_STREAM)
  // when the Task completes. Ignored (logged) on any other HTTP/2 request.
  void hijack(HijackHandler handler) {
    check_live("hijack");
    exchange_->hijack = std::move(handler);
  }
  // Answers 101 Switching Protocols to `protocol` (RFC 9110 §7.8) and hijacks the connection;
  // on an HTTP/2 extended CONNECT (connect_protocol() not empty) answers 200 and hijacks the
  // stream (RFC 8441 §5), so one handler serves both.
  void upgrade(std::string_view protocol, HijackHandler handler);
  // Accepts a WebSocket opening handshake (RFC 6455 §4.2; <khz/app/websocket.h>) and runs
  // `handler` on the connection once the answer is sent. A request that is no acceptable
  // handshake is answered here instead, and false returned: 426 with Upgrade: websocket when it
  // asks for no WebSocket upgrade; 426 with Sec-WebSocket-Version: 13 for another version; 400
  // (the reason in the body) for a malformed one; 403 for an Origin the options refuse.
  bool websocket(WebSocketHandler handler, WebSocketOptions options = {});

  // ---- cookies (RFC 6265bis; the codec is <khz/protocol/cookie.h>)
  // The request's cookies, from its Cookie header(s) (HTTP/2 cookie fields arrive joined),
  // parsed on the first call; views valid until the handler's Task completes. Values come as
  // sent, with one pair of surrounding DQUOTEs removed; no percent-decoding.
  //   std::string_view sid = ctx.cookie("sid");        // "" when absent
  std::string_view cookie(std::string_view name);  // the first of that name; "" when absent
  bool has_cookie(std::string_view name);
  const std::vector<CookiePair>& cookies();        // every pair, in request order
  // Adds a Set-Cookie header to the response (one per call; the header is copied, `cookie` may
  // go). A cookie that breaks a rule (Cookie::validate: bad name or value, SameSite=None or
  // Partitioned without Secure, __Secure-/__Host- prefixes...) is not sent: logged (warn) and
  // false returned.
  //   ctx.set_cookie({.name = "sid", .value = token, .path = "/", .max_age = std::chrono::hours(8),
  //                   .secure = true, .http_only = true, .same_site = khz::SameSite::lax});
  bool set_cookie(const Cookie& cookie);
  // Tells the client to drop a cookie: "name=; Path=path[; Domain=domain]; Expires=<1970>;
  // Max-Age=0" (Secure added for a __Secure-/__Host- name). Path and domain must be those
  // it was set with.
  bool delete_cookie(std::string_view name, std::string_view path = "/", std::string_view domain = {});

  // ---- HTML templates (<khz/app/templates.h>; loaded with Engine/Server::load_templates)
  // Renders template `name` with `data` as the body, text/html; charset=utf-8. An unknown
  // template or a render error logs the reason (error) and answers 500 instead; never throws
  // for those.
  //   ctx.html(200, "users/list", khz::H{{"users", khz::Json::Array{khz::H{{"name", "ann"}}}}});
  void html(int status, std::string_view name, const Json& data);
  // A ready HTML text as the body (text/html; charset=utf-8).
  void html_raw(int status, std::string_view html);

  // ---- blocking work
  // co_await ctx.offload(fn): runs fn() on the Server's worker pool (ServerOptions::offload:
  // `threads` threads, started on first use, and `max_queue` jobs waiting) and resumes this
  // handler on its own loop with fn's value; void works, and an exception fn throws is
  // rethrown here. The loop serves other requests meanwhile. See <khz/common/worker_pool.h>
  // for the threading in full; in short:
  //   - fn runs on another thread: it may read what the handler lends it (its locals, this
  //     context's views: the handler stays suspended until fn returns, whatever happens) but
  //     must not call the context's setters or write the response; do that after co_await.
  //   - Errors: when the pool is full (offload::errc::queue_full), the client went away while
  //     the job waited (cancelled: the job is dropped and never runs; a job already running is
  //     waited for and its result dropped) or the server is stopping (stopped), co_await throws
  //     khz::OffloadError. Uncaught, it answers 503 Service Unavailable (not handler_error's
  //     500); catch it to answer otherwise.
  //   - Graceful shutdown waits for handlers, so for the jobs they await; the pool stops
  //     after the drain (queued jobs left then are dropped, running ones waited for).
  //   - GCC 12 destroys a temporary made in a co_await expression twice (PR 99576): pass a
  //     named callable, `auto job = [id] { ... }; co_await ctx.offload(std::move(job));`, unless
  //     it captures only by reference (`[&]`), as in the example above.
  template <class F>
    requires std::invocable<std::decay_t<F>&>
  OffloadAwaiter<std::decay_t<F>> offload(F&& fn) {
    check_live("offload");
    return pool_->offload(std::forward<F>(fn));
  }

  // ---- forms: application/x-www-form-urlencoded and multipart/form-data bodies (<khz/app/form.h>)
  // The body's fields (not the query string's), decoded, and its uploaded files. Views and
  // files live until the handler's Task completes; temp files are removed then. On a buffered
  // route the body is parsed on the first call; on a .stream_body() route call read_form()
  // first (until then these find nothing). A body that is not a form, or that failed to parse
  // (read_form() says why), has no fields and no files.
  //
  //   std::string_view title = ctx.form("title");                    // first value; "" when absent
  //   for (std::string_view tag : ctx.form_all("tag")) tags.emplace_back(tag);
  //   if (const khz::FormFile* f = ctx.form_file("upload")) save(f->filename(), f->bytes());
  std::string_view form(std::string_view key);
  std::vector<std::string_view> form_all(std::string_view key);
  bool has_form(std::string_view key);
  // The first file sent in field `key`, or nullptr; every file of that field, in body order.
  const FormFile* form_file(std::string_view key);
  std::vector<const FormFile*> form_files(std::string_view key);
  // Reads the form body (through read_body_chunk() on a .stream_body() route, spooling big files
  // as they arrive; at once from body() elsewhere) and parses it, once per request. On an error
  // it answers for the handler (the status of protocol::form_error_status: 400 malformed, 413 a
  // limit of ServerOptions::form, 415 a Content-Type that is not a form; the reason in a text
  // body), logs one line, and returns the error (protocol::form_errc, or the body reader's).
  //
  //   auto form = co_await ctx.read_form();
  //   if (!form) co_return;          // answered; or set another response here
  Task<Result<void>> read_form();
  // A query parameter, decoded, or `fallback` when the query has no such key (Hertz's DefaultQuery).
  std::string_view query_or(std::string_view key, std::string_view fallback);

  // ---- a middleware's own state, kept with the context
  // One T per context (default-constructed on first use), kept for the context's life and so
  // across the requests it serves (a keep-alive connection's, one after another): per-request
  // state for a middleware without an allocation per request. What a request leaves there is
  // still there for the next, so reset what you use when a request begins. Loop thread only.
  //   struct Timing { std::chrono::steady_clock::time_point start; };
  //   ctx.scratch<Timing>().start = std::chrono::steady_clock::now();
  template <class T>
  T& scratch();

  // ---- per-request values (gone after the request)
  void set(std::string_view key, std::any value);
  // nullptr when absent.
  const std::any* get(std::string_view key) const noexcept;
  template <class T>
  const T* get_as(std::string_view key) const noexcept {
    const std::any* v = get(key);
    return v != nullptr ? std::any_cast<T>(v) : nullptr;
  }

  // ---- after the response
  // Runs `hook(ctx, done, data)` once the chain is over and the response final: after the
  // Engine's exception boundary has answered for a throw, after the last write of a streamed
  // response; before the protocol server writes a buffered response to the socket. The hook
  // may read the request and the response (the context is still live) but must not change
  // the response, block, or throw (a throw is logged and ignored). Hooks run in reverse order
  // of registration (the innermost middleware's first, as the onion unwinds). Not run when the
  // connection is torn down under a suspended handler (server shutdown past its deadline).
  // Costs nothing when unused: no clock is read and nothing is allocated unless a hook is
  // added (the list keeps its capacity with the pooled context).
  //
  //   void count(khz::RequestContext& ctx, const khz::CompletedResponse& done, void* data) {
  //     static_cast<Metrics*>(data)->observe(ctx.full_path(), done.status, done.elapsed);
  //   }
  //   engine.use([&metrics](khz::RequestContext& ctx) { ctx.after_response(&count, &metrics); });
  void after_response(ResponseHook hook, void* data);

  // ---- body filters (<khz/app/body_filter.h>): what a middleware uses to rewrite bodies
  // Registers a filter for this response's body: it sees the head once (start: may change
  // headers, or decline) and then every piece of the body, the buffered body at the end of the
  // chain or each streamed write (ctx.write, SSE), on HTTP/1.1 and HTTP/2. File bodies are not
  // filtered. Register before the response begins (a middleware, before next()).
  void filter_response(std::unique_ptr<ResponseFilter> filter);
  // Decodes the request body through `filter`: a buffered body at once (replaced; the filter's
  // error returned), a streamed one as read_body_chunk() reads it (its errors returned there).
  std::error_code filter_request_body(std::unique_ptr<RequestBodyFilter> filter);

  // ---- flow
  Task<void> next();
  // Runs the rest of the chain as next() does, under a deadline: a cancel signal of its own
  // fires when `timeout` passes, or with the request's (the client left), whichever is first.
  // While the inner layers run it is their cancel_signal() and their Tasks' ambient signal, so
  // the khz client cancels their outbound calls (client::errc::cancelled), an event stream
  // ends, and their own Watches run. It cancels; it does not cut the inner layers off: the
  // call returns when they do (a handler busy with work nothing watches finishes it first), and
  // then the response is theirs to read and replace. What they throw is caught into the
  // outcome (a cancelled wait often ends in an exception). Nested deadlines compose (the inner one
  // fires with the outer). One timer queue per loop serves every deadline (app/request_deadline.cc).
  //   auto outcome = co_await ctx.next_with_deadline(std::chrono::seconds(2));
  //   if (outcome.expired && !ctx.is_streaming()) ctx.discard_response(outcome.interrupted_wait ? 504 : 503);
  Task<DeadlineOutcome> next_with_deadline(std::chrono::steady_clock::duration timeout);
  void abort() noexcept {
    check_live("abort");
    aborted_ = true;
  }
  void abort_with_status(int status) noexcept {
    set_status(status);
    aborted_ = true;
  }
  bool is_aborted() const noexcept { return check_live("is_aborted"), aborted_; }
  // Name of the handler running now (the last of the chain is the route's handler).
  std::string_view handler_name() const noexcept;

 private:
  friend class Engine;
  friend class detail::ContextBindInput;
  void reset(Exchange& exchange) noexcept;
  // Sets the status and JSON Content-Type, clears the body and returns it to be written.
  std::string& begin_json(int status);
  // Binding's view of the cookies and the form: visit each value of `name`; how many there were.
  std::size_t visit_cookies(std::string_view name, BindInput::Visit visit, void* state);
  std::size_t visit_form(std::string_view name, BindInput::Visit visit, void* state);
  bool body_is_form();
  // Why the buffered body did not parse as a form; {} when it did (or is not a form).
  std::error_code form_parse_error();
  void parse_query();
  // ---- forms (app/form.cc)
  detail::FormState& form_state();
  // Parses a buffered body into form_ (lazily, from the getters, and by read_form).
  void parse_buffered_form();
  // The request is over: forgets the form and removes its temp files (Engine::serve).
  void end_form() noexcept;
  // The debug lifetime check: `accessor` names what was called. Nothing in Release builds.
  void check_live(const char* accessor) const noexcept {
    if constexpr (lifetime_checks) {
      if (!serving_) detail::request_context_used_after_handler(accessor);
    } else {
      (void)accessor;
    }
  }

  // next()'s tail: awaits a coroutine layer, then runs the layers after it.
  Task<void> run_rest(Task<void> layer);

  Exchange* exchange_ = nullptr;
  WorkerPool* pool_ = nullptr;  // the Engine's (set once, when the Engine makes the context)
  const HandlerChain* chain_ = nullptr;
  std::ptrdiff_t index_ = -1;
  bool aborted_ = false;
  // From reset() until Engine::serve ends (whether or not checks are compiled in, so code built
  // with and without them agrees on what it means).
  bool serving_ = false;
  bool query_parsed_ = false;
  bool body_handed_out_ = false;  // read_body_chunk gave the buffered body
  std::uint64_t streamed_bytes_ = 0;  // through write()
  struct AfterResponse {
    ResponseHook hook;
    void* data;
    std::uint64_t added;  // TickClock ticks
  };
  std::vector<AfterResponse> after_response_;  // cleared per request, capacity kept
  CancelSignal* cancel_scope_ = nullptr;  // next_with_deadline's signal while it runs
  OutboundFields outbound_;  // set_outbound_header; the chain's ambient fields (Engine::serve)
  // Runs the after-response hooks (Engine::serve).
  void run_after_response(bool threw) noexcept;
  std::string_view full_path_;
  std::uint32_t route_id_ = 0;  // the matched route's (Engine::Route::id); 0: none
  route::Params params_;
  std::string routed_path_;  // the normalised path, when it differs from the request's
  mutable std::string peer_;  // peer_address(), formatted once a connection (the exchange views it)
  std::vector<protocol::FormField> query_;
  std::vector<std::pair<std::string, std::any>> values_;
  std::vector<std::pair<const void*, std::unique_ptr<void, void (*)(void*)>>> scratch_;  // scratch<T>()
  // ---- cookies and templates
  void parse_cookies();
  const Engine* engine_ = nullptr;  // the Engine that made the context (its templates, its bind error handler)
  bool cookies_parsed_ = false;
  std::vector<CookiePair> cookies_;  // views into the request's Cookie headers
  // ---- forms
  std::unique_ptr<detail::FormState> form_;  // made on first use, kept with the context
  // ---- Server-Sent Events (app/sse.cc): made by sse(), gone when Engine::serve ends
  std::unique_ptr<detail::SseState> sse_;
  // Waits for a heartbeat still being written, then drops the SSE state (Engine::serve).
  Task<void> end_sse();
  const FormOptions* form_options_ = nullptr;  // the Engine's (set once, when it makes the context)
  // ---- body filters (app/body_filter.cc): made on the first filter, kept with the context
  std::unique_ptr<detail::FilterState> filters_;
  detail::FilterState& filter_state();
  Task<Result<std::string_view>> read_filtered_body_chunk();
  // The end of the chain: a buffered body goes through the filters, a stream gets their last
  // bytes (Engine::serve); then end_filters() forgets them (however the request ended).
  Task<void> end_response_filters();
  bool has_response_filters() const noexcept;
  void end_filters() noexcept;
};

namespace detail {
template <class T>
inline constexpr char scratch_tag = 0;  // one address per type: scratch<T>()'s key
}  // namespace detail

template <class T>
T& RequestContext::scratch() {
  const void* key = &detail::scratch_tag<T>;
  for (auto& [k, p] : scratch_) {
    if (k == key) return *static_cast<T*>(p.get());
  }
  auto& slot = scratch_.emplace_back(key, std::unique_ptr<void, void (*)(void*)>(new T(), [](void* p) { delete static_cast<T*>(p); }));
  return *static_cast<T*>(slot.second.get());
}

}  // namespace khz

// SPDX-License-Identifier: Apache-2.0
// Engine through the in-process helper: routing, groups, onion middleware, fallbacks, errors.
#include <khz/app/engine.h>
#include <khz/app/testing.h>
#include <khz/common/event_loop.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

using khz::testing::perform_request;
using namespace std::chrono_literals;

namespace {
void ok(khz::RequestContext& c) { c.string(200, std::string(c.full_path())); }
}  // namespace

TEST_CASE("routes: static, param and catch-all, with the matched pattern") {
  khz::Engine e;
  e.get("/users/new", ok);
  e.get("/users/:id", [](khz::RequestContext& c) { c.string(200, "user " + std::string(c.param("id"))); });
  e.get("/static/*filepath", [](khz::RequestContext& c) { c.string(200, "file " + std::string(c.param("filepath"))); });

  struct Row {
    const char* target;
    int status;
    const char* body;
  };
  const Row rows[] = {
      {"/users/new", 200, "/users/new"},
      {"/users/42", 200, "user 42"},
      {"/users/42?x=1", 200, "user 42"},
      {"/static/css/site.css", 200, "file css/site.css"},
      {"/static/", 200, "file "},
      {"/nothing", 404, "404 page not found"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.target);
    auto r = perform_request(e, "GET", row.target);
    REQUIRE(r.status() == row.status);
    REQUIRE(r.body() == row.body);
  }
  REQUIRE(perform_request(e, "POST", "/users/new").status() == 404);
}

TEST_CASE("onion middleware: order, next(), plain and coroutine layers") {
  khz::Engine e;
  std::vector<std::string> trace;
  e.use([&](khz::RequestContext& c) -> khz::Task<> {
    trace.push_back("outer in");
    co_await c.next();
    trace.push_back("outer out");
    c.set_header("X-Outer", "1");
  });
  e.use([&](khz::RequestContext&) { trace.push_back("plain"); });  // no next(): chain continues after it
  e.get("/x", [&](khz::RequestContext& c) -> khz::Task<> {
    co_await khz::sleep_for(1ms);
    trace.push_back("handler");
    c.string(200, "done");
  });
  auto r = perform_request(e, "GET", "/x");
  REQUIRE(r.status() == 200);
  REQUIRE(r.header("X-Outer") == "1");
  REQUIRE(trace == std::vector<std::string>{"outer in", "plain", "handler", "outer out"});
}

TEST_CASE("onion layers: the rest runs through their next() only; a coroutine layer that skips next() still lets it run") {
  khz::Engine e;
  std::vector<std::string> trace;
  // Not an onion layer: returning without next() lets the chain go on after it.
  e.use([&](khz::RequestContext& c) -> khz::Task<> {
    co_await khz::sleep_for(1ms);
    trace.push_back("check");
    if (c.header("X-Check-Aborts") == "1") c.abort_with_status(403);
  });
  e.use(khz::Handler("wrap", [&](khz::RequestContext& c) -> khz::Task<> {
          trace.push_back("wrap in");
          if (c.header("X-Skip") == "1") co_return;  // an onion layer that skips next(): the chain ends
          co_await c.next();
          trace.push_back("wrap out");
        }).onion());
  e.use([&](khz::RequestContext&) { trace.push_back("plain"); });
  e.get("/x", [&](khz::RequestContext& c) {
    trace.push_back("handler");
    c.string(200, "done");
  });
  REQUIRE(perform_request(e, "GET", "/x").status() == 200);
  REQUIRE(trace == std::vector<std::string>{"check", "wrap in", "plain", "handler", "wrap out"});
  trace.clear();
  auto skipped = perform_request(e, "GET", "/x", {{"X-Skip", "1"}});
  REQUIRE(trace == std::vector<std::string>{"check", "wrap in"});
  REQUIRE(skipped.body().empty());
  trace.clear();
  REQUIRE(perform_request(e, "GET", "/x", {{"X-Check-Aborts", "1"}}).status() == 403);
  REQUIRE(trace == std::vector<std::string>{"check"});
}

TEST_CASE("next(): plain layers run at once and a chain with no coroutine left needs no frame") {
  khz::Engine e;
  std::vector<std::string> trace;
  bool frameless = false;
  e.use([&](khz::RequestContext& c) -> khz::Task<> {
    khz::Task<void> rest = c.next();  // plain layers only: they ran in the call
    frameless = !rest.valid();
    trace.push_back("after call");
    co_await rest;
  });
  e.use([&](khz::RequestContext&) { trace.push_back("plain"); });
  e.get("/x", [&](khz::RequestContext& c) {
    trace.push_back("handler");
    c.string(200, "done");
  });
  e.get("/throws", [](khz::RequestContext&) { throw std::runtime_error("plain layer threw"); });
  REQUIRE(perform_request(e, "GET", "/x").status() == 200);
  REQUIRE(frameless);
  REQUIRE(trace == std::vector<std::string>{"plain", "handler", "after call"});
  // A plain layer's exception leaves from the next() call, and reaches the Engine as before.
  REQUIRE(perform_request(e, "GET", "/throws").status() == 500);
}

TEST_CASE("only_when: a middleware runs for the requests its predicate accepts; others pass on") {
  khz::Engine e;
  std::vector<std::string> trace;
  auto admin = [](khz::RequestContext& c) { return c.header("X-Admin") == "1"; };
  e.use(khz::only_when(admin, [&](khz::RequestContext& c) -> khz::Task<> {
    trace.push_back("co in");
    co_await c.next();
    trace.push_back("co out");
  }));
  e.use(khz::only_when(admin, [&](khz::RequestContext&) { trace.push_back("plain"); }));
  e.use(khz::only_when([](khz::RequestContext& c) { return c.header("X-Block") == "1"; },
                       [](khz::RequestContext& c) { c.abort_with_status(403); }));
  e.get("/x", [&](khz::RequestContext& c) {
    trace.push_back("handler");
    c.string(200, "done");
  });
  REQUIRE(perform_request(e, "GET", "/x", {{"X-Admin", "1"}}).status() == 200);
  REQUIRE(trace == std::vector<std::string>{"co in", "plain", "handler", "co out"});
  trace.clear();
  REQUIRE(perform_request(e, "GET", "/x").status() == 200);
  REQUIRE(trace == std::vector<std::string>{"handler"});  // each handler ran once, the rest skipped
  trace.clear();
  REQUIRE(perform_request(e, "GET", "/x", {{"X-Block", "1"}}).status() == 403);
  REQUIRE(trace.empty());
}

TEST_CASE("abort and abort_with_status stop the chain") {
  khz::Engine e;
  bool reached = false;
  auto guard = [](khz::RequestContext& c) {
    if (c.header("Authorization").empty()) c.abort_with_status(401);
  };
  e.get("/secret", guard, [&](khz::RequestContext& c) {
    reached = true;
    c.string(200, "secret");
  });
  auto denied = perform_request(e, "GET", "/secret");
  REQUIRE(denied.status() == 401);
  REQUIRE_FALSE(reached);
  auto allowed = perform_request(e, "GET", "/secret", {{"Authorization", "Bearer t"}});
  REQUIRE(allowed.status() == 200);
  REQUIRE(reached);
}

TEST_CASE("groups: prefix and middleware, nested; engine middleware added later does not apply") {
  khz::Engine e;
  auto tag = [](std::string value) {
    return [value](khz::RequestContext& c) { c.set(value, true); };
  };
  auto report = [](khz::RequestContext& c) {
    std::string s;
    for (const char* k : {"api", "v1", "late"}) {
      if (c.get(k) != nullptr) s += std::string(k) + ";";
    }
    c.string(200, s);
  };
  auto api = e.group("/api", tag("api"));
  auto v1 = api.group("v1", tag("v1"));
  v1.get("/items", report);
  api.get("/health", report);
  e.use(tag("late"));
  e.get("/after", report);
  REQUIRE(perform_request(e, "GET", "/api/v1/items").body() == "api;v1;");
  REQUIRE(perform_request(e, "GET", "/api/health").body() == "api;");
  REQUIRE(perform_request(e, "GET", "/after").body() == "late;");
  REQUIRE(v1.base_path() == "/api/v1");
}

TEST_CASE("a throwing handler becomes a logged 500") {
  khz::Engine e;
  e.get("/boom", [](khz::RequestContext&) { throw std::runtime_error("kaput"); });
  e.get("/boom-async", [](khz::RequestContext&) -> khz::Task<> {
    co_await khz::sleep_for(1ms);
    throw std::logic_error("later");
  });
  e.get("/boom-quiet", [](khz::RequestContext&) { throw std::runtime_error(""); });  // empty what()
  e.get("/boom-odd", [](khz::RequestContext&) { throw 42; });
  for (const char* p : {"/boom", "/boom-async", "/boom-quiet", "/boom-odd"}) {
    CAPTURE(p);
    auto r = perform_request(e, "GET", p);
    REQUIRE(r.status() == 500);
    REQUIRE(r.body() == "500 internal server error");
    REQUIRE(r.header("Content-Type") == "text/plain; charset=utf-8");
  }
}

TEST_CASE("the 500 for a handler's exception keeps middleware's headers, not the half-written body's") {
  khz::Engine e;
  // Middleware sets its headers before next(), as a request-id or CORS middleware does; what it
  // would add after next() never runs, since the exception passes through it.
  e.use([](khz::RequestContext& c) -> khz::Task<> {
    c.set_header("X-Request-Id", "req-7");
    c.response().headers().add("Vary", "Origin");
    co_await c.next();
    c.set_header("X-After", "1");
  });
  e.use([](khz::RequestContext& c) { c.set_header("Access-Control-Allow-Origin", "https://app.example"); });
  // The handler starts an answer of its own (body, representation and framing fields, a
  // trailer), then throws.
  auto half_written = [](khz::RequestContext& c) {
    c.set_header("Content-Encoding", "gzip");
    c.set_header("Content-Length", "9999");
    c.set_header("Transfer-Encoding", "chunked");
    c.set_header("Trailer", "X-Checksum");
    c.set_header("ETag", "\"v1\"");
    c.set_header("Last-Modified", "Tue, 01 Jan 2030 00:00:00 GMT");
    c.set_header("Content-Disposition", "attachment; filename=report.csv");
    c.set_header("Content-Range", "bytes 0-9/100");
    c.set_header("Content-Language", "fr");
    c.set_header("Content-Location", "/reports/1");
    c.response().trailers().set("X-Checksum", "abc");
    c.json(200, khz::H{{"partial", true}});
    throw std::runtime_error("disk gone");
  };
  e.get("/half", half_written);
  e.get("/half-async", [&](khz::RequestContext& c) -> khz::Task<> {
    co_await khz::sleep_for(1ms);
    half_written(c);
  });
  for (const char* p : {"/half", "/half-async"}) {
    CAPTURE(p);
    auto r = perform_request(e, "GET", p);
    REQUIRE(r.status() == 500);
    REQUIRE(r.body() == "500 internal server error");
    REQUIRE(r.header("Content-Type") == "text/plain; charset=utf-8");
    REQUIRE(r.headers().count("Content-Type") == 1);
    REQUIRE(r.header("X-Request-Id") == "req-7");
    REQUIRE(r.header("Vary") == "Origin");
    REQUIRE(r.header("Access-Control-Allow-Origin") == "https://app.example");
    REQUIRE_FALSE(r.headers().contains("X-After"));
    for (const char* gone : {"Content-Encoding", "Content-Length", "Transfer-Encoding", "Trailer", "ETag",
                             "Last-Modified", "Content-Disposition", "Content-Range", "Content-Language",
                             "Content-Location"}) {
      CAPTURE(gone);
      REQUIRE_FALSE(r.headers().contains(gone));
    }
    REQUIRE(r.trailers().empty());
  }
}

TEST_CASE("handler_error: a status and body of one's own, or a callable that writes the answer") {
  SECTION("status and body") {
    khz::Engine e({.handler_error = {.status = 503, .body = R"({"title":"unavailable"})",
                                     .content_type = "application/problem+json"}});
    e.use([](khz::RequestContext& c) { c.set_header("X-Request-Id", "r1"); });
    e.get("/boom", [](khz::RequestContext& c) {
      c.string(200, "partial");
      throw std::runtime_error("x");
    });
    auto r = perform_request(e, "GET", "/boom");
    REQUIRE(r.status() == 503);
    REQUIRE(r.body() == R"({"title":"unavailable"})");
    REQUIRE(r.header("Content-Type") == "application/problem+json");
    REQUIRE(r.header("X-Request-Id") == "r1");
  }
  SECTION("a callable: sees the context and the exception, with the response already cleared") {
    struct NotFound : std::runtime_error {
      using std::runtime_error::runtime_error;
    };
    int seen_status = 0;
    std::string seen_body;
    khz::Engine e({.handler_error = {.render = [&](khz::RequestContext& c, std::exception_ptr ex) {
      seen_status = c.status();
      seen_body = std::string(c.response().body());
      try {
        std::rethrow_exception(ex);
      } catch (const NotFound& nf) {
        c.json(404, khz::H{{"error", nf.what()}});
      } catch (...) {
        c.json(c.status(), khz::H{{"error", "internal"}, {"request_id", std::string(c.response().header("X-Request-Id"))}});
      }
    }}});
    e.use([](khz::RequestContext& c) { c.set_header("X-Request-Id", "r2"); });
    e.get("/missing", [](khz::RequestContext& c) {
      c.string(200, "partial");
      throw NotFound("no such user");
    });
    e.get("/boom", [](khz::RequestContext&) { throw 7; });
    auto missing = perform_request(e, "GET", "/missing");
    REQUIRE(missing.status() == 404);
    REQUIRE(missing.body() == R"({"error":"no such user"})");
    REQUIRE(missing.header("Content-Type") == "application/json; charset=utf-8");
    REQUIRE(missing.header("X-Request-Id") == "r2");
    REQUIRE(seen_status == 500);
    REQUIRE(seen_body.empty());
    auto boom = perform_request(e, "GET", "/boom");
    REQUIRE(boom.status() == 500);
    REQUIRE(boom.body() == R"({"error":"internal","request_id":"r2"})");
  }
  SECTION("defaults follow the status; an empty body can be asked for") {
    khz::Engine unavailable({.handler_error = {.status = 503}});
    khz::Engine quiet({.handler_error = {.body = ""}});
    for (khz::Engine* e : {&unavailable, &quiet}) {
      e->use([](khz::RequestContext& c) { c.set_header("X-Request-Id", "r0"); });
      e->get("/boom", [](khz::RequestContext& c) {
        c.json(200, khz::H{{"partial", true}});
        throw std::runtime_error("x");
      });
    }
    auto r = perform_request(unavailable, "GET", "/boom");
    REQUIRE(r.status() == 503);
    REQUIRE(r.body() == "503 service unavailable");
    REQUIRE(r.header("Content-Type") == "text/plain; charset=utf-8");
    auto q = perform_request(quiet, "GET", "/boom");
    REQUIRE(q.status() == 500);
    REQUIRE(q.body().empty());
    REQUIRE(q.header("X-Request-Id") == "r0");
  }
  SECTION("a callable that throws: the fixed answer, nothing of what it wrote") {
    khz::Engine e({.handler_error = {.status = 502, .body = "bad gateway", .render = [](khz::RequestContext& c, std::exception_ptr) {
      c.set_header("Content-Encoding", "br");
      c.string(200, "half");
      throw std::runtime_error("render failed");
    }}});
    e.get("/boom", [](khz::RequestContext&) { throw std::runtime_error("x"); });
    auto r = perform_request(e, "GET", "/boom");
    REQUIRE(r.status() == 502);
    REQUIRE(r.body() == "bad gateway");
    REQUIRE_FALSE(r.headers().contains("Content-Encoding"));
  }
  SECTION("a status that is not an error is refused when the Engine is built") {
    for (int status : {0, 200, 302, 399, 600}) {
      CAPTURE(status);
      REQUIRE_THROWS_AS(khz::Engine({.handler_error = {.status = status}}), std::invalid_argument);
    }
    REQUIRE_NOTHROW(khz::Engine({.handler_error = {.status = 400}}));
    REQUIRE_NOTHROW(khz::Engine({.handler_error = {.status = 599}}));
  }
}

TEST_CASE("no_route, no_method and 405 with Allow") {
  khz::Engine plain;
  plain.get("/r", ok);
  REQUIRE(perform_request(plain, "DELETE", "/r").status() == 404);  // Hertz default: no 405

  khz::Engine e({.handle_method_not_allowed = true});
  e.get("/r", ok);
  e.put("/r", ok);
  auto r = perform_request(e, "DELETE", "/r");
  REQUIRE(r.status() == 405);
  REQUIRE(r.header("Allow") == "GET, PUT");
  e.no_route([](khz::RequestContext& c) { c.string(404, "custom"); });
  REQUIRE(perform_request(e, "GET", "/zzz").body() == "custom");
}

TEST_CASE("trailing slash redirects: 301 for GET, 307 otherwise; option off: 404") {
  khz::Engine e;
  e.get("/a/", ok);
  e.post("/b", ok);
  auto r = perform_request(e, "GET", "/a?q=1");
  REQUIRE(r.status() == 301);
  REQUIRE(r.header("Location") == "/a/?q=1");
  auto p = perform_request(e, "POST", "/b/");
  REQUIRE(p.status() == 307);
  REQUIRE(p.header("Location") == "/b");

  khz::Engine off({.redirect_trailing_slash = false});
  off.get("/a/", ok);
  REQUIRE(perform_request(off, "GET", "/a").status() == 404);
}

TEST_CASE("registration errors throw std::invalid_argument naming the routes") {
  khz::Engine e;
  e.get("/users/:id", ok);
  REQUIRE_THROWS_AS(e.get("/users/:id", ok), std::invalid_argument);
  try {
    e.get("/users/:name", ok);
    FAIL("no exception");
  } catch (const std::invalid_argument& ex) {
    std::string msg = ex.what();
    REQUIRE(msg.find("/users/:name") != std::string::npos);
    REQUIRE(msg.find("/users/:id") != std::string::npos);
  }
  REQUIRE_THROWS_AS(e.handle("get", "/x", ok), std::invalid_argument);
  REQUIRE_THROWS_AS(e.handle("G3T", "/x", ok), std::invalid_argument);  // Hertz: ^[A-Z]+$
  REQUIRE_THROWS_AS(e.handle("", "/x", ok), std::invalid_argument);
  e.get("relative", ok);  // joined to the group's base path, as in Hertz
  REQUIRE(perform_request(e, "GET", "/relative").status() == 200);
  REQUIRE(perform_request(e, "GET", "/users/5").status() == 200);  // table unchanged
}

TEST_CASE("routes() lists method, path and handler name; any() covers the methods") {
  khz::Engine e;
  e.get("/a", khz::Handler("list_a", ok));
  e.any("/all", ok);
  auto routes = e.routes();
  REQUIRE(routes.size() == 10);
  REQUIRE(routes[0].method == "GET");
  REQUIRE(routes[0].path == "/a");
  REQUIRE(routes[0].handler == "list_a");
  for (const char* m : {"GET", "POST", "PUT", "PATCH", "HEAD", "OPTIONS", "DELETE", "CONNECT", "TRACE"}) {
    CAPTURE(m);
    REQUIRE(perform_request(e, m, "/all").status() == 200);
  }
}

TEST_CASE("handler_name names the layer running now") {
  khz::Engine e;
  std::vector<std::string> seen;
  e.use(khz::Handler("logger", [&](khz::RequestContext& c) { seen.emplace_back(c.handler_name()); }));
  e.get("/n", khz::Handler("show_n", [&](khz::RequestContext& c) {
    seen.emplace_back(c.handler_name());
    c.string(200, "n");
  }));
  REQUIRE(perform_request(e, "GET", "/n").status() == 200);
  REQUIRE(seen == std::vector<std::string>{"logger", "show_n"});
}

TEST_CASE("body policy: per route, found on the routing path, default elsewhere") {
  khz::Engine e;
  e.post("/plain", ok);
  khz::Exchange ex;
  ex.request.set_method("POST");
  ex.request.set_target("/plain");
  // No route changes the default: nothing is looked up.
  REQUIRE_FALSE(e.body_policy(ex).stream);
  REQUIRE(e.body_policy(ex).max_bytes == 0);

  e.post("/upload/:name", ok).stream_body(1 << 30);
  e.put("/avatar", ok).max_body_bytes(16 << 20);
  e.any("/any", ok).stream_body();
  struct Row {
    const char* method;
    const char* target;
    bool stream;
    std::size_t max;
  };
  const Row rows[] = {
      {"POST", "/upload/a.bin", true, std::size_t{1} << 30},
      {"POST", "/x/../upload/a%2Ebin?q=1", true, std::size_t{1} << 30},  // normalised as for routing
      {"PUT", "/upload/a.bin", false, 0},                                 // another method's route
      {"PUT", "/avatar", false, std::size_t{16} << 20},
      {"PATCH", "/any", true, khz::BodyPolicy::unlimited},
      {"POST", "/plain", false, 0},
      {"POST", "/nowhere", false, 0},
  };
  for (const auto& row : rows) {
    CAPTURE(row.method, row.target);
    ex.request.set_method(row.method);
    ex.request.set_target(row.target);
    auto policy = e.body_policy(ex);
    REQUIRE(policy.stream == row.stream);
    REQUIRE(policy.max_bytes == row.max);
  }
}

TEST_CASE("read_body_chunk without a stream hands out the buffered body once") {
  khz::Engine e;
  e.post("/read", [](khz::RequestContext& c) -> khz::Task<> {
    std::string seen;
    for (int i = 0; i < 3; ++i) {
      auto piece = co_await c.read_body_chunk();
      REQUIRE(piece.ok());
      seen += "[" + std::string(*piece) + "]";
    }
    c.string(200, seen + (c.body_streamed() ? "streamed" : "buffered"));
  });
  khz::Request req;
  req.set_method("POST");
  req.set_target("/read");
  req.set_body("abc");
  auto res = perform_request(e, req);
  REQUIRE(res.body() == "[abc][][]buffered");
}

TEST_CASE("body policy: a group's max_body_bytes applies to its routes and nested groups, a route's own wins") {
  khz::Engine e;
  e.post("/before", ok);
  auto api = e.group("/api").max_body_bytes(1000);
  api.post("/small", ok);
  api.post("/own", ok).max_body_bytes(5000);
  api.post("/streamed", ok).stream_body(7000);
  auto nested = api.group("/v1");
  nested.put("/item", ok);
  auto wider = api.group("/uploads").max_body_bytes(1 << 20);
  wider.post("/file", ok);
  e.post("/after", ok);  // the engine's own routes are not the group's
  struct Row {
    const char* method;
    const char* target;
    bool stream;
    std::size_t max;
  };
  const Row rows[] = {
      {"POST", "/api/small", false, 1000},     {"POST", "/api/own", false, 5000},
      {"POST", "/api/streamed", true, 7000},   {"PUT", "/api/v1/item", false, 1000},
      {"POST", "/api/uploads/file", false, std::size_t{1} << 20},
      {"POST", "/before", false, 0},           {"POST", "/after", false, 0},
  };
  for (const auto& row : rows) {
    CAPTURE(row.method, row.target);
    khz::Exchange ex;
    ex.request.set_method(row.method);
    ex.request.set_target(row.target);
    const auto policy = e.body_policy(ex);
    REQUIRE(policy.stream == row.stream);
    REQUIRE(policy.max_bytes == row.max);
  }
}

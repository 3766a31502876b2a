// SPDX-License-Identifier: Apache-2.0
// RequestContext's cookies (app/request_context_cookies.cc) in process: reading the Cookie
// header(s), set_cookie's Set-Cookie fields and its refusals, delete_cookie.
#include <khz/app/engine.h>
#include <khz/app/testing.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using khz::testing::perform_request;

namespace {

std::vector<std::string> set_cookies(const khz::Response& r) {
  std::vector<std::string> out;
  for (const auto& f : r.headers()) {
    if (khz::iequals(f.name, "Set-Cookie")) out.emplace_back(f.value);
  }
  return out;
}

}  // namespace

TEST_CASE("request context: reading cookies") {
  khz::Engine engine;
  engine.get("/read", [](khz::RequestContext& ctx) {
    std::string out = "a=" + std::string(ctx.cookie("a")) + " b=" + std::string(ctx.cookie("b")) +
                      " has_c=" + (ctx.has_cookie("c") ? "1" : "0") + " missing=[" +
                      std::string(ctx.cookie("missing")) + "] n=" + std::to_string(ctx.cookies().size());
    ctx.string(200, out);
  });

  struct Row {
    std::vector<khz::testing::Header> headers;
    const char* body;
  };
  const Row rows[] = {
      {{{"Cookie", "a=1; b=2"}}, "a=1 b=2 has_c=0 missing=[] n=2"},
      {{{"Cookie", "a=1; c=; b=\"quoted\""}}, "a=1 b=quoted has_c=1 missing=[] n=3"},
      {{{"Cookie", "a=first; a=second"}}, "a=first b= has_c=0 missing=[] n=2"},         // the first match
      {{{"Cookie", "a=1"}, {"cookie", "b=2"}}, "a=1 b=2 has_c=0 missing=[] n=2"},         // two fields
      {{}, "a= b= has_c=0 missing=[] n=0"},
      {{{"Cookie", ";;=;  ; junk"}}, "a= b= has_c=0 missing=[] n=1"},                     // never fails
  };
  for (const Row& row : rows) {
    CAPTURE(row.body);
    auto r = perform_request(engine, "GET", "/read", row.headers);
    CHECK(r.status() == 200);
    CHECK(r.body() == row.body);
  }
}

TEST_CASE("request context: set_cookie and delete_cookie") {
  khz::Engine engine;
  bool result = false;
  engine.get("/login", [](khz::RequestContext& ctx) {
    bool ok = ctx.set_cookie({.name = "sid", .value = "abc123", .path = "/", .max_age = 3600s, .http_only = true,
                              .same_site = khz::SameSite::lax});
    ok = ctx.set_cookie({.name = "theme", .value = "dark"}) && ok;
    ctx.string(200, ok ? "ok" : "refused");
  });
  engine.get("/bad/:which", [&result](khz::RequestContext& ctx) {
    std::string_view which = ctx.param("which");
    khz::Cookie c{.name = "a", .value = "1"};
    if (which == "value") c.value = "x; Domain=evil.test";
    if (which == "name") c.name = "a b";
    if (which == "samesite") c.same_site = khz::SameSite::none;
    if (which == "host") c.name = "__Host-a";
    if (which == "crlf") c.value = "1\r\nX-Injected: yes";
    result = ctx.set_cookie(c);
    ctx.string(200, "done");
  });
  engine.get("/logout", [](khz::RequestContext& ctx) {
    ctx.delete_cookie("sid");
    ctx.delete_cookie("pref", "/app", "example.com");
    ctx.delete_cookie("__Host-id");
    ctx.string(200, "bye");
  });

  SECTION("one Set-Cookie field per cookie, attributes as asked") {
    auto r = perform_request(engine, "GET", "/login");
    CHECK(r.body() == "ok");
    CHECK(set_cookies(r) == std::vector<std::string>{"sid=abc123; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax",
                                                     "theme=dark"});
  }
  SECTION("an invalid cookie is refused: false, no header") {
    for (const char* which : {"value", "name", "samesite", "host", "crlf"}) {
      CAPTURE(which);
      result = true;
      auto r = perform_request(engine, "GET", std::string("/bad/") + which);
      CHECK(r.status() == 200);
      CHECK_FALSE(result);
      CHECK(set_cookies(r).empty());
      CHECK_FALSE(r.headers().contains("X-Injected"));
    }
    result = false;
    auto r = perform_request(engine, "GET", "/bad/none");
    CHECK(result);
    CHECK(set_cookies(r) == std::vector<std::string>{"a=1"});
  }
  SECTION("delete_cookie: empty, expired in both ways; Secure for a prefixed name") {
    auto r = perform_request(engine, "GET", "/logout");
    CHECK(set_cookies(r) ==
          std::vector<std::string>{"sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0",
                                   "pref=; Path=/app; Domain=example.com; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0",
                                   "__Host-id=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Secure"});
  }
}

// SPDX-License-Identifier: Apache-2.0
#include <khz/app/engine.h>
#include <khz/app/testing.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <string>

using khz::testing::perform_request;

TEST_CASE("query values are decoded; first value wins; all values on request") {
  khz::Engine e;
  e.get("/q", [](khz::RequestContext& c) {
    std::string out = std::string(c.query("name")) + "|" + std::string(c.query("missing")) + "|" +
                      (c.has_query("flag") ? "flag" : "noflag") + "|" + std::to_string(c.query_all("n").size()) +
                      "|" + std::string(c.query("bad"));
    c.string(200, out);
  });
  auto r = perform_request(e, "GET", "/q?name=J%C3%BCrgen+M&flag&n=1&n=2&bad=%zz");
  REQUIRE(r.body() == "Jürgen M||flag|2|%zz");
}

TEST_CASE("json, data, string and redirect renderers set status, type and body") {
  khz::Engine e;
  e.get("/json", [](khz::RequestContext& c) {
    c.json(201, khz::H{{"message", "pong"}, {"n", 3}, {"ok", true}, {"list", khz::Json::Array{1, "two", nullptr}},
                       {"nested", khz::H{{"q", "a\"b"}}}});
  });
  e.get("/data", [](khz::RequestContext& c) { c.data(202, "application/octet-stream", std::string("\0\1", 2)); });
  e.get("/go", [](khz::RequestContext& c) { c.redirect(302, "/there"); });
  auto j = perform_request(e, "GET", "/json");
  REQUIRE(j.status() == 201);
  REQUIRE(j.header("Content-Type") == "application/json; charset=utf-8");
  REQUIRE(j.body() == R"({"message":"pong","n":3,"ok":true,"list":[1,"two",null],"nested":{"q":"a\"b"}})");
  auto d = perform_request(e, "GET", "/data");
  REQUIRE(d.status() == 202);
  REQUIRE(d.body() == std::string("\0\1", 2));
  auto g = perform_request(e, "GET", "/go");
  REQUIRE(g.status() == 302);
  REQUIRE(g.header("Location") == "/there");
}

TEST_CASE("headers, body and per-request values") {
  khz::Engine e;
  e.use([](khz::RequestContext& c) { c.set("user", std::string("ann")); });
  e.post("/echo", [](khz::RequestContext& c) {
    const std::string* user = c.get_as<std::string>("user");
    c.string(200, std::string(c.header("x-tag")) + ":" + std::string(c.body()) + ":" + (user ? *user : "?"));
  });
  auto r = perform_request(e, "POST", "/echo", {{"X-Tag", "t1"}}, "payload");
  REQUIRE(r.body() == "t1:payload:ann");
}

TEST_CASE("a streamed body reaches the test helper") {
  khz::Engine e;
  e.get("/stream", [](khz::RequestContext& c) -> khz::Task<> {
    c.set_header("Content-Type", "text/event-stream");
    for (int i = 0; i < 3; ++i) {
      bool alive = co_await c.write("data: " + std::to_string(i) + "\n\n");
      if (!alive) co_return;
    }
  });
  auto r = perform_request(e, "GET", "/stream");
  REQUIRE(r.body() == "data: 0\n\ndata: 1\n\ndata: 2\n\n");
  REQUIRE(r.header("Content-Type") == "text/event-stream");
}

TEST_CASE("Json::dump: deep nesting, long strings, escapes and numbers") {
  // 300 levels deep (the writer goes down one call per level).
  khz::Json deep = khz::Json::Array{"core"};
  for (int i = 0; i < 300; ++i) deep = khz::Json::Array{std::move(deep)};
  std::string expected = std::string(301, '[') + "\"core\"" + std::string(301, ']');
  REQUIRE(deep.dump() == expected);

  std::string big(100000, 'x');
  khz::Json doc = khz::H{{"big", big}, {"ctl", std::string("\x01\n\t", 3)}, {"neg", -7},
                         {"u", 18446744073709551615ull}, {"d", 0.5}};
  REQUIRE(doc.dump() == "{\"big\":\"" + big + "\",\"ctl\":\"\\u0001\\n\\t\",\"neg\":-7,\"u\":18446744073709551615,\"d\":0.5}");

  // Every escape RFC 8259 requires, next to bytes that need none (UTF-8 passes through).
  std::string all;
  for (int c = 0; c < 0x20; ++c) all.push_back(static_cast<char>(c));
  all += "\"\\/\x7f" "\xc3\xa9";
  REQUIRE(khz::Json(all).dump() ==
          "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f"
          "\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c"
          "\\u001d\\u001e\\u001f\\\"\\\\/\x7f\xc3\xa9\"");
  REQUIRE(khz::Json("a\"b").dump() == R"("a\"b")");
  REQUIRE(khz::Json("").dump() == R"("")");

  // Scalars and empty containers; numbers in their shortest round-trip form; NaN and the
  // infinities, which JSON cannot express, as null.
  khz::Json scalars = khz::Json::Array{nullptr, true, false, 0, -9223372036854775807LL - 1, 1.0, -2.25, 1e300, 1e-7,
                                       0.1, std::nan(""), HUGE_VAL, -HUGE_VAL, khz::Json::Array{}, khz::H{}};
  REQUIRE(scalars.dump() ==
          "[null,true,false,0,-9223372036854775808,1,-2.25,1e+300,1e-07,0.1,null,null,null,[],{}]");
  REQUIRE(khz::Json(khz::H{{"k\n", khz::H{{"x", khz::Json::Array{1, "two"}}}}, {"", 3}}).dump() ==
          R"({"k\n":{"x":[1,"two"]},"":3})");

  std::string out = "prefix:";  // dump_to appends
  khz::Json(khz::H{{"a", 1}}).dump_to(out);
  REQUIRE(out == R"(prefix:{"a":1})");
}

// SPDX-License-Identifier: Apache-2.0
// Engine::pre (handlers before routing) and middleware/method_override.
#include <khz/app/server.h>
#include <khz/app/testing.h>
#include <khz/middleware/method_override.h>

#include <catch2/catch.hpp>

#include "middleware/log_capture.h"
#include "support/raw_client.h"
#include "support/test_server.h"

#include <stdexcept>
#include <string>
#include <vector>

using khz::middleware::method_override;
using khz::test::run_command;
using khz::testing::perform_request;

namespace {

void item_routes(khz::Engine& e) {
  for (std::string m : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
    e.handle(m, "/items/:id", [m](khz::RequestContext& c) { c.string(200, m + " " + std::string(c.param("id"))); });
  }
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("pre: runs before routing, may rewrite the method and the target, or answer") {
  khz::Engine e;
  std::vector<std::string> order;
  e.pre([&order](khz::RequestContext& c) {
    order.push_back("pre1:" + std::string(c.full_path()));
    if (c.header("X-Version") == "2") c.request().set_target("/v2" + std::string(c.request().target()));
  });
  e.pre([&order](khz::RequestContext& c) -> khz::Task<> {
    order.push_back("pre2 before");
    co_await c.next();  // the pre handlers after this one (none), not the route
    order.push_back("pre2 after");
    if (c.header("X-Block") == "yes") c.abort_with_status(403);
  });
  e.use([&order](khz::RequestContext& c) { order.push_back("use:" + std::string(c.full_path())); });
  e.get("/users", [&order](khz::RequestContext& c) {
    order.push_back("v1 " + std::string(c.query("q")));
    c.string(200, "v1");
  });
  e.get("/v2/users", [&order](khz::RequestContext& c) {
    order.push_back("v2 " + std::string(c.query("q")));
    c.string(200, "v2");
  });

  REQUIRE(perform_request(e, "GET", "/users?q=a").body() == "v1");
  REQUIRE(order == std::vector<std::string>{"pre1:", "pre2 before", "pre2 after", "use:/users", "v1 a"});
  order.clear();
  REQUIRE(perform_request(e, "GET", "/users?q=b", {{"X-Version", "2"}}).body() == "v2");
  REQUIRE(order == std::vector<std::string>{"pre1:", "pre2 before", "pre2 after", "use:/v2/users", "v2 b"});
  order.clear();
  auto blocked = perform_request(e, "GET", "/users", {{"X-Block", "yes"}});
  REQUIRE(blocked.status() == 403);
  REQUIRE(order == std::vector<std::string>{"pre1:", "pre2 before", "pre2 after"});  // not routed

  khz::Engine t;
  t.pre([](khz::RequestContext&) -> void { throw std::runtime_error("pre failed"); });
  t.get("/", [](khz::RequestContext& c) { c.string(200, "unreachable"); });
  khz::test::LogCapture log;
  REQUIRE(perform_request(t, "GET", "/").status() == 500);
  REQUIRE(contains(log.text(), "pre failed"));
}

TEST_CASE("method_override: POST becomes the method asked for, only to an allowed one") {
  khz::Engine e;
  e.pre(method_override({.form_field = "_method", .query_key = "_method"}));
  item_routes(e);
  const khz::testing::Header form{"Content-Type", "application/x-www-form-urlencoded"};

  SECTION("the header, any case") {
    REQUIRE(perform_request(e, "POST", "/items/7", {{"X-HTTP-Method-Override", "PUT"}}).body() == "PUT 7");
    REQUIRE(perform_request(e, "POST", "/items/7", {{"x-http-method-override", "delete"}}).body() == "DELETE 7");
    REQUIRE(perform_request(e, "POST", "/items/7", {{"X-HTTP-Method-Override", "Patch"}}).body() == "PATCH 7");
  }
  SECTION("the form field, then the query key; the header first") {
    REQUIRE(perform_request(e, "POST", "/items/8", {form}, "name=x&_method=PATCH").body() == "PATCH 8");
    REQUIRE(perform_request(e, "POST", "/items/8?_method=DELETE").body() == "DELETE 8");
    REQUIRE(perform_request(e, "POST", "/items/8?_method=DELETE", {form}, "_method=PUT").body() == "PUT 8");
    REQUIRE(perform_request(e, "POST", "/items/8?_method=DELETE", {{"X-HTTP-Method-Override", "PATCH"}, form},
                            "_method=PUT")
                .body() == "PATCH 8");
  }
  SECTION("no override asked: the POST route") {
    REQUIRE(perform_request(e, "POST", "/items/9").body() == "POST 9");
    REQUIRE(perform_request(e, "POST", "/items/9", {form}, "name=x").body() == "POST 9");
  }
  SECTION("a GET (or another method) is never overridden") {
    REQUIRE(perform_request(e, "GET", "/items/1", {{"X-HTTP-Method-Override", "DELETE"}}).body() == "GET 1");
    REQUIRE(perform_request(e, "GET", "/items/1?_method=DELETE").body() == "GET 1");
    REQUIRE(perform_request(e, "PUT", "/items/1", {{"X-HTTP-Method-Override", "DELETE"}}).body() == "PUT 1");
  }
  SECTION("refused: 400 and one log line, each case") {
    struct Case {
      std::vector<khz::testing::Header> headers;
      std::string target;
      std::string log;
    };
    const std::vector<Case> cases = {
        {{{"X-HTTP-Method-Override", "GET"}}, "/items/1", "the header asks for a method not allowed (3 bytes)"},
        {{{"X-HTTP-Method-Override", "TRACE"}}, "/items/1", "the header asks for a method not allowed (5 bytes)"},
        {{{"X-HTTP-Method-Override", ""}}, "/items/1", "the header asks for a method not allowed (0 bytes)"},
        {{{"X-HTTP-Method-Override", "PUT"}, {"X-HTTP-Method-Override", "PUT"}}, "/items/1",
         "X-HTTP-Method-Override sent 2 times"},
        {{}, "/items/1?_method=CONNECT", "the query key asks for a method not allowed (7 bytes)"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.log);
      khz::test::LogCapture log;
      auto r = perform_request(e, "POST", c.target, c.headers);
      REQUIRE(r.status() == 400);
      REQUIRE(contains(log.text(), "method_override: POST /items/1 refused: " + c.log));
      REQUIRE(log.text().find("method_override") == log.text().rfind("method_override"));  // one line
    }
  }
}

TEST_CASE("method_override: options are checked") {
  REQUIRE_THROWS_AS(method_override({.header = ""}), std::invalid_argument);
  REQUIRE_THROWS_AS(method_override({.allowed_methods = {}}), std::invalid_argument);
  REQUIRE_THROWS_AS(method_override({.allowed_methods = {"GET"}}), std::invalid_argument);
  REQUIRE_THROWS_AS(method_override({.allowed_methods = {"PU T"}}), std::invalid_argument);
  khz::Engine e;
  e.pre(method_override({.allowed_methods = {"delete"}}));  // upper-cased when made
  item_routes(e);
  REQUIRE(perform_request(e, "POST", "/items/2", {{"X-HTTP-Method-Override", "DELETE"}}).body() == "DELETE 2");
  REQUIRE(perform_request(e, "POST", "/items/2", {{"X-HTTP-Method-Override", "PUT"}}).status() == 400);
}

TEST_CASE("method_override on the wire: curl over HTTP/1.1 and h2c, both transports") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer s(transport);
      s.server.pre(method_override({.form_field = "_method"}));
      item_routes(s.server);
      s.start();
      for (const std::string version : {"--http1.1", "--http2-prior-knowledge"}) {
        CAPTURE(version);
        auto put = run_command("curl -sS --max-time 10 " + version + " -X POST -H 'X-HTTP-Method-Override: PUT' " +
                               s.url("/items/5"));
        REQUIRE(put.output == "PUT 5");
        auto del = run_command("curl -sS --max-time 10 " + version + " -d '_method=delete' " + s.url("/items/5"));
        REQUIRE(del.output == "DELETE 5");
        auto get = run_command("curl -sS --max-time 10 " + version + " -H 'X-HTTP-Method-Override: DELETE' " +
                               s.url("/items/5"));
        REQUIRE(get.output == "GET 5");
        auto bad = run_command("curl -sS --max-time 10 -o /dev/null -w '%{http_code}' " + version +
                               " -X POST -H 'X-HTTP-Method-Override: TRACE' " + s.url("/items/5"));
        REQUIRE(bad.output == "400");
      }
    }
  }
}

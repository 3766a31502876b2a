// SPDX-License-Identifier: Apache-2.0
#include <khz/app/testing.h>
#include <khz/middleware/host_redirect.h>
#include <khz/middleware/trailing_slash.h>

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

using khz::testing::perform_request;
using khz::middleware::SlashMode;

namespace {
void ok(khz::RequestContext& c) { c.string(200, std::string(c.path())); }
}  // namespace

TEST_CASE("trailing_slash: remove (the default)") {
  khz::Engine e;
  e.use(khz::middleware::trailing_slash());
  e.get("/a", ok);
  e.get("/a/", ok);  // registered, and still redirected: one spelling per URL
  auto r = perform_request(e, "GET", "/a/?x=1");
  REQUIRE(r.status() == 301);
  REQUIRE(r.header("Location") == "/a?x=1");
  REQUIRE(perform_request(e, "POST", "/nowhere/").status() == 308);  // no route: still redirected
  REQUIRE(perform_request(e, "GET", "/a//").header("Location") == "/a");
  REQUIRE(perform_request(e, "GET", "/a").status() == 200);
  REQUIRE(perform_request(e, "GET", "/").status() == 404);  // "/" alone is left alone
  // Never a Location that reads as another host.
  REQUIRE(perform_request(e, "GET", "//evil.example/").header("Location") == "/evil.example");
  REQUIRE(perform_request(e, "GET", "/\\evil.example/").header("Location") == "/evil.example");
}

TEST_CASE("trailing_slash: add, files left alone; status; bad setup") {
  khz::Engine e({.redirect_trailing_slash = false});  // else the Engine answers "/docs" first (301)
  e.use(khz::middleware::trailing_slash({.mode = SlashMode::add, .status = 307}));
  e.get("/docs/", ok);
  e.get("/app.js", ok);
  auto r = perform_request(e, "GET", "/docs?v=2");
  REQUIRE(r.status() == 307);
  REQUIRE(r.header("Location") == "/docs/?v=2");
  REQUIRE(perform_request(e, "GET", "/docs/").status() == 200);
  REQUIRE(perform_request(e, "GET", "/app.js").status() == 200);
  REQUIRE_THROWS_AS(khz::middleware::trailing_slash({.status = 200}), std::invalid_argument);
}

TEST_CASE("host_redirect: to the canonical host, path and query kept") {
  khz::Engine e;
  e.use(khz::middleware::host_redirect({.host = "example.com"}));
  e.get("/p", ok);
  auto r = perform_request(e, "GET", "/p?q=1", {{"Host", "www.example.com:8080"}});
  REQUIRE(r.status() == 301);
  REQUIRE(r.header("Location") == "http://example.com/p?q=1");
  REQUIRE(perform_request(e, "PUT", "/p", {{"Host", "www.example.com"}}).status() == 308);
  REQUIRE(perform_request(e, "GET", "/p", {{"Host", "EXAMPLE.com:8080"}}).status() == 200);
  // Whatever the Host says, the Location names the configured host.
  REQUIRE(perform_request(e, "GET", "/p", {{"Host", "evil.example/x@y"}}).header("Location") == "http://example.com/p");
}

TEST_CASE("host_redirect: only from listed names; scheme, port, status; bad setup") {
  khz::Engine e;
  e.use(khz::middleware::host_redirect({.host = "example.com", .from = {"www.example.com", "example.net"}, .port = 8443,
                                        .scheme = "https", .status = 302}));
  e.get("/", ok);
  auto r = perform_request(e, "GET", "/", {{"Host", "example.net"}});
  REQUIRE(r.status() == 302);
  REQUIRE(r.header("Location") == "https://example.com:8443/");
  REQUIRE(perform_request(e, "GET", "/", {{"Host", "10.0.0.7:80"}}).status() == 200);  // not listed: passes
  using khz::middleware::host_redirect;
  REQUIRE_THROWS_AS(host_redirect({}), std::invalid_argument);
  REQUIRE_THROWS_AS(host_redirect({.host = "example.com:80"}), std::invalid_argument);
  REQUIRE_THROWS_AS(host_redirect({.host = "example.com", .from = {"bad/name"}}), std::invalid_argument);
  REQUIRE_THROWS_AS(host_redirect({.host = "example.com", .scheme = "ftp"}), std::invalid_argument);
  REQUIRE_THROWS_AS(host_redirect({.host = "example.com", .status = 200}), std::invalid_argument);
}

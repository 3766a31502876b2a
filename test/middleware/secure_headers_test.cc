// SPDX-License-Identifier: Apache-2.0
#include <khz/app/testing.h>
#include <khz/middleware/https_redirect.h>
#include <khz/middleware/recovery.h>
#include <khz/middleware/secure_headers.h>

#include <catch2/catch.hpp>

#include "middleware/log_capture.h"

#include <chrono>
#include <stdexcept>
#include <string>

using khz::testing::perform_request;

namespace {
void hello(khz::RequestContext& c) { c.string(200, "hello"); }
}  // namespace

TEST_CASE("secure_headers: the defaults, on answers and on error answers") {
  khz::Engine e;
  e.use(khz::middleware::secure_headers());
  e.use(khz::middleware::recovery({.stack_trace = false}));
  e.get("/", hello);
  e.get("/boom", [](khz::RequestContext&) { throw std::runtime_error("x"); });
  e.get("/framed", [](khz::RequestContext& c) {
    c.set_header("X-Frame-Options", "DENY");  // a handler may replace one for its response
    hello(c);
  });
  for (const char* path : {"/", "/boom", "/missing"}) {
    CAPTURE(path);
    auto r = perform_request(e, "GET", path);
    REQUIRE(r.header("Content-Security-Policy").starts_with("default-src 'self'; base-uri 'self';"));
    REQUIRE(r.header("X-Content-Type-Options") == "nosniff");
    REQUIRE(r.header("X-Frame-Options") == "SAMEORIGIN");
    REQUIRE(r.header("Referrer-Policy") == "no-referrer");
    REQUIRE(r.header("Cross-Origin-Opener-Policy") == "same-origin");
    REQUIRE(r.header("Cross-Origin-Resource-Policy") == "same-origin");
    REQUIRE(r.header("X-XSS-Protection") == "0");
    REQUIRE_FALSE(r.headers().contains("Cross-Origin-Embedder-Policy"));
    REQUIRE_FALSE(r.headers().contains("Permissions-Policy"));
    // Plain http in process: no HSTS (RFC 6797 §7.2).
    REQUIRE_FALSE(r.headers().contains("Strict-Transport-Security"));
  }
  REQUIRE(perform_request(e, "GET", "/framed").header("X-Frame-Options") == "DENY");
}

TEST_CASE("secure_headers: a field an earlier layer set is replaced, not doubled") {
  khz::Engine e;
  e.use([](khz::RequestContext& c) {
    c.set_header("X-Request-ID", "r1");             // no name of ours: kept as is
    c.set_header("x-frame-options", "DENY");        // ours, in any case: replaced
    c.set_header("Referrer-Policy", "origin");
    c.next();
  });
  e.use(khz::middleware::secure_headers());
  e.get("/", hello);
  auto r = perform_request(e, "GET", "/");
  REQUIRE(r.headers().count("X-Frame-Options") == 1);
  REQUIRE(r.header("X-Frame-Options") == "SAMEORIGIN");
  REQUIRE(r.headers().count("Referrer-Policy") == 1);
  REQUIRE(r.header("Referrer-Policy") == "no-referrer");
  REQUIRE(r.header("X-Request-ID") == "r1");
  REQUIRE(r.header("X-Content-Type-Options") == "nosniff");
}

TEST_CASE("secure_headers: options") {
  SECTION("everything set, HSTS behind a trusted proxy") {
    khz::Engine e;
    e.use(khz::middleware::secure_headers({.hsts_max_age = std::chrono::hours(24 * 730),
                                           .hsts_preload = true,
                                           .trust_forwarded_proto = true,
                                           .content_security_policy = "default-src 'none'",
                                           .csp_report_only = true,
                                           .frame_options = "DENY",
                                           .referrer_policy = "no-referrer, strict-origin-when-cross-origin",
                                           .permissions_policy = "camera=(), geolocation=()",
                                           .cross_origin_embedder_policy = "require-corp"}));
    e.get("/", hello);
    auto r = perform_request(e, "GET", "/", {{"X-Forwarded-Proto", "https"}});
    REQUIRE(r.header("Strict-Transport-Security") == "max-age=63072000; includeSubDomains; preload");
    REQUIRE(r.header("Content-Security-Policy-Report-Only") == "default-src 'none'");
    REQUIRE_FALSE(r.headers().contains("Content-Security-Policy"));
    REQUIRE(r.header("X-Frame-Options") == "DENY");
    REQUIRE(r.header("Referrer-Policy") == "no-referrer, strict-origin-when-cross-origin");
    REQUIRE(r.header("Permissions-Policy") == "camera=(), geolocation=()");
    REQUIRE(r.header("Cross-Origin-Embedder-Policy") == "require-corp");
    // The proxy's own entry is the last one.
    REQUIRE(perform_request(e, "GET", "/", {{"X-Forwarded-Proto", "https, http"}})
                .headers().contains("Strict-Transport-Security") == false);
    REQUIRE(perform_request(e, "GET", "/", {{"X-Forwarded-Proto", "http, HTTPS"}})
                .headers().contains("Strict-Transport-Security"));
    REQUIRE_FALSE(perform_request(e, "GET", "/").headers().contains("Strict-Transport-Security"));
  }
  SECTION("an untrusted X-Forwarded-Proto is ignored; empty options send nothing") {
    khz::Engine e;
    e.use(khz::middleware::secure_headers({.content_security_policy = "", .content_type_options = "",
                                           .frame_options = "", .referrer_policy = "",
                                           .cross_origin_opener_policy = "", .cross_origin_resource_policy = "",
                                           .xss_protection = ""}));
    e.get("/", hello);
    auto r = perform_request(e, "GET", "/", {{"X-Forwarded-Proto", "https"}});
    for (const char* f : {"Strict-Transport-Security", "Content-Security-Policy", "X-Content-Type-Options",
                          "X-Frame-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy",
                          "Cross-Origin-Resource-Policy", "X-XSS-Protection"}) {
      CAPTURE(f);
      REQUIRE_FALSE(r.headers().contains(f));
    }
  }
  SECTION("bad values are refused at setup") {
    using khz::middleware::secure_headers;
    REQUIRE_THROWS_AS(secure_headers({.content_security_policy = "default-src 'self'\r\nSet-Cookie: x=1"}),
                      std::invalid_argument);
    REQUIRE_THROWS_AS(secure_headers({.frame_options = "ALLOW-FROM https://x"}), std::invalid_argument);
    REQUIRE_THROWS_AS(secure_headers({.referrer_policy = "everywhere"}), std::invalid_argument);
    REQUIRE_THROWS_AS(secure_headers({.referrer_policy = "no-referrer,,origin"}), std::invalid_argument);
    REQUIRE_THROWS_AS(secure_headers({.cross_origin_embedder_policy = "on"}), std::invalid_argument);
    REQUIRE_THROWS_AS(secure_headers({.hsts_max_age = std::chrono::seconds(-1)}), std::invalid_argument);
    REQUIRE_THROWS_AS(secure_headers({.hsts_include_subdomains = false, .hsts_preload = true}), std::invalid_argument);
  }
}

TEST_CASE("https_redirect: plain http goes to https, same path and query") {
  khz::Engine e;
  e.use(khz::middleware::https_redirect({.skip_path_prefixes = {"/.well-known/acme-challenge/"}}));
  bool ran = false;
  e.get("/a/b", [&](khz::RequestContext& c) { ran = true; hello(c); });
  e.post("/a/b", [&](khz::RequestContext& c) { ran = true; hello(c); });
  e.get("/.well-known/acme-challenge/:token", hello);

  auto r = perform_request(e, "GET", "/a/b?x=1&y=2", {{"Host", "shop.example:8080"}});
  REQUIRE(r.status() == 301);
  REQUIRE(r.header("Location") == "https://shop.example/a/b?x=1&y=2");
  REQUIRE_FALSE(ran);
  auto post = perform_request(e, "POST", "/a/b", {{"Host", "shop.example"}}, "body");
  REQUIRE(post.status() == 308);
  REQUIRE(post.header("Location") == "https://shop.example/a/b");
  auto v6 = perform_request(e, "GET", "/a/b", {{"Host", "[::1]:80"}});
  REQUIRE(v6.header("Location") == "https://[::1]/a/b");
  // Served over http too.
  REQUIRE(perform_request(e, "GET", "/.well-known/acme-challenge/t0k3n", {{"Host", "shop.example"}}).status() == 200);

  SECTION("a Host that could steer the redirect: 400 and a log line") {
    for (const char* host : {"evil.example/x", "user@evil.example", "evil.example\\x", "a b", ".evil", "[::1", "x:99999",
                             "x:8o"}) {
      CAPTURE(host);
      khz::test::LogCapture log;
      auto bad = perform_request(e, "GET", "/a/b", {{"Host", host}});
      REQUIRE(bad.status() == 400);
      REQUIRE_FALSE(bad.headers().contains("Location"));
      REQUIRE(log.text().find("https_redirect: GET /a/b: no usable Host") != std::string::npos);
    }
    auto twice = perform_request(e, "GET", "/a/b", {{"Host", "a.example"}, {"Host", "b.example"}});
    REQUIRE(twice.status() == 400);
  }
}

TEST_CASE("https_redirect: options") {
  khz::Engine e;
  e.use(khz::middleware::https_redirect({.host = "www.example.com", .port = 8443, .status = 307,
                                         .trust_forwarded_proto = true}));
  e.get("/", hello);
  auto r = perform_request(e, "GET", "/?q", {{"Host", "anything.example"}});
  REQUIRE(r.status() == 307);
  REQUIRE(r.header("Location") == "https://www.example.com:8443/?q");
  REQUIRE(perform_request(e, "GET", "/", {{"X-Forwarded-Proto", "https"}}).status() == 200);
  using khz::middleware::https_redirect;
  REQUIRE_THROWS_AS(https_redirect({.host = "www.example.com:8443"}), std::invalid_argument);
  REQUIRE_THROWS_AS(https_redirect({.host = "evil/x"}), std::invalid_argument);
  REQUIRE_THROWS_AS(https_redirect({.port = 0}), std::invalid_argument);
  REQUIRE_THROWS_AS(https_redirect({.status = 200}), std::invalid_argument);
}

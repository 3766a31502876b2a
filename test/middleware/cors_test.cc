// SPDX-License-Identifier: Apache-2.0
#include <khz/app/testing.h>
#include <khz/middleware/cors.h>

#include <catch2/catch.hpp>

#include "middleware/log_capture.h"

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

using khz::testing::perform_request;
using Headers = std::vector<khz::testing::Header>;

namespace {

void hello(khz::RequestContext& c) { c.string(200, "hello"); }

khz::Response preflight(khz::Engine& e, std::string origin, std::string method, std::string headers = {}) {
  Headers h{{"Origin", std::move(origin)}, {"Access-Control-Request-Method", std::move(method)}};
  if (!headers.empty()) h.emplace_back("Access-Control-Request-Headers", std::move(headers));
  return perform_request(e, "OPTIONS", "/api", h);
}

}  // namespace

TEST_CASE("cors: origins exact, wildcard subdomain, function; prefix look-alikes refused") {
  khz::Engine e;
  e.use(khz::middleware::cors({.allow_origins = {"https://app.example.com", "https://*.example.org", "null"},
                               .allow_origin = [](std::string_view o) { return o == "http://localhost:3000"; }}));
  e.get("/api", hello);
  struct Case {
    const char* origin;
    bool allowed;
  };
  const Case cases[] = {
      {"https://app.example.com", true},
      {"HTTPS://APP.EXAMPLE.COM", true},            // scheme and host compare without case
      {"https://a.example.org", true},
      {"https://a.b.example.org", true},
      {"http://localhost:3000", true},               // by the function
      {"null", true},                                // listed
      {"https://app.example.com.evil.net", false},   // only begins like an allowed origin
      {"https://app.example.com:8443", false},       // another port is another origin
      {"http://app.example.com", false},             // another scheme
      {"https://app.example.co", false},             // a prefix of an allowed one
      {"https://example.org", false},                // the pattern wants a subdomain
      {"https://evilexample.org", false},            // not a subdomain
      {"https://a.example.org.evil.net", false},
      {"https://x.example.org:444", false},          // the '*' covers labels only
      {"http://a.example.org", false},
      {"https://.example.org", false},
      {"http://localhost:3001", false},
      {"https://app.example.com/", false},           // malformed: an origin has no path
      {"https://app.example.com/evil", false},
      {"app.example.com", false},
      {"", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.origin);
    khz::test::LogCapture log;
    auto r = perform_request(e, "GET", "/api", {{"Origin", c.origin}});
    REQUIRE(r.header("Vary") == "Origin");
    if (c.allowed) {
      REQUIRE(r.status() == 200);
      REQUIRE(r.header("Access-Control-Allow-Origin") == c.origin);
      REQUIRE(log.text().empty());
    } else {
      REQUIRE(r.status() == 403);
      REQUIRE_FALSE(r.headers().contains("Access-Control-Allow-Origin"));
      REQUIRE(log.text().find("cors: ") != std::string::npos);
      REQUIRE(log.text().find("; 403") != std::string::npos);
      // Refused as a preflight too.
      auto p = preflight(e, c.origin, "GET");
      REQUIRE(p.status() == 403);
      REQUIRE_FALSE(p.headers().contains("Access-Control-Allow-Origin"));
    }
  }
  SECTION("two Origin fields: refused") {
    auto r = perform_request(e, "GET", "/api", {{"Origin", "https://app.example.com"}, {"Origin", "https://x"}});
    REQUIRE(r.status() == 403);
  }
  SECTION("no Origin, or the request's own: passes untouched but for Vary") {
    auto r = perform_request(e, "GET", "/api");
    REQUIRE(r.status() == 200);
    REQUIRE(r.header("Vary") == "Origin");
    REQUIRE_FALSE(r.headers().contains("Access-Control-Allow-Origin"));
    auto same = perform_request(e, "POST", "/api", {{"Origin", "https://api.internal:8443"}, {"Host", "api.internal:8443"}});
    REQUIRE(same.status() == 404);  // no POST route: the fallback answers, not CORS
    REQUIRE_FALSE(same.headers().contains("Access-Control-Allow-Origin"));
  }
}

TEST_CASE("cors: preflight") {
  khz::Engine e;
  e.use(khz::middleware::cors({.allow_origins = {"https://app.example.com"},
                               .allow_methods = {"GET", "POST", "DELETE"},
                               .allow_headers = {"Content-Type", "X-Token"},
                               .expose_headers = {"X-Request-ID", "X-Total"},
                               .allow_credentials = true,
                               .max_age = std::chrono::hours(2)}));
  bool handler_ran = false;
  e.get("/api", [&](khz::RequestContext& c) { handler_ran = true; hello(c); });

  SECTION("allowed: 204 with the allow fields, the chain stops (no OPTIONS route needed)") {
    auto r = preflight(e, "https://app.example.com", "DELETE", "content-type, x-token");
    REQUIRE(r.status() == 204);
    REQUIRE(r.body().empty());
    REQUIRE(r.header("Access-Control-Allow-Origin") == "https://app.example.com");
    REQUIRE(r.header("Access-Control-Allow-Methods") == "GET, POST, DELETE");
    REQUIRE(r.header("Access-Control-Allow-Headers") == "Content-Type, X-Token");
    REQUIRE(r.header("Access-Control-Allow-Credentials") == "true");
    REQUIRE(r.header("Access-Control-Max-Age") == "7200");
    REQUIRE(r.header("Vary") == "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    REQUIRE_FALSE(r.headers().contains("Access-Control-Expose-Headers"));  // not on preflights
    REQUIRE_FALSE(r.headers().contains("Access-Control-Allow-Private-Network"));
    REQUIRE_FALSE(handler_ran);
  }
  SECTION("a method or a header not allowed: 403 and a log line") {
    khz::test::LogCapture log;
    REQUIRE(preflight(e, "https://app.example.com", "PUT").status() == 403);
    REQUIRE(log.text().find("cors: method PUT not allowed") != std::string::npos);
    REQUIRE(preflight(e, "https://app.example.com", "POST", "Content-Type, X-Secret").status() == 403);
    REQUIRE(log.text().find("cors: header X-Secret not allowed") != std::string::npos);
    REQUIRE(preflight(e, "https://app.example.com", "POST", "bad header").status() == 403);
    REQUIRE(preflight(e, "https://app.example.com", "P(ST").status() == 403);
    REQUIRE(log.text().find("malformed Access-Control-Request-Method") != std::string::npos);
  }
  SECTION("actual request: origin, credentials, exposed headers") {
    auto r = perform_request(e, "GET", "/api", {{"Origin", "https://app.example.com"}});
    REQUIRE(r.status() == 200);
    REQUIRE(handler_ran);
    REQUIRE(r.header("Access-Control-Allow-Origin") == "https://app.example.com");
    REQUIRE(r.header("Access-Control-Allow-Credentials") == "true");
    REQUIRE(r.header("Access-Control-Expose-Headers") == "X-Request-ID, X-Total");
    REQUIRE_FALSE(r.headers().contains("Access-Control-Allow-Methods"));
  }
  SECTION("an OPTIONS request that is not a preflight reaches the routes") {
    auto r = perform_request(e, "OPTIONS", "/api", {{"Origin", "https://app.example.com"}});
    REQUIRE(r.status() == 404);
  }
}

TEST_CASE("cors: any origin, any header, private network, passthrough") {
  SECTION("\"*\": a constant answer, no Vary: Origin") {
    khz::Engine e;
    e.use(khz::middleware::cors({.allow_origins = {"*"}, .allow_headers = {"*"}}));
    e.get("/api", hello);
    auto r = perform_request(e, "GET", "/api", {{"Origin", "https://anyone.example"}});
    REQUIRE(r.header("Access-Control-Allow-Origin") == "*");
    REQUIRE_FALSE(r.headers().contains("Vary"));
    auto p = preflight(e, "https://anyone.example", "PATCH", "X-Anything,  X-Other");
    REQUIRE(p.status() == 204);
    REQUIRE(p.header("Access-Control-Allow-Origin") == "*");
    REQUIRE(p.header("Access-Control-Allow-Headers") == "X-Anything,  X-Other");
    REQUIRE(p.header("Vary") == "Access-Control-Request-Method, Access-Control-Request-Headers");
    auto bad = perform_request(e, "GET", "/api", {{"Origin", "not an origin"}});
    REQUIRE(bad.status() == 403);
  }
  SECTION("private network access: allowed only by option") {
    for (bool allow : {false, true}) {
      CAPTURE(allow);
      khz::Engine e;
      e.use(khz::middleware::cors({.allow_origins = {"https://public.example"}, .allow_private_network = allow}));
      auto r = perform_request(e, "OPTIONS", "/printer",
                               {{"Origin", "https://public.example"},
                                {"Access-Control-Request-Method", "GET"},
                                {"Access-Control-Request-Private-Network", "true"}});
      REQUIRE(r.status() == 204);
      REQUIRE(r.headers().contains("Access-Control-Allow-Private-Network") == allow);
      if (allow) REQUIRE(r.header("Access-Control-Allow-Private-Network") == "true");
    }
  }
  SECTION("options_passthrough: the preflight reaches the OPTIONS route with its headers set") {
    khz::Engine e;
    e.use(khz::middleware::cors({.allow_origins = {"https://app.example"}, .options_passthrough = true}));
    e.options("/api", [](khz::RequestContext& c) { c.string(200, "mine"); });
    auto r = perform_request(e, "OPTIONS", "/api", {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "GET"}});
    REQUIRE(r.status() == 200);
    REQUIRE(r.body() == "mine");
    REQUIRE(r.header("Access-Control-Allow-Origin") == "https://app.example");
  }
}

TEST_CASE("cors: bad setup is refused") {
  using khz::middleware::cors;
  REQUIRE_THROWS_AS(cors({}), std::invalid_argument);  // no origin at all
  REQUIRE_THROWS_AS(cors({.allow_origins = {"*"}, .allow_credentials = true}), std::invalid_argument);
  for (const char* bad : {"https://app.example/", "app.example", "https://*", "https://*example.com", "https://a.*.com",
                          "*.example.com", "https://**.example.com", "https://x.example.*"}) {
    CAPTURE(bad);
    REQUIRE_THROWS_AS(cors({.allow_origins = {bad}}), std::invalid_argument);
  }
  REQUIRE_THROWS_AS(cors({.allow_origins = {"https://a.example"}, .allow_headers = {"bad header"}}), std::invalid_argument);
  REQUIRE_THROWS_AS(cors({.allow_origins = {"https://a.example"}, .max_age = std::chrono::seconds(-1)}),
                    std::invalid_argument);
  REQUIRE_NOTHROW(cors({.allow_origins = {"https://*.example.com"}, .allow_credentials = true}));
}

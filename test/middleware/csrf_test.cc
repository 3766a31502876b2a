// SPDX-License-Identifier: Apache-2.0
#include <khz/app/server.h>
#include <khz/app/testing.h>
#include <khz/middleware/csrf.h>

#include <catch2/catch.hpp>

#include "middleware/log_capture.h"
#include "support/raw_client.h"
#include "support/test_server.h"

#include <stdexcept>
#include <string>

using khz::middleware::CsrfMode;
using khz::testing::perform_request;

namespace {

const std::string kSecret(32, 'c');

// The cookie value from "csrf=<value>; Path=/; ...".
std::string cookie_value(const khz::Response& r, std::string_view name = "csrf") {
  const std::string set(r.header("Set-Cookie"));
  const std::string prefix = std::string(name) + "=";
  if (set.rfind(prefix, 0) != 0) return {};
  return set.substr(prefix.size(), set.find(';') - prefix.size());
}

void add_routes(khz::Engine& e, bool* changed) {
  e.get("/form", [](khz::RequestContext& c) { c.string(200, khz::middleware::csrf_token(c)); });
  const auto change = [changed](khz::RequestContext& c) {
    *changed = true;
    c.string(200, "changed");
  };
  e.post("/change", change);
  e.handle("DELETE", "/change", change);
}

struct Client {
  std::string cookie;
  std::string token;
};

Client fetch_token(khz::Engine& e) {
  auto r = perform_request(e, "GET", "/form");
  REQUIRE(r.status() == 200);
  Client c{cookie_value(r), std::string(r.body())};
  REQUIRE(c.cookie.size() == 43);
  REQUIRE_FALSE(c.token.empty());
  return c;
}

}  // namespace

TEST_CASE("csrf signed_token: the token round-trips by header and by form field; safe methods pass") {
  khz::Engine e;
  e.use(khz::middleware::csrf({.secret = kSecret}));
  bool changed = false;
  add_routes(e, &changed);
  auto first = perform_request(e, "GET", "/form");
  REQUIRE(std::string(first.header("Set-Cookie")).find("; Path=/; Max-Age=43200; HttpOnly; SameSite=Lax") !=
          std::string::npos);
  const Client c = fetch_token(e);
  REQUIRE(c.token != c.cookie);  // the page never holds the cookie's value
  // A client that has its cookie gets no new one, and a fresh token each time.
  auto again = perform_request(e, "GET", "/form", {{"Cookie", "csrf=" + c.cookie}});
  REQUIRE(again.header("Set-Cookie").empty());
  REQUIRE(again.body() != c.token);
  const std::string token2(again.body());

  for (const std::string& token : {c.token, token2}) {
    changed = false;
    auto r = perform_request(e, "POST", "/change", {{"Cookie", "csrf=" + c.cookie}, {"X-CSRF-Token", token}});
    REQUIRE(r.status() == 200);
    REQUIRE(changed);
  }
  changed = false;
  auto form = perform_request(e, "POST", "/change",
                              {{"Cookie", "csrf=" + c.cookie}, {"Content-Type", "application/x-www-form-urlencoded"}},
                              "title=x&csrf_token=" + c.token);
  REQUIRE(form.status() == 200);
  REQUIRE(changed);
  // Same origin by Origin, by Referer, and by Sec-Fetch-Site.
  for (const khz::testing::Header& h : {khz::testing::Header{"Origin", "http://shop.example"},
                                        khz::testing::Header{"Referer", "http://shop.example/form?x=1"},
                                        khz::testing::Header{"Sec-Fetch-Site", "same-origin"}}) {
    CAPTURE(h.name);
    auto r = perform_request(e, "DELETE", "/change",
                             {{"Host", "shop.example"}, h, {"Cookie", "csrf=" + c.cookie}, {"X-CSRF-Token", c.token}});
    REQUIRE(r.status() == 200);
  }
  for (const char* method : {"GET", "HEAD", "OPTIONS", "TRACE"}) {
    CAPTURE(method);
    khz::Engine safe;
    safe.use(khz::middleware::csrf({.secret = kSecret}));
    safe.handle(method, "/x", [](khz::RequestContext& ctx) { ctx.string(200, "ok"); });
    REQUIRE(perform_request(safe, method, "/x", {{"Origin", "https://evil.example"}}).status() == 200);
  }
}

TEST_CASE("csrf: refusals are 403 with one log line each") {
  khz::Engine e;
  e.use(khz::middleware::csrf({.secret = kSecret, .allowed_origins = {"https://app.example"}, .require_origin = false}));
  bool changed = false;
  add_routes(e, &changed);
  const Client c = fetch_token(e);
  const Client other = fetch_token(e);
  // A token signed with another secret for the same cookie value.
  khz::Engine foreign;
  foreign.use(khz::middleware::csrf({.secret = std::string(32, 'z')}));
  add_routes(foreign, &changed);
  const std::string foreign_token(perform_request(foreign, "GET", "/form", {{"Cookie", "csrf=" + c.cookie}}).body());

  using H = std::vector<khz::testing::Header>;
  const std::string cookie = "csrf=" + c.cookie;
  struct Case {
    const char* name;
    H headers;
    const char* logged;
  };
  const Case cases[] = {
      {"no cookie", {{"X-CSRF-Token", c.token}}, "no CSRF cookie"},
      {"malformed cookie", {{"Cookie", "csrf=abc"}, {"X-CSRF-Token", c.token}}, "malformed CSRF cookie"},
      {"no token", {{"Cookie", cookie}}, "no CSRF token"},
      {"empty token", {{"Cookie", cookie}, {"X-CSRF-Token", ""}}, "CSRF token mismatch"},
      {"another client's token", {{"Cookie", cookie}, {"X-CSRF-Token", other.token}}, "CSRF token mismatch"},
      {"another secret's token", {{"Cookie", cookie}, {"X-CSRF-Token", foreign_token}}, "CSRF token mismatch"},
      {"the cookie as the token", {{"Cookie", cookie}, {"X-CSRF-Token", c.cookie}}, "CSRF token mismatch"},
      {"a token one byte off",
       {{"Cookie", cookie}, {"X-CSRF-Token", c.token.substr(0, 10) + (c.token[10] == 'A' ? 'B' : 'A') + c.token.substr(11)}},
       "CSRF token mismatch"},
      {"token twice", {{"Cookie", cookie}, {"X-CSRF-Token", c.token}, {"X-CSRF-Token", c.token}}, "sent more than once"},
      {"cross-origin POST", {{"Cookie", cookie}, {"X-CSRF-Token", c.token}, {"Origin", "https://evil.example"}},
       "cross-origin request (Origin https://evil.example)"},
      {"cross-origin by Referer",
       {{"Cookie", cookie}, {"X-CSRF-Token", c.token}, {"Referer", "https://evil.example/page"}},
       "cross-origin request (Referer https://evil.example)"},
      {"Origin null", {{"Cookie", cookie}, {"X-CSRF-Token", c.token}, {"Origin", "null"}}, "Origin not an origin"},
      {"cross-site fetch",
       {{"Cookie", cookie}, {"X-CSRF-Token", c.token}, {"Sec-Fetch-Site", "cross-site"}, {"Origin", "https://evil.example"}},
       "cross-origin request"},
      {"same-site is not same-origin",
       {{"Host", "shop.example"}, {"Cookie", cookie}, {"X-CSRF-Token", c.token}, {"Sec-Fetch-Site", "same-site"},
        {"Origin", "http://blog.shop.example"}},
       "cross-origin request"},
      {"scheme differs", {{"Host", "shop.example"}, {"Cookie", cookie}, {"X-CSRF-Token", c.token}, {"Origin", "https://shop.example"}},
       "cross-origin request"},
  };
  for (const auto& k : cases) {
    CAPTURE(k.name);
    changed = false;
    khz::test::LogCapture log;
    auto r = perform_request(e, "POST", "/change", k.headers);
    REQUIRE(r.status() == 403);
    REQUIRE(r.body() == "403 forbidden");
    REQUIRE_FALSE(changed);
    const std::string text = log.text();
    CAPTURE(text);
    REQUIRE(text.find("csrf: POST /change: ") != std::string::npos);
    REQUIRE(text.find(k.logged) != std::string::npos);
    REQUIRE(std::count(text.begin(), text.end(), '\n') == 1);
  }
  // An allowed other origin passes the origin check.
  auto r = perform_request(e, "POST", "/change", {{"Cookie", cookie}, {"X-CSRF-Token", c.token}, {"Origin", "https://APP.example"}});
  REQUIRE(r.status() == 200);
  // require_origin: neither Origin nor Referer is refused.
  khz::Engine strict;
  strict.use(khz::middleware::csrf({.secret = kSecret, .require_origin = true}));
  add_routes(strict, &changed);
  khz::test::LogCapture log;
  REQUIRE(perform_request(strict, "POST", "/change", {{"Cookie", cookie}, {"X-CSRF-Token", c.token}}).status() == 403);
  REQUIRE(log.text().find("no Origin or Referer") != std::string::npos);
}

TEST_CASE("csrf double_submit: the cookie is the token, readable by scripts") {
  khz::Engine e;
  e.use(khz::middleware::csrf({.mode = CsrfMode::double_submit}));
  bool changed = false;
  add_routes(e, &changed);
  auto first = perform_request(e, "GET", "/form");
  REQUIRE(std::string(first.header("Set-Cookie")).find("HttpOnly") == std::string::npos);
  const Client c = fetch_token(e);
  REQUIRE(c.token == c.cookie);
  REQUIRE(perform_request(e, "POST", "/change", {{"Cookie", "csrf=" + c.cookie}, {"X-CSRF-Token", c.token}}).status() == 200);
  REQUIRE(changed);
  const Client other = fetch_token(e);
  khz::test::LogCapture log;
  REQUIRE(perform_request(e, "POST", "/change", {{"Cookie", "csrf=" + c.cookie}, {"X-CSRF-Token", other.token}}).status() ==
          403);
  REQUIRE(log.text().find("CSRF token mismatch") != std::string::npos);
}

TEST_CASE("csrf: bad setups throw") {
  using O = khz::middleware::CsrfOptions;
  const auto throws = [](O o) { REQUIRE_THROWS_AS(khz::middleware::csrf(std::move(o)), std::invalid_argument); };
  throws(O{});                                                   // signed_token without a secret
  throws(O{.secret = "short"});
  throws(O{.secret = kSecret, .cookie_name = "__Host-csrf"});     // __Host- needs Secure
  throws(O{.secret = kSecret, .cookie_name = "bad name"});
  throws(O{.secret = kSecret, .allowed_origins = {"https://app.example/path"}});
  throws(O{.secret = kSecret, .header_name = ""});
  REQUIRE_NOTHROW(khz::middleware::csrf({.secret = kSecret, .cookie_name = "__Host-csrf", .cookie_secure = true}));
  REQUIRE_NOTHROW(khz::middleware::csrf({.mode = CsrfMode::double_submit}));
}

TEST_CASE("csrf on the wire: curl keeps the cookie, sends the token; a cross-origin POST is refused") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer s(transport);
      s.server.use(khz::middleware::csrf({.secret = kSecret}));
      s.server.get("/form", [](khz::RequestContext& c) { c.string(200, khz::middleware::csrf_token(c)); });
      s.server.post("/change", [](khz::RequestContext& c) { c.string(200, "changed"); });
      s.start();
      const std::string jar = "/tmp/khz-csrf-jar-" + transport + "-" + std::to_string(s.port());
      for (const std::string version : {"--http1.1", "--http2-prior-knowledge"}) {
        CAPTURE(version);
        std::remove(jar.c_str());
        const std::string curl = "curl -s --max-time 10 " + version + " -c " + jar + " -b " + jar + " ";
        const std::string token = khz::test::run_command(curl + s.url("/form")).output;
        REQUIRE(token.size() == 64);
        const std::string origin = "http://127.0.0.1:" + std::to_string(s.port());
        REQUIRE(khz::test::run_command(curl + "-H 'Origin: " + origin + "' -H 'X-CSRF-Token: " + token + "' -X POST " +
                                       s.url("/change")).output == "changed");
        REQUIRE(khz::test::run_command(curl + "-H 'Origin: " + origin + "' --data-urlencode 'csrf_token=" + token + "' " +
                                       s.url("/change")).output == "changed");
        // A page on another site posting to us: the browser adds the cookie, not the token; and
        // even with a token, the Origin gives it away.
        REQUIRE(khz::test::run_command(curl + "-w ' %{http_code}' -H 'Origin: https://evil.example' -d 'a=1' " +
                                       s.url("/change")).output == "403 forbidden 403");
        REQUIRE(khz::test::run_command(curl + "-w ' %{http_code}' -H 'Origin: https://evil.example' -H 'X-CSRF-Token: " +
                                       token + "' -X POST " + s.url("/change")).output == "403 forbidden 403");
      }
      std::remove(jar.c_str());
    }
  }
}

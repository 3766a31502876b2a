// SPDX-License-Identifier: Apache-2.0
#include <khz/app/testing.h>
#include <khz/middleware/basic_auth.h>
#include <khz/middleware/key_auth.h>

#include <catch2/catch.hpp>

#include "middleware/log_capture.h"

#include <stdexcept>
#include <string>

using khz::testing::perform_request;
using khz::middleware::KeyFrom;

namespace {

// base64 of a few fixed strings (RFC 4648 test vectors style), checked by the accepted cases.
constexpr const char* kAnn = "YW5uOmNvcnJlY3QgaG9yc2U=";      // "ann:correct horse"
constexpr const char* kAnnWrong = "YW5uOndyb25n";             // "ann:wrong"
constexpr const char* kNobody = "bm9ib2R5OmNvcnJlY3QgaG9yc2U=";  // "nobody:correct horse"
constexpr const char* kNoColon = "YW5u";                      // "ann"
constexpr const char* kCarol = "Y2Fyb2w6czNjcjN0";            // "carol:s3cr3t"
constexpr const char* kControl = "YW5uOgFi";                  // "ann:\x01b"

void whoami(khz::RequestContext& c) {
  const std::string* user = c.get_as<std::string>("user");
  c.string(200, user != nullptr ? *user : std::string("?"));
}

}  // namespace

TEST_CASE("basic_auth: accepted credentials, the user in the context") {
  khz::Engine e;
  e.use(khz::middleware::basic_auth({.users = {{"ann", "correct horse"}, {"bob", "battery staple"}},
                                     .validate = [](std::string_view u, std::string_view p) {
                                       return u == "carol" && p == "s3cr3t";
                                     }}));
  e.get("/me", whoami);
  auto r = perform_request(e, "GET", "/me", {{"Authorization", std::string("Basic ") + kAnn}});
  REQUIRE(r.status() == 200);
  REQUIRE(r.body() == "ann");
  REQUIRE(perform_request(e, "GET", "/me", {{"Authorization", std::string("basic  ") + kAnn}}).body() == "ann");
  REQUIRE(perform_request(e, "GET", "/me", {{"Authorization", std::string("Basic ") + kCarol}}).body() == "carol");
}

TEST_CASE("basic_auth: refusals are 401 with a challenge; malformed and wrong ones are logged") {
  khz::Engine e;
  e.use(khz::middleware::basic_auth({.users = {{"ann", "correct horse"}}, .realm = "ops"}));
  bool ran = false;
  e.get("/me", [&](khz::RequestContext& c) { ran = true; whoami(c); });
  struct Case {
    std::string authorization;  // "" : none sent
    const char* logged;         // nullptr: nothing logged
  };
  const Case cases[] = {
      {"", nullptr},
      {std::string("Basic ") + kAnnWrong, "credentials refused"},
      {std::string("Basic ") + kNobody, "credentials refused"},
      {std::string("Bearer ") + kAnn, "not the Basic scheme"},
      {"Basic", "not the Basic scheme"},
      {"Basic ", "bad base64"},
      {"Basic YW5uOmNvcnJlY3QgaG9yc2U", "bad base64"},     // padding missing
      {"Basic YW5u*mNvcnJlY3QgaG9yc2U=", "bad base64"},    // outside the alphabet
      {"Basic YW5uOmNvcnJlY3Qg aG9yc2U=", "bad base64"},   // a space inside
      {"Basic ====", "bad base64"},
      {std::string("Basic ") + kNoColon, "no ':'"},
      {std::string("Basic ") + kControl, "a control character"},
      {"Basic " + std::string(5000, 'A'), "over 4 KiB"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.authorization);
    khz::test::LogCapture log;
    std::vector<khz::testing::Header> headers;
    if (!c.authorization.empty()) headers.emplace_back("Authorization", c.authorization);
    auto r = perform_request(e, "GET", "/me", headers);
    REQUIRE(r.status() == 401);
    REQUIRE(r.header("WWW-Authenticate") == R"(Basic realm="ops", charset="UTF-8")");
    REQUIRE(r.body() == "401 unauthorized");
    REQUIRE_FALSE(ran);
    const std::string text = log.text();
    if (c.logged == nullptr) {
      REQUIRE(text.find("basic_auth") == std::string::npos);
    } else {
      REQUIRE(text.find("basic_auth: GET /me: ") != std::string::npos);
      REQUIRE(text.find(c.logged) != std::string::npos);
      REQUIRE(text.find("correct horse") == std::string::npos);  // never the password
    }
  }
  auto twice = perform_request(e, "GET", "/me", {{"Authorization", std::string("Basic ") + kAnn},
                                                 {"Authorization", std::string("Basic ") + kAnn}});
  REQUIRE(twice.status() == 401);
}

TEST_CASE("basic_auth: bad setup") {
  using khz::middleware::basic_auth;
  REQUIRE_THROWS_AS(basic_auth({}), std::invalid_argument);
  REQUIRE_THROWS_AS(basic_auth({.users = {{"a:b", "c"}}}), std::invalid_argument);
  REQUIRE_THROWS_AS(basic_auth({.users = {{"a", "b"}}, .realm = "x\"y"}), std::invalid_argument);
}

TEST_CASE("key_auth: header, query and cookie lookups, in order") {
  khz::Engine e;
  e.use(khz::middleware::key_auth({.lookups = {{.from = KeyFrom::header, .name = "Authorization", .scheme = "Bearer"},
                                               {.from = KeyFrom::query, .name = "api_key"},
                                               {.from = KeyFrom::cookie, .name = "key"}},
                                   .keys = {"k-alpha", "k-beta"},
                                   .validate = [](std::string_view k) { return k == "k-from-store"; }}));
  e.get("/data", [](khz::RequestContext& c) { c.string(200, "data"); });
  REQUIRE(perform_request(e, "GET", "/data", {{"Authorization", "Bearer k-alpha"}}).status() == 200);
  REQUIRE(perform_request(e, "GET", "/data", {{"Authorization", "bearer   k-beta"}}).status() == 200);
  REQUIRE(perform_request(e, "GET", "/data?api_key=k-beta").status() == 200);
  REQUIRE(perform_request(e, "GET", "/data", {{"Cookie", "theme=dark; key=k-alpha"}}).status() == 200);
  REQUIRE(perform_request(e, "GET", "/data", {{"Authorization", "Bearer k-from-store"}}).status() == 200);
  // The first lookup that finds a key decides: a good query key does not save a bad header.
  REQUIRE(perform_request(e, "GET", "/data?api_key=k-alpha", {{"Authorization", "Bearer nope"}}).status() == 401);

  SECTION("refusals: 401 with the challenge, a log line for bad or malformed keys") {
    struct Case {
      std::string target;
      std::vector<khz::testing::Header> headers;
      const char* logged;
    };
    const Case cases[] = {
        {"/data", {}, nullptr},
        {"/data", {{"Authorization", "Bearer k-gamma"}}, "unknown key (in header Authorization)"},
        {"/data?api_key=k-alph", {}, "unknown key (in query parameter api_key)"},
        {"/data", {{"Cookie", "key=k-alpha-and-more"}}, "unknown key (in cookie key)"},
        {"/data", {{"Authorization", "Basic k-alpha"}}, "without the Bearer scheme"},
        {"/data", {{"Authorization", "Bearerk-alpha"}}, "without the Bearer scheme"},
        {"/data", {{"Authorization", "Bearer"}}, "without the Bearer scheme"},
        {"/data", {{"Authorization", "Bearer "}}, "empty"},
        {"/data?api_key=", {}, "empty"},
        {"/data?api_key=k%01alpha", {}, "outside visible ASCII"},
        {"/data", {{"Authorization", "Bearer " + std::string(2000, 'k')}}, "over 1024 bytes"},
        {"/data", {{"Authorization", "Bearer k-alpha"}, {"Authorization", "Bearer k-alpha"}}, "sent 2 times"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.target, c.logged ? c.logged : "");
      khz::test::LogCapture log;
      auto r = perform_request(e, "GET", c.target, c.headers);
      REQUIRE(r.status() == 401);
      REQUIRE(r.header("WWW-Authenticate") == R"(Bearer realm="Restricted")");
      const std::string text = log.text();
      if (c.logged == nullptr) {
        REQUIRE(text.find("key_auth") == std::string::npos);
      } else {
        REQUIRE(text.find("key_auth: GET /data: ") != std::string::npos);
        REQUIRE(text.find(c.logged) != std::string::npos);
        REQUIRE(text.find("k-gamma") == std::string::npos);  // never the key
      }
    }
  }
}

TEST_CASE("key_auth: the default lookup and bad setup") {
  khz::Engine e;
  e.use(khz::middleware::key_auth({.keys = {"secret"}}));
  e.get("/", [](khz::RequestContext& c) { c.string(200, "ok"); });
  REQUIRE(perform_request(e, "GET", "/", {{"X-API-Key", "secret"}}).status() == 200);
  auto r = perform_request(e, "GET", "/", {{"X-API-Key", "secreT"}});
  REQUIRE(r.status() == 401);
  REQUIRE(r.header("WWW-Authenticate") == R"(ApiKey realm="Restricted")");
  using khz::middleware::key_auth;
  REQUIRE_THROWS_AS(key_auth({}), std::invalid_argument);
  REQUIRE_THROWS_AS(key_auth({.keys = {""}}), std::invalid_argument);
  REQUIRE_THROWS_AS(key_auth({.lookups = {}, .keys = {"k"}}), std::invalid_argument);
  REQUIRE_THROWS_AS(key_auth({.lookups = {{.from = KeyFrom::query, .name = "k", .scheme = "Bearer"}}, .keys = {"k"}}),
                    std::invalid_argument);
}

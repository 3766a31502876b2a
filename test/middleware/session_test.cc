// SPDX-License-Identifier: Apache-2.0
// khz::middleware::session with the cookie store: round trips in both modes, what is written
// back and when, key rotation, cookie attributes, and every kind of bad cookie (a fresh
// session and one log line each).
#include <khz/app/testing.h>
#include <khz/middleware/session.h>

#include <catch2/catch.hpp>

#include "middleware/log_capture.h"

#include <chrono>
#include <string>
#include <vector>

using khz::testing::perform_request;
using namespace std::chrono_literals;

namespace {

const std::string kKeyA(32, 'a');
const std::string kKeyB = "0123456789abcdef0123456789abcdef-b";
const std::string kKeyC(40, 'c');

bool contains(std::string_view haystack, std::string_view needle) { return haystack.find(needle) != std::string_view::npos; }

// The session cookie's value from a response's Set-Cookie ("" when none).
std::string session_cookie(const khz::Response& r, std::string_view name = "khz_session") {
  for (const auto& f : r.headers()) {
    if (!khz::iequals(f.name, "Set-Cookie")) continue;
    std::string_view v = f.value;
    if (v.size() > name.size() && v.substr(0, name.size()) == name && v[name.size()] == '=') {
      v.remove_prefix(name.size() + 1);
      return std::string(v.substr(0, v.find(';')));
    }
  }
  return {};
}

std::size_t set_cookie_count(const khz::Response& r) { return r.headers().count("Set-Cookie"); }

std::string full_set_cookie(const khz::Response& r) { return std::string(r.headers().get("Set-Cookie")); }

// Routes over the session: /set?k=..&v=.., /get?k=.., /erase?k=.., /clear, /regenerate,
// /destroy, /id, /touch (reads only).
void add_routes(khz::Engine& e) {
  e.get("/set", [](khz::RequestContext& c) {
    khz::middleware::session(c).set(std::string(c.query("k")), std::string(c.query("v")));
    c.string(200, "ok");
  });
  e.get("/get", [](khz::RequestContext& c) {
    const std::string* v = khz::middleware::session(c).get(c.query("k"));
    c.string(200, v != nullptr ? *v : std::string("<none>"));
  });
  e.get("/erase", [](khz::RequestContext& c) {
    khz::middleware::session(c).erase(c.query("k"));
    c.string(200, "ok");
  });
  e.get("/clear", [](khz::RequestContext& c) {
    khz::middleware::session(c).clear();
    c.string(200, "ok");
  });
  e.get("/regenerate", [](khz::RequestContext& c) {
    khz::middleware::session(c).regenerate();
    c.string(200, std::string(khz::middleware::session(c).id()));
  });
  e.get("/destroy", [](khz::RequestContext& c) {
    khz::middleware::session(c).destroy();
    c.string(200, "bye");
  });
  e.get("/id", [](khz::RequestContext& c) {
    auto& s = khz::middleware::session(c);
    c.string(200, std::string(s.id()) + (s.is_new() ? " new" : " old"));
  });
}

std::vector<khz::testing::Header> with_cookie(const std::string& value) {
  std::vector<khz::testing::Header> h;
  h.emplace_back("Cookie", "khz_session=" + value);
  return h;
}

}  // namespace

TEST_CASE("session (cookie store): round trip, encrypted and signed") {
  for (const bool encrypt : {true, false}) {
    DYNAMIC_SECTION("encrypt " << encrypt) {
      khz::Engine e;
      e.use(khz::middleware::session({.store = khz::middleware::cookie_store({.keys = {kKeyA}, .encrypt = encrypt})}));
      add_routes(e);
      auto r = perform_request(e, "GET", "/set?k=user&v=ann");
      REQUIRE(r.status() == 200);
      const std::string v1 = session_cookie(r);
      REQUIRE_FALSE(v1.empty());
      REQUIRE(set_cookie_count(r) == 1);
      REQUIRE(perform_request(e, "GET", "/get?k=user", with_cookie(v1)).body() == "ann");
      // A second value: the cookie changes and carries both.
      r = perform_request(e, "GET", "/set?k=theme&v=dark", with_cookie(v1));
      const std::string v2 = session_cookie(r);
      REQUIRE_FALSE(v2.empty());
      REQUIRE(v2 != v1);
      REQUIRE(perform_request(e, "GET", "/get?k=user", with_cookie(v2)).body() == "ann");
      REQUIRE(perform_request(e, "GET", "/get?k=theme", with_cookie(v2)).body() == "dark");
      // erase and clear
      const std::string v3 = session_cookie(perform_request(e, "GET", "/erase?k=user", with_cookie(v2)));
      REQUIRE(perform_request(e, "GET", "/get?k=user", with_cookie(v3)).body() == "<none>");
      REQUIRE(perform_request(e, "GET", "/get?k=theme", with_cookie(v3)).body() == "dark");
      const std::string v4 = session_cookie(perform_request(e, "GET", "/clear", with_cookie(v3)));
      REQUIRE(perform_request(e, "GET", "/get?k=theme", with_cookie(v4)).body() == "<none>");
      // Signed cookies carry the payload in clear (inside base64url); encrypted ones do not.
      // "khz-session-readable-" is 21 bytes: its base64 shows at one of three alignments.
      const std::string v5 = session_cookie(perform_request(e, "GET", "/set?k=x&v=khz-session-readable-khz-session-readable-"));
      const bool readable = contains(v5, "LXNlc3Npb24tcmVhZGFibGUt") || contains(v5, "ZXNzaW9uLXJlYWRhYmxl") ||
                            contains(v5, "c2Vzc2lvbi1yZWFkYWJsZS");
      REQUIRE(readable == !encrypt);
    }
  }
}

TEST_CASE("session (cookie store): written back only when changed") {
  khz::Engine e;
  e.use(khz::middleware::session({.store = khz::middleware::cookie_store({.keys = {kKeyA}})}));
  add_routes(e);
  // A new session nobody wrote to: no cookie.
  auto r = perform_request(e, "GET", "/get?k=user");
  REQUIRE(r.body() == "<none>");
  REQUIRE(set_cookie_count(r) == 0);
  const std::string v = session_cookie(perform_request(e, "GET", "/set?k=user&v=ann"));
  // Reading does not write; setting the same value does not either; erasing a missing key neither.
  REQUIRE(set_cookie_count(perform_request(e, "GET", "/get?k=user", with_cookie(v))) == 0);
  REQUIRE(set_cookie_count(perform_request(e, "GET", "/set?k=user&v=ann", with_cookie(v))) == 0);
  REQUIRE(set_cookie_count(perform_request(e, "GET", "/erase?k=nope", with_cookie(v))) == 0);
  REQUIRE(set_cookie_count(perform_request(e, "GET", "/set?k=user&v=bob", with_cookie(v))) == 1);
}

TEST_CASE("session (cookie store): cookie attributes") {
  khz::Engine e;
  e.use(khz::middleware::session({.store = khz::middleware::cookie_store({.keys = {kKeyA}}), .max_age = 3600s}));
  add_routes(e);
  const std::string sc = full_set_cookie(perform_request(e, "GET", "/set?k=a&v=1"));
  CAPTURE(sc);
  REQUIRE(contains(sc, "; Path=/"));
  REQUIRE(contains(sc, "; Max-Age=3600"));
  REQUIRE(contains(sc, "; Secure"));
  REQUIRE(contains(sc, "; HttpOnly"));
  REQUIRE(contains(sc, "; SameSite=Lax"));
  REQUIRE_FALSE(contains(sc, "Domain="));

  khz::Engine e2;
  e2.use(khz::middleware::session({.store = khz::middleware::cookie_store({.keys = {kKeyA}}),
                                   .cookie = {.name = "sid", .path = "/app", .domain = "example.com", .secure = false,
                                              .http_only = false, .same_site = khz::SameSite::strict, .persistent = false}}));
  add_routes(e2);
  const std::string sc2 = full_set_cookie(perform_request(e2, "GET", "/set?k=a&v=1"));
  CAPTURE(sc2);
  REQUIRE(sc2.rfind("sid=", 0) == 0);
  REQUIRE(contains(sc2, "; Path=/app"));
  REQUIRE(contains(sc2, "; Domain=example.com"));
  REQUIRE(contains(sc2, "; SameSite=Strict"));
  REQUIRE_FALSE(contains(sc2, "Secure"));
  REQUIRE_FALSE(contains(sc2, "HttpOnly"));
  REQUIRE_FALSE(contains(sc2, "Max-Age"));

  REQUIRE_THROWS_AS(khz::middleware::session({}), std::invalid_argument);
  REQUIRE_THROWS_AS(khz::middleware::session({.store = khz::middleware::cookie_store({.keys = {kKeyA}}),
                                              .cookie = {.secure = false, .same_site = khz::SameSite::none}}),
                    std::invalid_argument);
  REQUIRE_THROWS_AS(khz::middleware::session({.store = khz::middleware::cookie_store({.keys = {kKeyA}}),
                                              .max_age = std::chrono::hours(24 * 365 * 200)}),
                    std::invalid_argument);
  REQUIRE_THROWS_AS(khz::middleware::session({.store = khz::middleware::cookie_store({.keys = {kKeyA}}), .idle_timeout = 0s}),
                    std::invalid_argument);
  REQUIRE_THROWS_AS(khz::middleware::session({.store = khz::middleware::cookie_store({.keys = {kKeyA}}),
                                              .unavailable_status = 404}),
                    std::invalid_argument);
  REQUIRE_THROWS_AS(khz::middleware::cookie_store({.keys = {"short"}}), std::invalid_argument);
  REQUIRE_THROWS_AS(khz::middleware::cookie_store({}), std::invalid_argument);
}

TEST_CASE("session (cookie store): key rotation") {
  khz::Engine old_engine;
  old_engine.use(khz::middleware::session({.store = khz::middleware::cookie_store({.keys = {kKeyA}})}));
  add_routes(old_engine);
  const std::string sealed_a = session_cookie(perform_request(old_engine, "GET", "/set?k=user&v=ann"));

  khz::Engine rotated;  // B seals now, A still opens
  rotated.use(khz::middleware::session({.store = khz::middleware::cookie_store({.keys = {kKeyB, kKeyA}})}));
  add_routes(rotated);
  REQUIRE(perform_request(rotated, "GET", "/get?k=user", with_cookie(sealed_a)).body() == "ann");
  const std::string sealed_b = session_cookie(perform_request(rotated, "GET", "/set?k=theme&v=dark", with_cookie(sealed_a)));
  REQUIRE_FALSE(sealed_b.empty());

  khz::Engine only_b;  // A retired: B's cookie opens, A's is refused
  only_b.use(khz::middleware::session({.store = khz::middleware::cookie_store({.keys = {kKeyB}})}));
  add_routes(only_b);
  REQUIRE(perform_request(only_b, "GET", "/get?k=user", with_cookie(sealed_b)).body() == "ann");
  khz::test::LogCapture log;
  REQUIRE(perform_request(only_b, "GET", "/get?k=user", with_cookie(sealed_a)).body() == "<none>");
  REQUIRE(contains(log.text(), "bad signature"));
}

TEST_CASE("session (cookie store): regenerate and destroy") {
  khz::Engine e;
  e.use(khz::middleware::session({.store = khz::middleware::cookie_store({.keys = {kKeyA}})}));
  add_routes(e);
  const std::string v1 = session_cookie(perform_request(e, "GET", "/set?k=user&v=ann"));
  const std::string id1(perform_request(e, "GET", "/id", with_cookie(v1)).body());
  REQUIRE(id1.size() == 32 + 4);  // 32 hex digits and " old"
  REQUIRE(contains(id1, " old"));
  auto r = perform_request(e, "GET", "/regenerate", with_cookie(v1));
  const std::string v2 = session_cookie(r);
  REQUIRE(r.body().size() == 32);
  REQUIRE(id1.substr(0, 32) != r.body());
  REQUIRE(perform_request(e, "GET", "/id", with_cookie(v2)).body() == std::string(r.body()) + " old");
  REQUIRE(perform_request(e, "GET", "/get?k=user", with_cookie(v2)).body() == "ann");  // data kept

  auto d = perform_request(e, "GET", "/destroy", with_cookie(v2));
  const std::string sc = full_set_cookie(d);
  CAPTURE(sc);
  REQUIRE(sc.rfind("khz_session=;", 0) == 0);
  REQUIRE(contains(sc, "Max-Age=0"));
  REQUIRE(set_cookie_count(d) == 1);
}

TEST_CASE("session (cookie store): a session too large for a cookie is not written") {
  khz::Engine e;
  e.use(khz::middleware::session({.store = khz::middleware::cookie_store({.keys = {kKeyA}})}));
  add_routes(e);
  khz::test::LogCapture log;
  auto fits = perform_request(e, "GET", "/set?k=a&v=" + std::string(2900, 'x'));
  REQUIRE_FALSE(session_cookie(fits).empty());
  REQUIRE(session_cookie(fits).size() + std::string("khz_session").size() <= 4096);
  auto big = perform_request(e, "GET", "/set?k=a&v=" + std::string(3100, 'x'));
  REQUIRE(big.status() == 200);
  REQUIRE(set_cookie_count(big) == 0);
  REQUIRE(contains(log.text(), "session: GET /set: not saved"));
}

TEST_CASE("session (cookie store): bad cookies give a fresh session and one log line") {
  auto store = khz::middleware::cookie_store({.keys = {kKeyA}});
  auto signed_store = khz::middleware::cookie_store({.keys = {kKeyA}, .encrypt = false});
  khz::Engine e;
  e.use(khz::middleware::session({.store = store, .max_age = 24h, .idle_timeout = 2h}));
  add_routes(e);
  // Seals records with chosen times through the store itself (as a handler would).
  e.get("/seal", [store, signed_store](khz::RequestContext& c) -> khz::Task<> {
    const auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    khz::middleware::SessionRecord rec{.id = khz::middleware::SessionStore::new_id(), .values = {{"user", "ann"}},
                                       .created = now - std::chrono::hours(std::stoi(std::string(c.query("created_h")))),
                                       .last_written = now - std::chrono::minutes(std::stoi(std::string(c.query("written_m"))))};
    auto& which = c.query("mode") == "signed" ? signed_store : store;
    auto v = co_await which->save(rec, 60s);
    c.string(200, v ? *v : std::string("error"));
  });
  auto seal = [&](int created_h, int written_m, const char* mode = "enc") {
    return std::string(perform_request(e, "GET", "/seal?created_h=" + std::to_string(created_h) +
                                                     "&written_m=" + std::to_string(written_m) + "&mode=" + mode)
                           .body());
  };
  const std::string good = seal(1, 1);
  REQUIRE(perform_request(e, "GET", "/get?k=user", with_cookie(good)).body() == "ann");

  std::string tampered = good;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  std::string tampered_tag = good;
  tampered_tag.back() = tampered_tag.back() == 'A' ? 'Q' : 'A';
  const std::string truncated = good.substr(0, good.size() - 8);
  const std::string very_short = good.substr(0, 12);
  std::string wrong_key;
  {
    khz::Engine other;
    other.use(khz::middleware::session({.store = khz::middleware::cookie_store({.keys = {kKeyC}})}));
    add_routes(other);
    wrong_key = session_cookie(perform_request(other, "GET", "/set?k=user&v=mallory"));
  }
  struct Case {
    const char* what;
    std::string value;
    const char* logged;
  };
  const Case cases[] = {
      {"tampered body", tampered, "bad signature"},
      {"tampered tag", tampered_tag, "cookie refused"},
      {"truncated", truncated, "cookie refused"},
      {"too short for a tag", very_short, "malformed"},
      {"sealed with an unknown key", wrong_key, "bad signature"},
      {"signed where encrypted is expected", seal(1, 1, "signed"), "bad signature"},
      {"oversized", std::string(4100, 'A'), "over 4096 bytes"},
      {"garbage base64", "!!not*base64!!", "malformed"},
      {"padding", good + "==", "malformed"},
      {"base64 of one byte too few", "A", "malformed"},
      {"past max_age", seal(25, 1), "expired"},
      {"past idle_timeout", seal(3, 121), "expired"},
      {"empty", "", "malformed"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    khz::test::LogCapture log;
    auto r = perform_request(e, "GET", "/id", with_cookie(c.value));
    REQUIRE(r.status() == 200);
    REQUIRE(contains(r.body(), " new"));
    REQUIRE(set_cookie_count(r) == 0);  // nothing written for an untouched fresh session
    const std::string text = log.text();
    CAPTURE(text);
    REQUIRE(contains(text, "session: GET /id: cookie refused ("));
    REQUIRE(contains(text, c.logged));
    REQUIRE(contains(text, "a new session"));
    if (c.value.size() > 16) REQUIRE_FALSE(contains(text, c.value.substr(0, 16)));  // never the value
    // And the fresh session works: a write gives a new cookie that opens.
    const std::string fresh = session_cookie(perform_request(e, "GET", "/set?k=user&v=eve", with_cookie(c.value)));
    REQUIRE(perform_request(e, "GET", "/get?k=user", with_cookie(fresh)).body() == "eve");
  }
}

TEST_CASE("session: session(ctx) without the middleware is a 500, not a crash") {
  khz::Engine e;
  add_routes(e);
  khz::test::LogCapture log;
  REQUIRE(perform_request(e, "GET", "/get?k=x").status() == 500);
}

// SPDX-License-Identifier: Apache-2.0
// Hertz's routing semantics at the Engine level, as tables run through the in-process helper:
// priorities and backtracking, trailing-slash and fixed-path redirects, raw versus decoded
// paths, extra slashes, fallbacks.
#include <khz/app/engine.h>
#include <khz/app/testing.h>

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

using khz::testing::perform_request;

namespace {

// Answers "<pattern> <key=value>..." (params in pattern order) so a table can check both.
void describe(khz::RequestContext& c) {
  std::string out(c.full_path());
  for (const auto& p : c.params()) out += " " + std::string(p.key) + "=" + std::string(p.value);
  c.string(200, out);
}

struct Row {
  const char* method;
  const char* target;
  int status;
  const char* expect;  // body for 200, Location for 3xx, "" otherwise
};

void run_table(khz::Engine& e, std::initializer_list<Row> rows) {
  for (const auto& row : rows) {
    CAPTURE(row.method, row.target);
    auto r = perform_request(e, row.method, row.target);
    REQUIRE(r.status() == row.status);
    if (row.status == 200) REQUIRE(r.body() == row.expect);
    if (row.status >= 300 && row.status < 400) REQUIRE(r.header("Location") == row.expect);
  }
}

}  // namespace

TEST_CASE("routing: static beats param beats catch-all, with backtracking") {
  khz::Engine e;
  for (const char* p : {"/", "/users/new", "/users/:id", "/users/:id/posts", "/src/a", "/src/:x/y", "/src/*path",
                        "/repos/:owner/:repo/contents/*path", "/files/*file"}) {
    e.get(p, describe);
  }
  run_table(e, {
                   {"GET", "/", 200, "/"},
                   {"GET", "/users/new", 200, "/users/new"},
                   {"GET", "/users/newer", 200, "/users/:id id=newer"},
                   {"GET", "/users/7", 200, "/users/:id id=7"},
                   {"GET", "/users/new/posts", 200, "/users/:id/posts id=new"},  // backtracks from static
                   {"GET", "/src/a", 200, "/src/a"},
                   {"GET", "/src/a/y", 200, "/src/:x/y x=a"},
                   {"GET", "/src/a/z", 200, "/src/*path path=a/z"},  // backtracks to the catch-all
                   {"GET", "/src/", 200, "/src/*path path="},
                   {"GET", "/repos/cloudwego/hertz/contents/pkg/route/tree.go", 200,
                    "/repos/:owner/:repo/contents/*path owner=cloudwego repo=hertz path=pkg/route/tree.go"},
                   {"GET", "/files/", 200, "/files/*file file="},
                   {"GET", "/users/", 404, ""},  // params are non-empty
                   {"GET", "/nope", 404, ""},
               });
}

TEST_CASE("routing: trailing-slash redirects") {
  khz::Engine e;
  for (const char* p : {"/a/", "/b", "/users/:id", "/static/*path"}) {
    e.get(p, describe);
    e.post(p, describe);
  }
  e.handle("CONNECT", "/c/", describe);
  run_table(e, {
                   {"GET", "/a", 301, "/a/"},
                   {"GET", "/a?x=1&y=2", 301, "/a/?x=1&y=2"},
                   {"POST", "/a", 307, "/a/"},
                   {"GET", "/b/", 301, "/b"},
                   {"POST", "/b/", 307, "/b"},
                   {"GET", "/users/5/", 301, "/users/5"},
                   {"GET", "/static", 301, "/static/"},
                   {"CONNECT", "/c", 404, ""},  // never for CONNECT
                   {"GET", "/zzz/", 404, ""},
               });
  khz::Engine off({.redirect_trailing_slash = false});
  off.get("/a/", describe);
  run_table(off, {{"GET", "/a", 404, ""}});
}

TEST_CASE("routing: fixed-path redirects (cleaned, case-insensitive)") {
  khz::Engine e({.redirect_fixed_path = true});
  for (const char* p : {"/users/profile", "/Docs/:page", "/dir/"}) e.get(p, describe);
  e.post("/users/profile", describe);
  run_table(e, {
                   {"GET", "/USERS/PROFILE", 301, "/users/profile"},
                   {"GET", "/users/Profile?tab=1", 301, "/users/profile"},  // Hertz drops the query
                   {"POST", "/USERS/profile?a=1&b=2", 307, "/users/profile"},
                   {"GET", "/users/profile/?tab=1", 301, "/users/profile?tab=1"},  // a trailing-slash fix keeps it
                   {"POST", "/Users/Profile", 307, "/users/profile"},
                   {"GET", "/docs/Intro", 301, "/Docs/Intro"},  // param text keeps its case
                   {"GET", "/DIR", 301, "/dir/"},               // with the trailing slash fixed
                   {"GET", "/users/profile", 200, "/users/profile"},
                   {"GET", "/nothing/like/it", 404, ""},
               });
  khz::Engine off;
  off.get("/users/profile", describe);
  run_table(off, {{"GET", "/USERS/PROFILE", 404, ""}});
}

TEST_CASE("routing: redirects honour X-Forwarded-Prefix only when asked, and only a clean absolute path") {
  struct PrefixRow {
    const char* method;
    const char* target;
    const char* prefix;    // X-Forwarded-Prefix; nullptr: no such field
    const char* location;  // expected Location of the redirect
  };
  khz::Engine e({.redirect_fixed_path = true, .redirect_forwarded_prefix = true});
  for (const char* p : {"/users/", "/b", "/Docs/:page"}) e.get(p, describe);
  e.post("/b", describe);
  const PrefixRow rows[] = {
      {"GET", "/users", nullptr, "/users/"},
      {"GET", "/users", "/api", "/api/users/"},
      {"GET", "/users?x=1", "/api/v2", "/api/v2/users/?x=1"},
      {"POST", "/b/", "/api", "/api/b"},
      {"GET", "/docs/Intro", "/api", "/api/Docs/Intro"},  // fixed-path redirects too
      {"GET", "/users", "/api/", "/api/users/"},          // a trailing '/' is not doubled
      {"GET", "/users", "/", "/users/"},
      {"GET", "/users", "/a-b_c.d~e/%7Ex/@:;=+$!*'()&", "/a-b_c.d~e/%7Ex/@:;=+$!*'()&/users/"},
      // Anything else is ignored: the redirect goes to the path alone.
      {"GET", "/users", "", "/users/"},
      {"GET", "/users", "api", "/users/"},                     // relative
      {"GET", "/users", "//evil.example", "/users/"},          // network-path reference
      {"GET", "/users", "/x//evil.example", "/users/"},        // empty segment
      {"GET", "/users", "https://evil.example", "/users/"},    // scheme
      {"GET", "/users", "/\\evil.example", "/users/"},          // backslash
      {"GET", "/users", "\\\\evil.example", "/users/"},
      {"GET", "/users", "/api/../admin", "/users/"},           // dot segments
      {"GET", "/users", "/api/.", "/users/"},
      {"GET", "/users", "/api\r\nSet-Cookie: a=b", "/users/"},  // CR/LF
      {"GET", "/users", "/api\tx", "/users/"},
      {"GET", "/users", "/api x", "/users/"},
      {"GET", "/users", "/api?x=1", "/users/"},
      {"GET", "/users", "/api#x", "/users/"},
      {"GET", "/users", "/a,/b", "/users/"},                   // a list
      {"GET", "/users", "/\xc3\xa4pi", "/users/"},              // non-ASCII
  };
  for (const auto& row : rows) {
    CAPTURE(row.method, row.target, row.prefix);
    auto r = row.prefix == nullptr
                 ? perform_request(e, row.method, row.target)
                 : perform_request(e, row.method, row.target, {{"X-Forwarded-Prefix", row.prefix}});
    REQUIRE(r.status() == (std::string_view(row.method) == "GET" ? 301 : 307));
    REQUIRE(r.header("Location") == row.location);
  }
  // Sent twice: ambiguous, not used.
  auto twice = perform_request(e, "GET", "/users", {{"X-Forwarded-Prefix", "/a"}, {"X-Forwarded-Prefix", "/b"}});
  REQUIRE(twice.header("Location") == "/users/");

  // Off by default: the header changes nothing.
  khz::Engine off({.redirect_fixed_path = true});
  for (const char* p : {"/users/", "/Docs/:page"}) off.get(p, describe);
  REQUIRE(perform_request(off, "GET", "/users", {{"X-Forwarded-Prefix", "/api"}}).header("Location") == "/users/");
  REQUIRE(perform_request(off, "GET", "/docs/x", {{"X-Forwarded-Prefix", "/api"}}).header("Location") == "/Docs/x");
}

TEST_CASE("routing: decoded path by default, raw path on request") {
  auto add = [](khz::Engine& e) {
    e.get("/files/:name", describe);
    e.get("/files/:name/meta", describe);
    e.get("/ünï/:x", describe);
    e.get("/static/*path", describe);
  };
  khz::Engine decoded;
  add(decoded);
  run_table(decoded, {
                         {"GET", "/files/a%20b", 200, "/files/:name name=a b"},
                         {"GET", "/files/a%2Fb/meta", 404, ""},  // decoded, %2F is a '/': no such route
                         {"GET", "/%C3%BCn%C3%AF/1", 200, "/ünï/:x x=1"},
                         {"GET", "/ünï/2", 200, "/ünï/:x x=2"},
                         {"GET", "/static/../files/x", 200, "/files/:name name=x"},  // dot segments resolved
                         {"GET", "//files//y", 200, "/files/:name name=y"},          // empty segments collapsed
                         {"GET", "/files/%zz", 200, "/files/:name name=%zz"},        // malformed escape: kept
                         {"GET", "/files/a+b", 200, "/files/:name name=a+b"},        // '+' is literal in a path
                     });

  khz::Engine raw({.use_raw_path = true});
  add(raw);
  run_table(raw, {
                     {"GET", "/files/a%20b", 200, "/files/:name name=a b"},        // values unescaped
                     {"GET", "/files/a%2Fb/meta", 200, "/files/:name/meta name=a/b"},  // %2F stays in the value
                     // Hertz unescapes with Go's url.QueryUnescape: '+' is a space, "%2B" a '+'...
                     {"GET", "/files/a+b", 200, "/files/:name name=a b"},
                     {"GET", "/files/1+1%3D2%2B0", 200, "/files/:name name=1 1=2+0"},
                     {"GET", "/static/x+y/a%2Fb", 200, "/static/*path path=x y/a/b"},  // catch-alls too
                     // ...and a value with a malformed escape is kept whole, '+' and all.
                     {"GET", "/files/a+b%zz", 200, "/files/:name name=a+b%zz"},
                     {"GET", "/files/100%", 200, "/files/:name name=100%"},
                     {"GET", "/static/../files/x", 200, "/static/*path path=../files/x"},
                     {"GET", "//files//y", 404, ""},
                 });

  khz::Engine raw_escaped({.use_raw_path = true, .unescape_path_values = false});
  add(raw_escaped);
  run_table(raw_escaped, {{"GET", "/files/a%20b", 200, "/files/:name name=a%20b"},
                          {"GET", "/files/a+b", 200, "/files/:name name=a+b"}});

  khz::Engine raw_clean({.use_raw_path = true, .remove_extra_slash = true});
  add(raw_clean);
  run_table(raw_clean, {
                           {"GET", "//files//y", 200, "/files/:name name=y"},
                           {"GET", "/static/./a//b", 200, "/static/*path path=a/b"},
                       });
}

TEST_CASE("routing: a path not starting with '/' is a 400") {
  khz::Engine e;
  e.get("/x", describe);
  auto r = perform_request(e, "GET", "x");
  REQUIRE(r.status() == 400);
}

TEST_CASE("routing: fallbacks run the engine's middleware with the status preset") {
  khz::Engine e({.handle_method_not_allowed = true});
  int seen_status = 0;
  e.use([&](khz::RequestContext& c) { seen_status = c.status(); });
  e.get("/only-get", describe);
  auto missing = perform_request(e, "GET", "/missing");
  REQUIRE(missing.status() == 404);
  REQUIRE(missing.body() == "404 page not found");
  REQUIRE(seen_status == 404);
  auto wrong = perform_request(e, "DELETE", "/only-get");
  REQUIRE(wrong.status() == 405);
  REQUIRE(wrong.header("Allow") == "GET");
  REQUIRE(wrong.body() == "405 method not allowed");
  REQUIRE(seen_status == 405);

  // A fallback that answers itself keeps its answer; one that changes the status gets no default body.
  e.no_route([](khz::RequestContext& c) { c.json(404, khz::H{{"error", "no such thing"}}); });
  REQUIRE(perform_request(e, "GET", "/missing").body() == R"({"error":"no such thing"})");
  e.no_method([](khz::RequestContext& c) { c.set_status(418); });
  auto teapot = perform_request(e, "DELETE", "/only-get");
  REQUIRE(teapot.status() == 418);
  REQUIRE(teapot.body().empty());
}

TEST_CASE("routing: full_path is the matched pattern, including through groups") {
  khz::Engine e;
  auto api = e.group("/api/v1");
  api.get("/users/:id", [](khz::RequestContext& c) { c.string(200, std::string(c.full_path())); });
  REQUIRE(perform_request(e, "GET", "/api/v1/users/9").body() == "/api/v1/users/:id");
  e.no_route([](khz::RequestContext& c) { c.string(404, "[" + std::string(c.full_path()) + "]"); });
  REQUIRE(perform_request(e, "GET", "/api/v2").body() == "[]");
}

// SPDX-License-Identifier: Apache-2.0
#include <khz/route/radix_tree.h>

#include <catch2/catch.hpp>

#include "support/alloc_counter.h"

#include <algorithm>
#include <new>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using khz::route::Param;
using khz::route::Params;
using Tree = khz::route::RadixTree<std::string>;

// One lookup and what it must produce. `pattern` empty means "no match"; `params` lists the
// expected (key, value) pairs in order (checked exactly when the lookup matches).
struct Lookup {
  std::string_view path;
  std::string_view pattern;
  std::vector<Param> params = {};
};

Tree make_tree(std::initializer_list<std::string_view> routes) {
  Tree tree;
  for (auto r : routes) tree.add(r, std::string(r));
  return tree;
}

void check_lookups(const Tree& tree, const std::vector<Lookup>& lookups) {
  Params params;
  params.reserve(tree.max_params());
  for (const auto& l : lookups) {
    INFO("path: \"" << l.path << "\"");
    const auto m = tree.find(l.path, params);
    if (l.pattern.empty()) {
      CHECK(m.value == nullptr);
      CHECK(m.pattern.empty());
      CHECK(params.empty());
      continue;
    }
    REQUIRE(m.value != nullptr);
    CHECK(*m.value == l.pattern);  // the value is the pattern it was registered under
    CHECK(m.pattern == l.pattern);
    CHECK_FALSE(m.trailing_slash_redirect);
    REQUIRE(params.size() == l.params.size());
    for (std::size_t i = 0; i < params.size(); ++i) {
      INFO("param #" << i);
      CHECK(params[i].key == l.params[i].key);
      CHECK(params[i].value == l.params[i].value);
    }
  }
}

// ---- matching -------------------------------------------------------------------------------

TEST_CASE("RadixTree: static routes (httprouter/Hertz TestTreeAddAndGet)", "[route][tree]") {
  const Tree tree = make_tree({"/hi", "/contact", "/co", "/c", "/a", "/ab", "/doc/",
                               "/doc/go_faq.html", "/doc/go1.html", "/α", "/β"});
  check_lookups(tree, {
                          {"", ""},
                          {"a", ""},
                          {"/a", "/a"},
                          {"/", ""},
                          {"/hi", "/hi"},
                          {"/contact", "/contact"},
                          {"/co", "/co"},
                          {"/con", ""},   // key mismatch
                          {"/cona", ""},  // key mismatch
                          {"/no", ""},    // no matching child
                          {"/ab", "/ab"},
                          {"/α", "/α"},
                          {"/β", "/β"},
                          {"/γ", ""},
                          {"/doc/", "/doc/"},
                          {"/doc/go_faq.html", "/doc/go_faq.html"},
                          {"/doc/go1.html", "/doc/go1.html"},
                          {"/doc/go1.htm", ""},
                          {"/doc/go1.html/", ""},
                          {"/HI", ""},  // case-sensitive
                          {"/hi?x=1", ""},
                      });
}

TEST_CASE("RadixTree: wildcards (Hertz TestTreeWildcard)", "[route][tree]") {
  const Tree tree = make_tree({
      "/",
      "/cmd/:tool/:sub",
      "/cmd/:tool/",
      "/cmd/xxx/",
      "/src/*filepath",
      "/search/",
      "/search/:query",
      "/user_:name",
      "/user_:name/about",
      "/files/:dir/*filepath",
      "/doc/",
      "/doc/go_faq.html",
      "/doc/go1.html",
      "/info/:user/public",
      "/info/:user/project/:project",
      "/a/b/:c",
      "/a/:b/c/d",
      "/a/*b",
  });
  check_lookups(
      tree,
      {
          {"/", "/"},
          {"/cmd/test/", "/cmd/:tool/", {{"tool", "test"}}},
          {"/cmd/test", ""},
          {"/cmd/test/3", "/cmd/:tool/:sub", {{"tool", "test"}, {"sub", "3"}}},
          {"/cmd/xxx/", "/cmd/xxx/"},
          {"/cmd/xxx/y", "/cmd/:tool/:sub", {{"tool", "xxx"}, {"sub", "y"}}},
          {"/cmd/xxxx/", "/cmd/:tool/", {{"tool", "xxxx"}}},
          {"/cmd/xx/", "/cmd/:tool/", {{"tool", "xx"}}},
          {"/src/", "/src/*filepath", {{"filepath", ""}}},
          {"/src/some/file.png", "/src/*filepath", {{"filepath", "some/file.png"}}},
          {"/search/", "/search/"},
          {"/search/someth!ng+in+ünìcodé", "/search/:query", {{"query", "someth!ng+in+ünìcodé"}}},
          {"/search/someth!ng+in+ünìcodé/", ""},
          {"/user_gopher", "/user_:name", {{"name", "gopher"}}},
          {"/user_gopher/about", "/user_:name/about", {{"name", "gopher"}}},
          {"/user_", ""},
          {"/files/js/inc/framework.js", "/files/:dir/*filepath",
           {{"dir", "js"}, {"filepath", "inc/framework.js"}}},
          {"/files/js/", "/files/:dir/*filepath", {{"dir", "js"}, {"filepath", ""}}},
          {"/files/js", ""},
          {"/info/gordon/public", "/info/:user/public", {{"user", "gordon"}}},
          {"/info/gordon/project/go", "/info/:user/project/:project",
           {{"user", "gordon"}, {"project", "go"}}},
          {"/info/gordon/project/", ""},
          {"/a/b/c", "/a/b/:c", {{"c", "c"}}},
          {"/a/b/c/d", "/a/:b/c/d", {{"b", "b"}}},
          {"/a/b", "/a/*b", {{"b", "b"}}},
          {"/a/b/c/e", "/a/*b", {{"b", "b/c/e"}}},
          {"/a/x/c/d", "/a/:b/c/d", {{"b", "x"}}},
          {"/a/", "/a/*b", {{"b", ""}}},
      });
}

TEST_CASE("RadixTree: priority static > param > catch-all, with backtracking", "[route][tree]") {
  const Tree tree = make_tree({
      "/users/new",
      "/users/:id",
      "/users/:id/posts",
      "/users/:id/posts/:post",
      "/users/new/settings",
      "/users/*rest",
      "/src/*filepath",
      "/src/a",
      "/src/:x/y",
      "/src/a/b/c",
      "/p/:a/x",
      "/p/b/y",
      "/p/:a/:b/z",
      "/p/c/:b/w",
      "/q/ab",
      "/q/:x",
      "/q/a/:y",
  });
  check_lookups(
      tree,
      {
          // static beats param at the same position
          {"/users/new", "/users/new"},
          {"/users/newer", "/users/:id", {{"id", "newer"}}},
          {"/users/ne", "/users/:id", {{"id", "ne"}}},
          {"/users/42", "/users/:id", {{"id", "42"}}},
          // static branch fails deeper down: back to the param, then the catch-all
          {"/users/new/posts", "/users/:id/posts", {{"id", "new"}}},
          {"/users/new/posts/7", "/users/:id/posts/:post", {{"id", "new"}, {"post", "7"}}},
          {"/users/new/settings", "/users/new/settings"},
          {"/users/new/other", "/users/*rest", {{"rest", "new/other"}}},
          {"/users/42/posts/", "/users/*rest", {{"rest", "42/posts/"}}},
          {"/users/42/comments", "/users/*rest", {{"rest", "42/comments"}}},
          {"/users/", "/users/*rest", {{"rest", ""}}},  // param needs a non-empty segment
          {"/users/new/", "/users/*rest", {{"rest", "new/"}}},
          // Hertz: /src/*filepath together with /src/a and /src/:x/y
          {"/src/a", "/src/a"},
          {"/src/ab", "/src/*filepath", {{"filepath", "ab"}}},
          {"/src/", "/src/*filepath", {{"filepath", ""}}},
          {"/src/x/y", "/src/:x/y", {{"x", "x"}}},
          {"/src/a/y", "/src/:x/y", {{"x", "a"}}},
          {"/src/a/b/c", "/src/a/b/c"},
          {"/src/a/b", "/src/*filepath", {{"filepath", "a/b"}}},
          {"/src/x/z", "/src/*filepath", {{"filepath", "x/z"}}},
          {"/src/x", "/src/*filepath", {{"filepath", "x"}}},
          {"/src/x/y/z", "/src/*filepath", {{"filepath", "x/y/z"}}},
          {"/src", ""},
          // several levels of backtracking
          {"/p/b/y", "/p/b/y"},
          {"/p/b/x", "/p/:a/x", {{"a", "b"}}},
          {"/p/c/d/w", "/p/c/:b/w", {{"b", "d"}}},
          {"/p/c/d/z", "/p/:a/:b/z", {{"a", "c"}, {"b", "d"}}},
          {"/p/b/d/z", "/p/:a/:b/z", {{"a", "b"}, {"b", "d"}}},
          {"/p/c/x", "/p/:a/x", {{"a", "c"}}},
          {"/p/c/d/q", ""},
          {"/p/b/", ""},
          // a static node split in the middle of a segment
          {"/q/ab", "/q/ab"},
          {"/q/a", "/q/:x", {{"x", "a"}}},
          {"/q/abc", "/q/:x", {{"x", "abc"}}},
          {"/q/a/b", "/q/a/:y", {{"y", "b"}}},
          {"/q/ab/c", ""},
      });
}

TEST_CASE("RadixTree: params are non-empty and stop at '/'", "[route][tree]") {
  const Tree tree = make_tree({
      "/:a",
      "/x/:a/:b",
      "/y/:a/end",
      "/id:id",
      "/id/:id",
      "/v:version/info",
      "/f/:name.json",
      "/e/:emoji",
  });
  check_lookups(
      tree,
      {
          {"/", ""},
          {"/abc", "/:a", {{"a", "abc"}}},
          {"/abc/", ""},
          {"/x/1/2", "/x/:a/:b", {{"a", "1"}, {"b", "2"}}},
          {"/x/1/", ""},
          {"/x//2", ""},
          {"/x/1/2/3", ""},
          {"/y/a/end", "/y/:a/end", {{"a", "a"}}},
          {"/y//end", ""},
          {"/id42", "/id:id", {{"id", "42"}}},
          {"/id/42", "/id/:id", {{"id", "42"}}},
          {"/id", "/:a", {{"a", "id"}}},  // "/id:id" needs a non-empty value
          {"/v2/info", "/v:version/info", {{"version", "2"}}},
          {"/v/info", ""},
          {"/f/x.json", "/f/:name.json", {{"name.json", "x.json"}}},  // names run to '/'
          {"/e/%F0%9F%98%80", "/e/:emoji", {{"emoji", "%F0%9F%98%80"}}},  // no decoding
          {"/e/😀", "/e/:emoji", {{"emoji", "😀"}}},
          {"/e/a%2Fb", "/e/:emoji", {{"emoji", "a%2Fb"}}},
          {"/e/a:b*c", "/e/:emoji", {{"emoji", "a:b*c"}}},
      });
}

TEST_CASE("RadixTree: catch-all", "[route][tree]") {
  const Tree tree = make_tree({
      "/*path",
      "/static/*filepath",
      "/static/index.html",
      "/api/:version/*rest",
      "/deep/a/b/c/*tail",
  });
  check_lookups(
      tree,
      {
          {"/", "/*path", {{"path", ""}}},
          {"/anything", "/*path", {{"path", "anything"}}},
          {"/any/thing/", "/*path", {{"path", "any/thing/"}}},
          {"//", "/*path", {{"path", "/"}}},
          {"/static/", "/static/*filepath", {{"filepath", ""}}},
          {"/static", "/*path", {{"path", "static"}}},
          {"/static/index.html", "/static/index.html"},
          {"/static/index.htm", "/static/*filepath", {{"filepath", "index.htm"}}},
          {"/static/css/site.css", "/static/*filepath", {{"filepath", "css/site.css"}}},
          {"/static//x", "/static/*filepath", {{"filepath", "/x"}}},
          {"/api/v1/", "/api/:version/*rest", {{"version", "v1"}, {"rest", ""}}},
          {"/api/v1/a/b", "/api/:version/*rest", {{"version", "v1"}, {"rest", "a/b"}}},
          {"/api/v1", "/*path", {{"path", "api/v1"}}},
          {"/deep/a/b/c/", "/deep/a/b/c/*tail", {{"tail", ""}}},
          {"/deep/a/b/c/ü/ß", "/deep/a/b/c/*tail", {{"tail", "ü/ß"}}},
          {"/deep/a/b/", "/*path", {{"path", "deep/a/b/"}}},
          {"", ""},
          {"x", ""},
      });
}

TEST_CASE("RadixTree: UTF-8 bytes are matched as they are", "[route][tree]") {
  const Tree tree = make_tree({"/日本", "/日本語", "/日本/:名前", "/ü", "/ü/*rest", "/u"});
  check_lookups(tree, {
                          {"/日本", "/日本"},
                          {"/日本語", "/日本語"},
                          {"/日", ""},
                          {"/日本/太郎", "/日本/:名前", {{"名前", "太郎"}}},
                          {"/ü", "/ü"},
                          {"/u", "/u"},
                          {"/ü/ä/ö", "/ü/*rest", {{"rest", "ä/ö"}}},
                          {"/\xc3", ""},  // half a code point
                      });
}

TEST_CASE("RadixTree: each route keeps its own parameter names (Hertz)", "[route][tree]") {
  // Hertz accepts different names at the same position as long as the routes differ
  // elsewhere; every match reports the names of the route that matched.
  const Tree tree = make_tree({"/users/:id", "/users/:name/profile", "/users/:uid/posts/:pid",
                               "/a/:x/b", "/a/:y"});
  check_lookups(tree, {
                          {"/users/7", "/users/:id", {{"id", "7"}}},
                          {"/users/bob/profile", "/users/:name/profile", {{"name", "bob"}}},
                          {"/users/7/posts/9", "/users/:uid/posts/:pid",
                           {{"uid", "7"}, {"pid", "9"}}},
                          {"/a/1/b", "/a/:x/b", {{"x", "1"}}},
                          {"/a/1", "/a/:y", {{"y", "1"}}},
                      });
}

TEST_CASE("RadixTree: registration order does not change the result", "[route][tree]") {
  std::vector<std::string_view> routes = {"/users/new", "/users/:id", "/users/:id/posts",
                                          "/users/*rest", "/src/a", "/src/*f", "/src/:x/y",
                                          "/", "/a/b/:c", "/a/:b/c/d", "/a/*b"};
  const std::vector<Lookup> lookups = {
      {"/users/new", "/users/new"},
      {"/users/new/posts", "/users/:id/posts", {{"id", "new"}}},
      {"/users/x/y", "/users/*rest", {{"rest", "x/y"}}},
      {"/src/a", "/src/a"},
      {"/src/a/y", "/src/:x/y", {{"x", "a"}}},
      {"/src/a/z", "/src/*f", {{"f", "a/z"}}},
      {"/", "/"},
      {"/a/b/c/d", "/a/:b/c/d", {{"b", "b"}}},
      {"/a/b/c", "/a/b/:c", {{"c", "c"}}},
      {"/a/b", "/a/*b", {{"b", "b"}}},
  };
  std::sort(routes.begin(), routes.end());
  int permutations = 0;
  std::mt19937 rng(12345);
  do {
    Tree tree;
    for (auto r : routes) tree.add(r, std::string(r));
    check_lookups(tree, lookups);
    std::shuffle(routes.begin(), routes.end(), rng);
  } while (++permutations < 50);
}

// ---- trailing-slash redirect -----------------------------------------------------------------

void check_tsr(const Tree& tree, std::initializer_list<std::string_view> tsr,
               std::initializer_list<std::string_view> no_tsr) {
  Params params;
  params.reserve(tree.max_params());
  for (auto path : tsr) {
    INFO("expected a trailing-slash redirect for \"" << path << "\"");
    const auto m = tree.find(path, params);
    CHECK(m.value == nullptr);
    CHECK(m.trailing_slash_redirect);
    CHECK(params.empty());
  }
  for (auto path : no_tsr) {
    INFO("expected no trailing-slash redirect for \"" << path << "\"");
    const auto m = tree.find(path, params);
    CHECK(m.value == nullptr);
    CHECK_FALSE(m.trailing_slash_redirect);
    CHECK(params.empty());
  }
}

TEST_CASE("RadixTree: trailing-slash redirect (Hertz TestTreeTrailingSlashRedirect)",
          "[route][tree][tsr]") {
  const Tree tree = make_tree({
      "/hi",
      "/b/",
      "/search/:query",
      "/cmd/:tool/",
      "/src/*filepath",
      "/x",
      "/x/y",
      "/y/",
      "/y/z",
      "/0/:id",
      "/0/:id/1",
      "/1/:id/",
      "/1/:id/2",
      "/aa",
      "/a/*b",
      "/admin",
      "/admin/:category",
      "/admin/:category/:page",
      "/doc",
      "/doc/go_faq.html",
      "/doc/go1.html",
      "/no/a",
      "/no/b",
      "/api/hello/:name",
      "/user/:name/*id",
  });
  check_tsr(tree,
            {"/hi/", "/b", "/search/gopher/", "/cmd/vet", "/src", "/x/", "/y", "/0/go/",
             "/1/go", "/a", "/admin/", "/admin/config/", "/admin/config/permissions/",
             "/doc/", "/user/name", "/aa/", "/api/hello/x/", "/1/go/2/", "/0/go/1/",
             "/b//"},
            {"/", "/no", "/no/", "/_", "/_/", "/api/world/abc", "/api/hello/", "/hi//",
             "/search/", "/cmd/", "/doc/go", "", "hi/"});
}

TEST_CASE("RadixTree: trailing-slash redirect through params (Hertz TestTreeTrailingSlashRedirect2)",
          "[route][tree][tsr]") {
  const Tree tree = make_tree({
      "/api/:version/seller/locales/get",
      "/api/v:version/seller/permissions/get",
      "/api/v:version/seller/university/entrance_knowledge_list/get",
  });
  check_tsr(tree,
            {"/api/v:version/seller/permissions/get/", "/api/version/seller/permissions/get/",
             "/api/v1/seller/locales/get/"},
            {"/api/v:version/seller/permissions/get/a", "/api/v1/seller/"});
}

TEST_CASE("RadixTree: no trailing-slash redirect from '/' to a param route", "[route][tree][tsr]") {
  check_tsr(make_tree({"/:test"}), {"/x/"}, {"/"});
  check_tsr(make_tree({"/abc/"}), {"/abc"}, {"/abd", "/ab", "/abcd"});
  check_tsr(make_tree({"/a/b", "/ax"}), {"/a/b/", "/ax/"}, {"/a", "/a/"});
  check_tsr(make_tree({"/"}), {}, {"//x", ""});
  check_tsr(make_tree({"/static/*fp"}), {"/static"}, {"/stati", "/static2"});
}

// ---- case-insensitive lookup -----------------------------------------------------------------

TEST_CASE("RadixTree: find_case_insensitive (Hertz TestTreeFindCaseInsensitivePath)",
          "[route][tree][ci]") {
  const std::string long_path = "/l" + std::string(128, 'o') + "ng";
  const std::string long_path_upper = "/l" + std::string(128, 'O') + "ng/";
  std::vector<std::string> routes = {
      "/hi",          "/b/",         "/ABC/",         "/search/:query", "/cmd/:tool/",
      "/src/*filepath", "/x",        "/x/y",          "/y/",            "/y/z",
      "/0/:id",       "/0/:id/1",    "/1/:id/",       "/1/:id/2",       "/aa",
      "/a/",          "/doc",        "/doc/go_faq.html", "/doc/go1.html", "/doc/go/away",
      "/no/a",        "/no/b",       "/z/:id/2",      "/z/:id/:age",    "/x/:id/3/",
      "/x/:id/3/4",   "/x/:id/:age/5", long_path,
  };
  Tree tree;
  for (const auto& r : routes) tree.add(r, r);

  // Every registered route finds itself, with and without the slash fix.
  for (const auto& r : routes) {
    INFO("route " << r);
    CHECK(tree.find_case_insensitive(r, true) == r);
    CHECK(tree.find_case_insensitive(r, false) == r);
  }

  struct Case {
    std::string in;
    std::string out;
    bool found;
    bool needs_slash_fix;
  };
  const std::vector<Case> cases = {
      {"/HI", "/hi", true, false},
      {"/HI/", "/hi", true, true},
      {"/B", "/b/", true, true},
      {"/B/", "/b/", true, false},
      {"/abc", "/ABC/", true, true},
      {"/abc/", "/ABC/", true, false},
      {"/aBc", "/ABC/", true, true},
      {"/aBc/", "/ABC/", true, false},
      {"/abC", "/ABC/", true, true},
      {"/abC/", "/ABC/", true, false},
      {"/SEARCH/QUERY", "/search/QUERY", true, false},
      {"/SEARCH/QUERY/", "/search/QUERY", true, true},
      {"/CMD/TOOL/", "/cmd/TOOL/", true, false},
      {"/CMD/TOOL", "/cmd/TOOL/", true, true},
      {"/SRC/FILE/PATH", "/src/FILE/PATH", true, false},
      {"/x/Y", "/x/y", true, false},
      {"/x/Y/", "/x/y", true, true},
      {"/X/y", "/x/y", true, false},
      {"/X/y/", "/x/y", true, true},
      {"/X/Y", "/x/y", true, false},
      {"/X/Y/", "/x/y", true, true},
      {"/Y/", "/y/", true, false},
      {"/Y", "/y/", true, true},
      {"/Y/z", "/y/z", true, false},
      {"/Y/z/", "/y/z", true, true},
      {"/Y/Z", "/y/z", true, false},
      {"/Y/Z/", "/y/z", true, true},
      {"/y/Z", "/y/z", true, false},
      {"/y/Z/", "/y/z", true, true},
      {"/Aa", "/aa", true, false},
      {"/Aa/", "/aa", true, true},
      {"/AA", "/aa", true, false},
      {"/AA/", "/aa", true, true},
      {"/aA", "/aa", true, false},
      {"/aA/", "/aa", true, true},
      {"/A/", "/a/", true, false},
      {"/A", "/a/", true, true},
      {"/DOC", "/doc", true, false},
      {"/DOC/", "/doc", true, true},
      {"/NO", "", false, true},
      {"/DOC/GO", "", false, true},
      {"/Z/1/2", "/z/1/2", true, false},
      {"/Z/1/3", "/z/1/3", true, false},
      {"/Z/1/2/", "/z/1/2", true, true},
      {"/Z/1/3/", "/z/1/3", true, true},
      {"/X/1/3", "/x/1/3/", true, true},
      {"/X/1/3/5", "/x/1/3/5", true, false},
      {long_path_upper, long_path, true, true},
      // additional cases
      {"/0/GO/1", "/0/GO/1", true, false},
      {"/1/Go/2", "/1/Go/2", true, false},
      {"/DOC/GO/AWAY", "/doc/go/away", true, false},
      {"/DOC/GO1.HTML", "/doc/go1.html", true, false},
      {"/Src/", "/src/", true, false},
      {"/SRC", "/src/", true, true},
      {"/nothing", "", false, false},
      {"/", "", false, false},
  };
  for (const auto& c : cases) {
    INFO("in: " << c.in);
    const auto fixed = tree.find_case_insensitive(c.in, true);
    CHECK(fixed.has_value() == c.found);
    if (fixed && c.found) CHECK(*fixed == c.out);

    const auto plain = tree.find_case_insensitive(c.in, false);
    if (c.needs_slash_fix) {
      CHECK_FALSE(plain.has_value());
    } else {
      CHECK(plain.has_value() == c.found);
      if (plain && c.found) CHECK(*plain == c.out);
    }
  }
}

TEST_CASE("RadixTree: find_case_insensitive prefers the exact-case branch", "[route][tree][ci]") {
  Tree tree = make_tree({"/Abc", "/abd", "/aBe/:x", "/ab/*rest"});
  CHECK(tree.find_case_insensitive("/ABC", false) == "/Abc");
  CHECK(tree.find_case_insensitive("/ABD", false) == "/abd");
  CHECK(tree.find_case_insensitive("/abe/Q", false) == "/aBe/Q");
  CHECK(tree.find_case_insensitive("/AB/X/y", false) == "/ab/X/y");
  CHECK(tree.find_case_insensitive("/AB", true) == "/ab/");
  CHECK(tree.find_case_insensitive("/AB", false) == std::nullopt);
  CHECK(tree.find_case_insensitive("/abf", true) == std::nullopt);
  // Non-ASCII bytes are compared exactly.
  Tree utf = make_tree({"/ü"});
  CHECK(utf.find_case_insensitive("/ü", false) == "/ü");
  CHECK(utf.find_case_insensitive("/Ü", false) == std::nullopt);
}

// ---- registration errors -----------------------------------------------------------------------

struct RejectCase {
  std::vector<std::string_view> existing;  // registered first, all accepted
  std::string_view route;                  // rejected
  std::vector<std::string_view> mentions;  // substrings the message must contain
};

TEST_CASE("RadixTree: malformed and conflicting routes are rejected", "[route][tree][errors]") {
  const std::vector<RejectCase> cases = {
      // not starting with '/', empty
      {{}, "", {"empty"}},
      {{}, "user", {"'user'", "begin with '/'"}},
      {{}, ":user", {"':user'"}},
      {{}, "*user", {"'*user'"}},
      // empty wildcard names (Hertz TestEmptyWildcardName)
      {{}, "/user:", {"'/user:'", "non-empty name"}},
      {{}, "/user:/", {"'/user:/'", "non-empty name"}},
      {{}, "/cmd/:/", {"'/cmd/:/'", "non-empty name"}},
      {{}, "/src/*", {"'/src/*'", "non-empty name"}},
      {{}, "/:", {"'/:'", "non-empty name"}},
      {{}, "/*", {"'/*'", "non-empty name"}},
      // two wildcards in one segment (Hertz TestTreeDoubleWildcard)
      {{}, "/:foo:bar", {"'/:foo:bar'", "only one wildcard per path segment"}},
      {{}, "/:foo:bar/", {"'/:foo:bar/'", "only one wildcard per path segment"}},
      {{}, "/:foo*bar", {"'/:foo*bar'", "only one wildcard per path segment"}},
      {{}, "/a/:b:c/d", {"only one wildcard per path segment"}},
      {{}, "/*a:b", {"only one wildcard per path segment"}},
      // catch-all not at the end / not after '/' (Hertz TestTreeCatchAllConflict)
      {{}, "/src/*filepath/x", {"'/src/*filepath/x'", "end of the path"}},
      {{"/src2/"}, "/src2/*filepath/x", {"'/src2/*filepath/x'", "end of the path"}},
      {{"/src3/*filepath"}, "/src3/*filepath/x", {"'/src3/*filepath/x'", "end of the path"}},
      {{}, "/src2*filepath", {"'/src2*filepath'", "follow a '/'"}},
      {{}, "/a/b*c", {"follow a '/'"}},
      // duplicates (Hertz TestTreeDuplicatePath)
      {{"/"}, "/", {"route '/' conflicts with existing route '/'"}},
      {{"/doc/"}, "/doc/", {"route '/doc/' conflicts with existing route '/doc/'"}},
      {{"/src/*filepath"}, "/src/*filepath",
       {"route '/src/*filepath' conflicts with existing route '/src/*filepath'"}},
      {{"/search/:query"}, "/search/:query",
       {"route '/search/:query' conflicts with existing route '/search/:query'"}},
      {{"/user_:name"}, "/user_:name",
       {"route '/user_:name' conflicts with existing route '/user_:name'"}},
      {{"/a", "/ab", "/abc"}, "/ab", {"route '/ab' conflicts with existing route '/ab'"}},
      // same shape, other wildcard names
      {{"/users/:id"}, "/users/:name",
       {"route '/users/:name' conflicts with existing route '/users/:id'"}},
      {{"/:id"}, "/:name", {"route '/:name' conflicts with existing route '/:id'"}},
      {{"/src/*filepath"}, "/src/*filepathx",
       {"route '/src/*filepathx' conflicts with existing route '/src/*filepath'"}},
      {{"/a/:x/b/:y"}, "/a/:p/b/:q",
       {"route '/a/:p/b/:q' conflicts with existing route '/a/:x/b/:y'"}},
      {{"/a/:x/*rest"}, "/a/:y/*tail",
       {"route '/a/:y/*tail' conflicts with existing route '/a/:x/*rest'"}},
      {{"/user_:name", "/user_x"}, "/user_:nick",
       {"route '/user_:nick' conflicts with existing route '/user_:name'"}},
  };

  // Lookups run on every tree before and after the failed add; the results must not change.
  const std::vector<std::string_view> probes = {
      "/",        "/doc/",          "/src/a/b", "/search/x", "/user_x", "/users/1",
      "/src2/",   "/src3/x",        "/a",       "/ab",       "/abc",    "/a/1/b/2",
      "/a/1/x/y", "/src/*filepath", "/x",       "/user:",    "/users/name"};

  for (const auto& c : cases) {
    INFO("adding \"" << c.route << "\"");
    Tree tree;
    for (auto r : c.existing) tree.add(r, std::string(r));

    Params params;
    std::vector<std::pair<std::string, std::string>> before;
    for (auto p : probes) {
      const auto m = tree.find(p, params);
      before.emplace_back(m.value ? *m.value : "-", std::to_string(m.trailing_slash_redirect));
    }
    const std::size_t max_params = tree.max_params();

    std::string message;
    try {
      tree.add(c.route, "REJECTED");
      FAIL("no exception");
    } catch (const std::invalid_argument& e) {
      message = e.what();
    }
    INFO("message: " << message);
    for (auto s : c.mentions) CHECK(message.find(s) != std::string::npos);

    // Unchanged: same routes, same answers, nothing answers with the rejected value.
    CHECK(tree.size() == c.existing.size());
    CHECK(tree.max_params() == max_params);
    std::vector<std::string> listed;
    tree.for_each([&](std::string_view pattern, const std::string&) {
      listed.emplace_back(pattern);
    });
    CHECK(listed == std::vector<std::string>(c.existing.begin(), c.existing.end()));
    for (std::size_t i = 0; i < probes.size(); ++i) {
      INFO("probe " << probes[i]);
      const auto m = tree.find(probes[i], params);
      CHECK(before[i].first == (m.value ? *m.value : "-"));
      CHECK(before[i].second == std::to_string(m.trailing_slash_redirect));
    }
    const auto self = tree.find(c.route, params);
    CHECK((self.value == nullptr || *self.value != "REJECTED"));
    for (auto r : c.existing) {
      const auto m = tree.find(r, params);  // a literal pattern still matches itself or a peer
      CHECK((m.value == nullptr || *m.value != "REJECTED"));
    }
    // And the tree still accepts new routes afterwards.
    CHECK_NOTHROW(tree.add("/after/the/error/:x", "ok"));
    CHECK(tree.find("/after/the/error/1", params).value != nullptr);
  }
}

TEST_CASE("RadixTree: a failed add leaves a split-prone tree intact", "[route][tree][errors]") {
  Tree tree = make_tree({"/users/:id/posts", "/users/:id", "/users/new", "/static/*fp"});
  REQUIRE_THROWS_AS(tree.add("/users/:name", "x"), std::invalid_argument);
  REQUIRE_THROWS_AS(tree.add("/users/:uid/posts", "x"), std::invalid_argument);
  REQUIRE_THROWS_AS(tree.add("/static/*other", "x"), std::invalid_argument);
  REQUIRE_THROWS_AS(tree.add("/static/*other/x", "x"), std::invalid_argument);
  check_lookups(tree, {
                          {"/users/7/posts", "/users/:id/posts", {{"id", "7"}}},
                          {"/users/7", "/users/:id", {{"id", "7"}}},
                          {"/users/new", "/users/new"},
                          {"/users/ne", "/users/:id", {{"id", "ne"}}},
                          {"/static/a", "/static/*fp", {{"fp", "a"}}},
                      });
  CHECK(tree.size() == 4);
}

TEST_CASE("RadixTree: add is all-or-nothing when an allocation fails", "[route][tree][errors]") {
  // Each new route forces a different kind of change: a node split in the middle of a
  // prefix, a new static child, a new param/catch-all chain, a route on an inner node.
  const std::vector<std::string_view> base = {"/users/:id/posts", "/users/new", "/static/*fp",
                                              "/search/", "/a/b/c"};
  const std::vector<std::string_view> additions = {
      "/users/news/:x/y", "/use", "/users/:id/posts/:post/*rest", "/a/b", "/search/:q/x",
      "/zzz/:p/q/*r",     "/a/bc/d"};
  const std::vector<std::string_view> probes = {"/users/1/posts", "/users/new", "/static/x",
                                                "/search/", "/a/b/c", "/users/news/1/y",
                                                "/use", "/a/b", "/zzz/1/q/2", "/a/bc/d"};
  for (auto addition : additions) {
    INFO("adding " << addition);
    int failures = 0;
    for (std::size_t nth = 1;; ++nth) {
      Tree tree = make_tree({});
      for (auto r : base) tree.add(r, std::string(r));
      Params params;
      std::vector<std::string> before;
      for (auto p : probes) {
        const auto m = tree.find(p, params);
        before.push_back(m.value ? *m.value : "-");
      }
      bool threw = false;
      try {
        khz::test::FailCounter counter(nth);
        khz::test::FailAllocations failing(counter);
        tree.add(addition, std::string(addition));
      } catch (const std::bad_alloc&) {
        threw = true;
      }
      if (!threw) {
        CHECK(tree.size() == base.size() + 1);
        CHECK(*tree.find(addition, params).value == addition);
        break;
      }
      ++failures;
      CHECK(tree.size() == base.size());
      for (std::size_t i = 0; i < probes.size(); ++i) {
        const auto m = tree.find(probes[i], params);
        CHECK(before[i] == (m.value ? *m.value : "-"));
      }
      std::vector<std::string_view> listed;
      tree.for_each([&](std::string_view pattern, const std::string&) { listed.push_back(pattern); });
      CHECK(listed == base);
      // The same tree then accepts the route.
      tree.add(addition, std::string(addition));
      CHECK(*tree.find(addition, params).value == addition);
    }
    CHECK(failures >= 3);  // the route, its pattern copy and at least one node
  }
}

TEST_CASE("RadixTree: combinations Hertz accepts", "[route][tree][errors]") {
  // Hertz TestTreeWildcardConflict / TestTreeChildConflict: (route, rejected?) in order.
  const std::vector<std::pair<std::string_view, bool>> sequences[] = {
      {
          {"/cmd/vet", false},
          {"/cmd/:tool/:sub", false},
          {"/src/*filepath", false},
          {"/src/*filepathx", true},
          {"/src/", false},
          {"/src1/", false},
          {"/src1/*filepath", false},
          {"/src2*filepath", true},
          {"/search/:query", false},
          {"/search/invalid", false},
          {"/user_:name", false},
          {"/user_x", false},
          {"/user_:name", true},
          {"/id:id", false},
          {"/id/:id", false},
      },
      {
          {"/cmd/vet", false},
          {"/cmd/:tool/:sub", false},
          {"/src/AUTHORS", false},
          {"/src/*filepath", false},
          {"/user_x", false},
          {"/user_:name", false},
          {"/id/:id", false},
          {"/id:id", false},
          {"/:id", false},
          {"/*filepath", false},
      },
      {
          {"/a/b/:c", false},
          {"/a/:b/c/d", false},
          {"/a/*b", false},
          {"/a/:x/c/d", true},
          {"/a/b/:d", true},
          {"/a/*c", true},
          {"/a/b/*c", false},
          {"/a/b/c/:d", false},
          {"/*all", false},
          {"/:one", false},
          {"/:one/:two", false},
          {"/:x/:y/*z", false},
          {"/:one/two", false},
      },
  };
  for (const auto& seq : sequences) {
    Tree tree;
    std::size_t accepted = 0;
    for (const auto& [route, rejected] : seq) {
      INFO("route " << route);
      if (rejected) {
        CHECK_THROWS_AS(tree.add(route, std::string(route)), std::invalid_argument);
      } else {
        CHECK_NOTHROW(tree.add(route, std::string(route)));
        ++accepted;
      }
    }
    CHECK(tree.size() == accepted);
    // Every accepted route, looked up literally, is matched by some route.
    Params params;
    tree.for_each([&](std::string_view pattern, const std::string& value) {
      CHECK(pattern == value);
      CHECK(tree.find(pattern, params).value != nullptr);
    });
  }
}

// ---- bookkeeping -------------------------------------------------------------------------------

TEST_CASE("RadixTree: max_params, size, empty, for_each order", "[route][tree]") {
  Tree tree;
  CHECK(tree.empty());
  CHECK(tree.size() == 0);
  CHECK(tree.max_params() == 0);
  Params params;
  CHECK(tree.find("/", params).value == nullptr);
  CHECK_FALSE(tree.find("/", params).trailing_slash_redirect);
  CHECK(tree.find_case_insensitive("/", true) == std::nullopt);

  const std::vector<std::pair<std::string_view, std::size_t>> steps = {
      {"/z", 0},
      {"/a/:b", 1},
      {"/static/*path", 1},
      {"/x/:a/y/:b/*c", 3},
      {"/m", 3},
      {"/cmd/:tool/:sub", 3},
      {"/user_:name", 3},
      {"/:a/:b/:c/:d", 4},
      {"/", 4},
  };
  std::vector<std::string_view> order;
  for (const auto& [route, max] : steps) {
    tree.add(route, std::string(route));
    order.push_back(route);
    CHECK(tree.max_params() == max);
    CHECK(tree.size() == order.size());
  }
  CHECK_FALSE(tree.empty());
  std::vector<std::string_view> seen;
  tree.for_each([&](std::string_view pattern, const std::string& value) {
    CHECK(pattern == value);
    seen.push_back(pattern);
  });
  CHECK(seen == order);

  Tree deep;
  std::string route;
  for (int i = 0; i < 40; ++i) route += "/:p" + std::to_string(i);
  deep.add(route, "deep");
  CHECK(deep.max_params() == 40);
  std::string path;
  for (int i = 0; i < 40; ++i) path += "/v" + std::to_string(i);
  params.reserve(deep.max_params());
  const auto m = deep.find(path, params);
  REQUIRE(m.value != nullptr);
  REQUIRE(params.size() == 40);
  CHECK(params[39].key == "p39");
  CHECK(params[39].value == "v39");
}

TEST_CASE("RadixTree: works with move-only values; moving keeps views", "[route][tree]") {
  khz::route::RadixTree<std::unique_ptr<int>> tree;
  tree.add("/a/:id", std::make_unique<int>(1));
  tree.add("/b", std::make_unique<int>(2));
  Params params;
  const auto before = tree.find("/a/7", params);
  REQUIRE(before.value != nullptr);
  const std::string_view key = params[0].key;

  auto moved = std::move(tree);
  const auto after = moved.find("/a/8", params);
  REQUIRE(after.value != nullptr);
  CHECK(after.value == before.value);  // same storage
  CHECK(**after.value == 1);
  CHECK(before.pattern == "/a/:id");  // still readable
  CHECK(key == "id");
  CHECK(params.get("id") == "8");
  CHECK(**moved.find("/b", params).value == 2);
}

TEST_CASE("Params: accessors", "[route][tree]") {
  Params params;
  CHECK(params.empty());
  CHECK(params.get("x").empty());
  CHECK_FALSE(params.has("x"));
  params.reserve(4);
  CHECK(params.capacity() >= 4);
  params.push_back({"a", "1"});
  params.push_back({"b", ""});
  params.push_back({"a", "2"});
  CHECK(params.size() == 3);
  CHECK(params.get("a") == "1");  // the first wins
  CHECK(params.has("b"));
  CHECK(params.get("b").empty());
  CHECK_FALSE(params.has("c"));
  CHECK(params[2] == Param{"a", "2"});
  std::string joined;
  for (const Param& p : params) joined.append(p.key).append("=").append(p.value).append(";");
  CHECK(joined == "a=1;b=;a=2;");
  params.pop_back();
  CHECK(params.size() == 2);
  params.clear();
  CHECK(params.empty());
  CHECK(params.capacity() >= 4);
}

// ---- no allocation during find -------------------------------------------------------------

TEST_CASE("RadixTree: find performs no heap allocation", "[route][tree][alloc]") {
  const Tree tree = make_tree({
      "/", "/users/new", "/users/:id", "/users/:id/posts/:post", "/users/*rest",
      "/static/*filepath", "/a/b/:c", "/a/:b/c/d", "/a/*b", "/doc/", "/hi",
      "/x/:a/y/:b/*c",
  });
  Params params;
  params.reserve(tree.max_params());
  const std::string long_path = "/static/" + std::string(10000, 'x');
  const std::vector<std::string> paths = {
      "/", "/users/new", "/users/42", "/users/42/posts/7", "/users/a/b/c", "/static/",
      "/static/js/app.js", "/a/b/c/d", "/a/b/c", "/a/q", "/doc", "/hi/", "/nope", "",
      "/x/1/y/2/", "/x/1/y/2/3/4", "/x/1/y", "/users", "/hi//", long_path,
      "/x/" + std::string(5000, 'y') + "/y",
  };
  std::size_t matched = 0;
  std::size_t redirects = 0;
  khz::test::AllocationScope lookups;
  for (int round = 0; round < 3; ++round) {
    for (const auto& p : paths) {
      const auto m = tree.find(p, params);
      matched += m.value != nullptr ? 1 : 0;
      redirects += m.trailing_slash_redirect ? 1 : 0;
    }
  }
  CHECK(lookups.count() == 0);
  CHECK(matched > 0);
  CHECK(redirects > 0);
  // The counter does see allocations (the test would be vacuous otherwise).
  khz::test::AllocationScope probe;
  auto fixed = tree.find_case_insensitive("/USERS/" + std::string(40, 'X'), false);
  CHECK(probe.count() > 0);
  CHECK(fixed == "/users/" + std::string(40, 'X'));
}

// ---- differential test against a brute-force reference ---------------------------------------

// Reference semantics, independent of the tree: a route matches when its tokens consume the
// whole path (param: one non-empty run up to '/', catch-all: the rest). Among matching routes
// the winner is the one whose per-byte kinds (static 0 < param 1 < catch-all 2; an empty
// catch-all counts as one trailing 2) are lexicographically smallest: exactly "static beats
// param beats catch-all, decided at the first byte where two candidates differ".
struct RefToken {
  int kind;  // 0 static, 1 param, 2 catch-all
  std::string text;
};

std::vector<RefToken> ref_parse(const std::string& pattern) {
  std::vector<RefToken> out;
  std::size_t i = 0;
  while (i < pattern.size()) {
    if (pattern[i] == ':' || pattern[i] == '*') {
      std::size_t end = pattern[i] == '*' ? pattern.size() : pattern.find('/', i);
      if (end == std::string::npos) end = pattern.size();
      out.push_back({pattern[i] == ':' ? 1 : 2, pattern.substr(i + 1, end - i - 1)});
      i = end;
    } else {
      std::size_t end = pattern.find_first_of(":*", i);
      if (end == std::string::npos) end = pattern.size();
      out.push_back({0, pattern.substr(i, end - i)});
      i = end;
    }
  }
  return out;
}

std::string ref_shape(const std::string& pattern) {
  std::string out;
  for (const auto& t : ref_parse(pattern)) {
    out += t.kind == 0 ? t.text : (t.kind == 1 ? ":" : "*");
  }
  return out;
}

bool ref_match(const std::vector<RefToken>& tokens, std::size_t ti, std::string_view path,
               std::size_t pos, std::vector<int>& kinds, std::vector<std::string>& values) {
  if (ti == tokens.size()) return pos == path.size();
  const RefToken& t = tokens[ti];
  const std::size_t kinds_mark = kinds.size();
  if (t.kind == 0) {
    if (path.substr(pos).substr(0, t.text.size()) != t.text) return false;
    kinds.insert(kinds.end(), t.text.size(), 0);
    if (ref_match(tokens, ti + 1, path, pos + t.text.size(), kinds, values)) return true;
  } else if (t.kind == 1) {
    std::size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    if (end == pos) return false;
    kinds.insert(kinds.end(), end - pos, 1);
    values.emplace_back(path.substr(pos, end - pos));
    if (ref_match(tokens, ti + 1, path, end, kinds, values)) return true;
    values.pop_back();
  } else {
    kinds.insert(kinds.end(), std::max<std::size_t>(path.size() - pos, 1), 2);
    values.emplace_back(path.substr(pos));
    return true;
  }
  kinds.resize(kinds_mark);
  return false;
}

struct RefResult {
  std::string pattern;
  std::vector<std::string> keys;
  std::vector<std::string> values;
};

std::optional<RefResult> ref_find(const std::vector<std::string>& routes, std::string_view path) {
  std::optional<RefResult> best;
  std::vector<int> best_kinds;
  for (const auto& r : routes) {
    const auto tokens = ref_parse(r);
    std::vector<int> kinds;
    std::vector<std::string> values;
    if (!ref_match(tokens, 0, path, 0, kinds, values)) continue;
    if (!best || kinds < best_kinds) {
      RefResult res{r, {}, values};
      for (const auto& t : tokens) {
        if (t.kind != 0) res.keys.push_back(t.text);
      }
      best = std::move(res);
      best_kinds = std::move(kinds);
    }
  }
  return best;
}

TEST_CASE("RadixTree: randomized comparison with a brute-force reference", "[route][tree]") {
  const std::vector<std::string> pattern_parts = {"a", "b", "ab", "abc", "x", ":p", ":q",
                                                  "a:p", "b:q", "*c", "*d", ""};
  const std::vector<std::string> path_parts = {"a", "b", "ab", "abc", "abx", "x", "ba", "", "A"};
  std::mt19937 rng(20240601);
  auto pick = [&](const std::vector<std::string>& v) {
    return v[std::uniform_int_distribution<std::size_t>(0, v.size() - 1)(rng)];
  };
  std::size_t total_lookups = 0;
  std::size_t total_matches = 0;
  std::size_t total_conflicts = 0;
  std::size_t total_redirects = 0;
  for (int round = 0; round < 300; ++round) {
    Tree tree;
    std::vector<std::string> routes;
    std::set<std::string> shapes;
    const int route_count = std::uniform_int_distribution<int>(1, 14)(rng);
    for (int i = 0; i < route_count; ++i) {
      std::string pattern;
      const int segments = std::uniform_int_distribution<int>(1, 4)(rng);
      bool done = false;
      for (int s = 0; s < segments && !done; ++s) {
        std::string part = pick(pattern_parts);
        if (part.starts_with("*")) {
          if (s + 1 < segments) part = "x";  // keep catch-alls last
          done = part.starts_with("*");
        }
        pattern += "/" + part;
      }
      if (!done && std::uniform_int_distribution<int>(0, 4)(rng) == 0) pattern += "/";
      const bool valid_name = pattern.find("/:/") == std::string::npos && !pattern.ends_with(":");
      if (!valid_name) continue;
      const bool expect_conflict = shapes.count(ref_shape(pattern)) != 0;
      INFO("round " << round << " adding " << pattern);
      if (expect_conflict) {
        CHECK_THROWS_AS(tree.add(pattern, pattern), std::invalid_argument);
        ++total_conflicts;
      } else {
        REQUIRE_NOTHROW(tree.add(pattern, pattern));
        routes.push_back(pattern);
        shapes.insert(ref_shape(pattern));
      }
    }
    Params params;
    params.reserve(tree.max_params());
    for (int l = 0; l < 60; ++l) {
      std::string path;
      const int segments = std::uniform_int_distribution<int>(0, 4)(rng);
      for (int s = 0; s < segments; ++s) path += "/" + pick(path_parts);
      if (path.empty() || std::uniform_int_distribution<int>(0, 3)(rng) == 0) path += "/";
      INFO("round " << round << " path " << path);
      const auto want = ref_find(routes, path);
      const auto got = tree.find(path, params);
      ++total_lookups;
      if (!want) {
        CHECK(got.value == nullptr);
        std::string toggled = path;
        if (toggled.size() > 1 && toggled.back() == '/') {
          toggled.pop_back();
        } else {
          toggled.push_back('/');
        }
        const bool want_tsr = path != "/" && ref_find(routes, toggled).has_value();
        CHECK(got.trailing_slash_redirect == want_tsr);
        total_redirects += want_tsr ? 1 : 0;
        // Case-insensitive lookup agrees on "found" when the path has no uppercase.
        if (path.find('A') == std::string::npos) {
          CHECK_FALSE(tree.find_case_insensitive(path, false).has_value());
        }
        continue;
      }
      ++total_matches;
      REQUIRE(got.value != nullptr);
      CHECK(got.pattern == want->pattern);
      CHECK(*got.value == want->pattern);
      CHECK_FALSE(got.trailing_slash_redirect);
      REQUIRE(params.size() == want->values.size());
      for (std::size_t i = 0; i < params.size(); ++i) {
        CHECK(params[i].key == want->keys[i]);
        CHECK(params[i].value == want->values[i]);
      }
      // The case-insensitive path of a matching path is the path itself when the casing
      // already agrees, and it always leads back to a match.
      const auto ci = tree.find_case_insensitive(path, false);
      REQUIRE(ci.has_value());
      CHECK(tree.find(*ci, params).value != nullptr);
    }
  }
  CHECK(total_matches > total_lookups / 10);
  CHECK(total_conflicts > 50);
  CHECK(total_redirects > 50);
}

}  // namespace

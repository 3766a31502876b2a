// SPDX-License-Identifier: Apache-2.0
// Templates (app/templates.cc) from files in a scratch directory: escaping, sections over
// arrays, partials (and that they never come from the data), loading errors, a missing
// template, a partial that includes itself, the cache and reloading, concurrent renders; and
// RequestContext::html / html_raw through an Engine in process.
#include <khz/app/engine.h>
#include <khz/app/templates.h>
#include <khz/app/testing.h>

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using khz::H;
using khz::Json;
using khz::Templates;

namespace {

// A scratch directory of template files, removed at the end.
struct Dir {
  Dir() {
    char tmpl[] = "/tmp/khz_templates_XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~Dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  Dir& file(const std::string& name, const std::string& text) {
    fs::path p = fs::path(path) / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
    return *this;
  }
  std::string path;
};

}  // namespace

TEST_CASE("templates: rendering") {
  Dir dir;
  dir.file("escape.mustache", "{{text}}|{{{text}}}|{{& text}}")
      .file("list.html", "<ul>{{#users}}<li>{{name}} ({{age}})</li>{{/users}}{{^users}}<li>nobody</li>{{/users}}</ul>")
      .file("values.mustache", "{{n}} {{f}} {{big}} [{{null}}] [{{no}}] {{#yes}}Y{{/yes}}{{^no}}N{{/no}}{{^null}}Z{{/null}}")
      .file("dotted.mustache", "{{user.address.city}} {{#user}}{{name}} in {{address.city}}{{/user}}")
      .file("scalars.mustache", "{{#tags}}[{{.}}]{{/tags}}")
      .file("page.mustache", "<h1>{{title}}</h1>{{> parts/header}}{{#items}}{{> row}}{{/items}}{{> missing}}!")
      .file("parts/header.html", "<header>{{title}}</header>")
      .file("row.mustache", "<p>{{.}}</p>")
      .file("inject.mustache", "[{{> header}}]")
      .file("delims.mustache", "{{=<% %>=}}<% x %> {{x}}")
      .file("comment.mustache", "a{{! not shown }}b")
      .file(".hidden.mustache", "{{")  // skipped: hidden
      .file("notes.txt", "{{")          // skipped: another extension
      .file(".git/config.html", "{{");  // skipped: a hidden directory
  Templates t(dir.path);

  struct Row {
    const char* name;
    Json data;
    const char* expected;
  };
  const Row rows[] = {
      {"escape", H{{"text", "<script>alert('x') & \"y\"</script>"}},
       "&lt;script&gt;alert(&apos;x&apos;) &amp; &quot;y&quot;&lt;/script&gt;|"
       "<script>alert('x') & \"y\"</script>|<script>alert('x') & \"y\"</script>"},
      {"list", H{{"users", Json::Array{H{{"name", "ann"}, {"age", 31}}, H{{"name", "<b>"}, {"age", 2}}}}},
       "<ul><li>ann (31)</li><li>&lt;b&gt; (2)</li></ul>"},
      {"list", H{{"users", Json::Array{}}}, "<ul><li>nobody</li></ul>"},
      {"list", H{}, "<ul><li>nobody</li></ul>"},
      {"values", H{{"n", 42}, {"f", 1.5}, {"big", 18446744073709551615ull}, {"null", nullptr}, {"no", false}, {"yes", true}},
       "42 1.5 18446744073709551615 [] [] YNZ"},
      {"dotted", H{{"user", H{{"name", "ann"}, {"address", H{{"city", "Oslo"}}}}}}, "Oslo ann in Oslo"},
      {"scalars", H{{"tags", Json::Array{"a", 1, "<c>"}}}, "[a][1][&lt;c&gt;]"},
      {"page", H{{"title", "T&C"}, {"items", Json::Array{"x", "y"}}},
       "<h1>T&amp;C</h1><header>T&amp;C</header><p>x</p><p>y</p>!"},
      // A data string named like a partial is never parsed as a template.
      {"inject", H{{"header", "{{secret}}"}, {"secret", "leaked"}}, "[]"},
      {"delims", H{{"x", "1"}}, "1 {{x}}"},
      {"comment", H{}, "ab"},
      // Rendering by file name finds the template too.
      {"list.html", H{}, "<ul><li>nobody</li></ul>"},
      {"escape.mustache", H{{"text", "&"}}, "&amp;|&|&"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.name, row.data.dump());
    std::string out = "prefix:";
    std::string error;
    CHECK(t.render_to(out, row.name, row.data, &error));
    CHECK(error.empty());
    CHECK(out == std::string("prefix:") + row.expected);  // appended
  }

  SECTION("names, contains") {
    CHECK(t.names() == std::vector<std::string>{"comment", "delims", "dotted", "escape", "inject", "list", "page",
                                                "parts/header", "row", "scalars", "values"});
    CHECK(t.contains("parts/header"));
    CHECK(t.contains("parts/header.html"));
    CHECK_FALSE(t.contains("notes"));
    CHECK_FALSE(t.contains(".hidden"));
    CHECK(t.directory() == dir.path);
  }
  SECTION("a missing template: false, a message, the output untouched") {
    std::string out = "kept";
    std::string error;
    CHECK_FALSE(t.render_to(out, "nope", H{}, &error));
    CHECK(out == "kept");
    CHECK(error.find("\"nope\" not found") != std::string::npos);
    CHECK_THROWS_AS(t.render("nope", H{}), std::runtime_error);
    CHECK(t.render("comment", H{}) == "ab");
  }
}

TEST_CASE("templates: a partial that includes itself ends in an error, not a crash") {
  Dir dir;
  dir.file("loop.mustache", "x{{> loop}}")
      .file("ping.mustache", "{{> pong}}")
      .file("pong.mustache", "{{> ping}}")
      .file("tree.mustache", "{{name}}{{#children}}({{> tree}}){{/children}}");  // recursion that ends
  Templates t(dir.path);
  for (const char* name : {"loop", "ping"}) {
    CAPTURE(name);
    std::string out = "kept";
    std::string error;
    CHECK_FALSE(t.render_to(out, name, H{}, &error));
    CHECK(out == "kept");
    CHECK(error.find("nested too deeply") != std::string::npos);
  }
  // Leaves say "children": [] (Mustache would otherwise find the parent's children).
  const Json::Array none;
  Json tree = H{{"name", "a"},
                {"children", Json::Array{H{{"name", "b"}, {"children", Json::Array{H{{"name", "c"}, {"children", none}}}}},
                                         H{{"name", "d"}, {"children", none}}}}};
  CHECK(t.render("tree", tree) == "a(b(c))(d)");
}

TEST_CASE("templates: loading errors name the problem") {
  SECTION("a template that does not parse") {
    Dir dir;
    dir.file("good.mustache", "ok").file("sub/bad.html", "{{#open}} never closed");
    try {
      Templates t(dir.path);
      FAIL("loaded a broken template");
    } catch (const std::invalid_argument& e) {
      CAPTURE(e.what());
      CHECK(std::string(e.what()).find("sub/bad.html") != std::string::npos);
    }
  }
  SECTION("two files for one name") {
    Dir dir;
    dir.file("a.html", "1").file("a.mustache", "2");
    CHECK_THROWS_AS(Templates(dir.path), std::invalid_argument);
  }
  SECTION("no such directory") {
    CHECK_THROWS_AS(Templates("/nonexistent/khz/templates"), std::invalid_argument);
  }
  SECTION("an empty directory is an empty set") {
    Dir dir;
    Templates t(dir.path);
    CHECK(t.names().empty());
  }
}

TEST_CASE("templates: compiled once; reloaded on change only when asked") {
  Dir dir;
  dir.file("v.mustache", "one {{x}}");
  Templates cached(dir.path);
  Templates reloading(dir.path, {.reload = true, .reload_interval = std::chrono::milliseconds(0)});
  CHECK(cached.render("v", H{{"x", 1}}) == "one 1");
  CHECK(reloading.render("v", H{{"x", 1}}) == "one 1");

  dir.file("v.mustache", "second version {{x}}").file("new.mustache", "new");
  CHECK(cached.render("v", H{{"x", 2}}) == "one 2");  // read once
  CHECK_FALSE(cached.contains("new"));
  CHECK(reloading.render("v", H{{"x", 2}}) == "second version 2");
  CHECK(reloading.contains("new"));

  // A broken edit keeps the last good set (and is logged).
  dir.file("v.mustache", "{{#broken}}");
  CHECK(reloading.render("v", H{{"x", 3}}) == "second version 3");
  CHECK(reloading.render("v", H{{"x", 4}}) == "second version 4");
  dir.file("v.mustache", "fixed again {{x}}");
  CHECK(reloading.render("v", H{{"x", 5}}) == "fixed again 5");
}

TEST_CASE("templates: concurrent renders of one set") {
  Dir dir;
  dir.file("page.mustache", "{{#rows}}{{> row}}{{/rows}}").file("row.mustache", "<td>{{v}}</td>");
  Templates t(dir.path);
  Json::Array rows;
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    rows.push_back(H{{"v", i}});
    expected += "<td>" + std::to_string(i) + "</td>";
  }
  const Json data = H{{"rows", rows}};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int n = 0; n < 100; ++n) {
        if (t.render("page", data) != expected) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(wrong == 0);
}

TEST_CASE("request context: html renders a template, html_raw a text") {
  Dir dir;
  dir.file("hello.mustache", "<p>Hello, {{name}}!</p>").file("loop.mustache", "{{> loop}}");
  khz::Engine engine;
  engine.get("/hello/:name", [](khz::RequestContext& ctx) {
    ctx.html(201, "hello", H{{"name", std::string(ctx.param("name"))}});
  });
  engine.get("/missing", [](khz::RequestContext& ctx) { ctx.html(200, "nope", H{}); });
  engine.get("/loop", [](khz::RequestContext& ctx) { ctx.html(200, "loop", H{}); });
  engine.get("/raw", [](khz::RequestContext& ctx) { ctx.html_raw(200, "<b>raw</b>"); });

  SECTION("no templates loaded: 500") {
    auto r = khz::testing::perform_request(engine, "GET", "/hello/x");
    CHECK(r.status() == 500);
    CHECK(r.header("Content-Type") == "text/plain; charset=utf-8");
  }
  engine.load_templates(dir.path);
  REQUIRE(engine.templates() != nullptr);

  auto r = khz::testing::perform_request(engine, "GET", "/hello/%3Cann%3E");
  CHECK(r.status() == 201);
  CHECK(r.header("Content-Type") == "text/html; charset=utf-8");
  CHECK(r.body() == "<p>Hello, &lt;ann&gt;!</p>");

  for (const char* path : {"/missing", "/loop"}) {
    CAPTURE(path);
    r = khz::testing::perform_request(engine, "GET", path);
    CHECK(r.status() == 500);
    CHECK(r.body() == "500 internal server error");
    CHECK(r.header("Content-Type") == "text/plain; charset=utf-8");
  }

  r = khz::testing::perform_request(engine, "GET", "/raw");
  CHECK(r.status() == 200);
  CHECK(r.header("Content-Type") == "text/html; charset=utf-8");
  CHECK(r.body() == "<b>raw</b>");

  SECTION("a set shared by engines") {
    khz::Engine other;
    other.set_templates(std::make_shared<const Templates>(dir.path));
    other.get("/", [](khz::RequestContext& ctx) { ctx.html(200, "hello", H{{"name", "bo"}}); });
    CHECK(khz::testing::perform_request(other, "GET", "/").body() == "<p>Hello, bo!</p>");
  }
}

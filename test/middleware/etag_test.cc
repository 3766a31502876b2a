// SPDX-License-Identifier: Apache-2.0
#include <khz/app/server.h>
#include <khz/app/testing.h>
#include <khz/middleware/etag.h>

#include <catch2/catch.hpp>

#include "middleware/log_capture.h"
#include "support/raw_client.h"
#include "support/test_server.h"
#include "support/tls_support.h"

#include <chrono>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <string>

using khz::middleware::cache_control;
using khz::middleware::cache_control_value;
using khz::middleware::CacheControlOptions;
using khz::middleware::weak_etag;
using khz::test::run_command;
using khz::testing::perform_request;
using namespace std::chrono_literals;

namespace {

const std::string kBody = R"({"id":7,"name":"ann"})";

void user(khz::RequestContext& c) {
  c.set_header("Cache-Control", "private, no-cache");
  c.set_header("Vary", "Accept");
  c.data(200, "application/json", kBody);
}

void routes(khz::Engine& e) {
  e.get("/users/7", user);
  e.head("/users/7", user);
  e.post("/users/7", user);
  e.get("/empty", [](khz::RequestContext& c) { c.set_status(204); });
  e.get("/missing", [](khz::RequestContext& c) { c.string(404, "no such user"); });
  e.get("/boom", [](khz::RequestContext&) -> void { throw std::runtime_error("boom"); });
  e.get("/own", [](khz::RequestContext& c) {
    c.set_header("ETag", "\"v42\"");
    c.string(200, "versioned");
  });
  e.get("/stream", [](khz::RequestContext& c) -> khz::Task<> {
    c.set_status(200);
    const bool ok = co_await c.write("streamed");
    (void)ok;
  });
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("etag: a weak tag from the body, stable and length-prefixed") {
  const std::string tag = weak_etag(kBody);
  REQUIRE(std::regex_match(tag, std::regex(R"(W/"15-[0-9a-f]{16}")")));
  REQUIRE(weak_etag(kBody) == tag);
  REQUIRE(weak_etag(kBody + " ") != tag);
  REQUIRE(std::regex_match(weak_etag(""), std::regex(R"(W/"0-[0-9a-f]{16}")")));
}

TEST_CASE("etag: GET and HEAD are tagged; If-None-Match answers 304") {
  khz::Engine e;
  e.use(khz::middleware::etag());
  routes(e);
  const std::string tag = weak_etag(kBody);
  const std::string opaque = tag.substr(2);  // the same tag without W/: weakly equal

  auto r = perform_request(e, "GET", "/users/7");
  REQUIRE(r.status() == 200);
  REQUIRE(r.header("ETag") == tag);
  REQUIRE(r.body() == kBody);

  // Table: If-None-Match values (one field, or two), and whether they match (RFC 9110 §13.1.2).
  struct Case {
    std::vector<khz::testing::Header> headers;
    bool not_modified;
  };
  const std::vector<Case> cases = {
      {{{"If-None-Match", tag}}, true},
      {{{"If-None-Match", opaque}}, true},                         // weak comparison: W/ ignored
      {{{"If-None-Match", "*"}}, true},
      {{{"If-None-Match", "\"a\", " + tag + " ,\"b\""}}, true},   // a list
      {{{"If-None-Match", "\"a\""}, {"If-None-Match", tag}}, true},  // the second field
      {{{"If-None-Match", "W/\"15-0000000000000000\""}}, false},
      {{{"If-None-Match", "\"unterminated"}}, false},              // malformed: no match
      {{{"If-None-Match", "W/" + tag}}, false},                    // not an entity tag
      {{{"If-Match", tag}}, false},                                // not If-None-Match
  };
  for (const Case& c : cases) {
    CAPTURE(c.headers[0].value);
    auto got = perform_request(e, "GET", "/users/7", c.headers);
    REQUIRE(got.status() == (c.not_modified ? 304 : 200));
    REQUIRE(got.header("ETag") == tag);
    if (c.not_modified) {
      REQUIRE(got.body().empty());
      REQUIRE(got.header("Content-Type").empty());
      REQUIRE(got.header("Cache-Control") == "private, no-cache");  // kept on a 304 (RFC 9110 §15.4.5)
      REQUIRE(got.header("Vary") == "Accept");
    } else {
      REQUIRE(got.body() == kBody);
    }
  }

  auto head = perform_request(e, "HEAD", "/users/7");
  REQUIRE(head.status() == 200);
  REQUIRE(head.header("ETag") == tag);
  REQUIRE(perform_request(e, "HEAD", "/users/7", {{"If-None-Match", tag}}).status() == 304);
}

TEST_CASE("etag: other methods, non-2xx, streamed, file bodies and own tags are left alone") {
  khz::Engine e;
  e.use(khz::middleware::etag());
  routes(e);
  const std::string tag = weak_etag(kBody);

  auto post = perform_request(e, "POST", "/users/7", {{"If-None-Match", "*"}});
  REQUIRE(post.status() == 200);
  REQUIRE(post.header("ETag").empty());

  auto missing = perform_request(e, "GET", "/missing", {{"If-None-Match", "*"}});
  REQUIRE(missing.status() == 404);
  REQUIRE(missing.header("ETag").empty());
  {
    khz::test::LogCapture log;
    auto boom = perform_request(e, "GET", "/boom", {{"If-None-Match", "*"}});
    REQUIRE(boom.status() == 500);
    REQUIRE(boom.header("ETag").empty());
  }
  auto stream = perform_request(e, "GET", "/stream", {{"If-None-Match", "*"}});
  REQUIRE(stream.status() == 200);
  REQUIRE(stream.body() == "streamed");
  REQUIRE(stream.header("ETag").empty());

  auto own = perform_request(e, "GET", "/own", {{"If-None-Match", weak_etag("versioned")}});
  REQUIRE(own.status() == 200);
  REQUIRE(own.header("ETag") == "\"v42\"");

  // A file body keeps the file's own validator (a strong one from stat).
  const std::string path = khz::test::TestPki::get().dir + "/etag-file.txt";
  std::ofstream(path) << "file contents";
  e.get("/file", [path](khz::RequestContext& c) { c.file(path); });
  auto file = perform_request(e, "GET", "/file");
  REQUIRE(file.status() == 200);
  REQUIRE(file.body() == "file contents");
  REQUIRE_FALSE(file.header("ETag").empty());
  REQUIRE(file.header("ETag") != weak_etag("file contents"));
  REQUIRE_FALSE(file.header("ETag").starts_with("W/"));
}

TEST_CASE("cache_control: the header value from options") {
  REQUIRE(cache_control_value({.is_public = true, .max_age = 1h}) == "public, max-age=3600");
  REQUIRE(cache_control_value({.is_private = true, .no_cache = true}) == "private, no-cache");
  REQUIRE(cache_control_value({.no_store = true}) == "no-store");
  REQUIRE(cache_control_value({.is_public = true, .max_age = 31536000s, .immutable = true}) ==
          "public, max-age=31536000, immutable");
  REQUIRE(cache_control_value({.max_age = 60s, .s_maxage = 600s, .must_revalidate = true, .proxy_revalidate = true,
                               .no_transform = true, .stale_while_revalidate = 30s, .stale_if_error = 86400s}) ==
          "max-age=60, s-maxage=600, must-revalidate, proxy-revalidate, no-transform, stale-while-revalidate=30, "
          "stale-if-error=86400");
  REQUIRE_THROWS_AS(cache_control_value({}), std::invalid_argument);
  REQUIRE_THROWS_AS(cache_control_value({.is_public = true, .is_private = true}), std::invalid_argument);
  REQUIRE_THROWS_AS(cache_control_value({.max_age = -1s}), std::invalid_argument);
  REQUIRE_THROWS_AS(cache_control({}), std::invalid_argument);
}

TEST_CASE("cache_control: per route group; a handler's own wins; errors are not cached") {
  khz::Engine e;
  auto cat = e.group("/catalogue", cache_control({.is_public = true, .max_age = 1h}));
  cat.get("/items", [](khz::RequestContext& c) { c.string(200, "items"); });
  cat.get("/live", [](khz::RequestContext& c) {
    c.set_header("Cache-Control", "no-store");
    c.string(200, "live");
  });
  cat.get("/gone", [](khz::RequestContext& c) { c.string(404, "gone"); });
  e.get("/other", [](khz::RequestContext& c) { c.string(200, "other"); });
  REQUIRE(perform_request(e, "GET", "/catalogue/items").header("Cache-Control") == "public, max-age=3600");
  REQUIRE(perform_request(e, "GET", "/catalogue/live").header("Cache-Control") == "no-store");
  REQUIRE(perform_request(e, "GET", "/catalogue/gone").header("Cache-Control").empty());
  REQUIRE(perform_request(e, "GET", "/other").header("Cache-Control").empty());
}

TEST_CASE("etag on the wire: 304 to curl over HTTP/1.1 and h2c, both transports") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer s(transport);
      s.server.use(khz::middleware::etag());
      routes(s.server);
      s.start();
      const std::string tag = weak_etag(kBody);
      for (const std::string version : {"--http1.1", "--http2-prior-knowledge"}) {
        CAPTURE(version);
        const auto full = run_command("curl -sS -i --max-time 10 " + version + " " + s.url("/users/7"));
        CAPTURE(full.output);
        REQUIRE(contains(full.output, " 200"));
        REQUIRE((contains(full.output, "ETag: " + tag) || contains(full.output, "etag: " + tag)));
        REQUIRE(contains(full.output, kBody));
        const auto again = run_command("curl -sS -i --max-time 10 " + version + " -H 'If-None-Match: " + tag + "' " +
                                       s.url("/users/7"));
        CAPTURE(again.output);
        REQUIRE(contains(again.output, " 304"));
        REQUIRE_FALSE(contains(again.output, kBody));
      }
    }
  }
}

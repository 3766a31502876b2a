// SPDX-License-Identifier: Apache-2.0
#include <khz/app/client.h>
#include <khz/app/testing.h>
#include <khz/middleware/recovery.h>
#include <khz/middleware/request_id.h>

#include <catch2/catch.hpp>

#include "support/test_server.h"

#include <algorithm>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using khz::testing::perform_request;

namespace {

bool is_uuid_v4(std::string_view s) {
  static const std::regex uuid("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  return std::regex_match(std::string(s), uuid);
}

void echo_id(khz::RequestContext& c) { c.string(200, khz::middleware::request_id_of(c)); }

}  // namespace

TEST_CASE("request_id: made when absent, kept when valid, replaced when not") {
  khz::Engine e;
  e.use(khz::middleware::request_id());
  e.get("/", echo_id);

  SECTION("absent: a fresh random UUID, on the response and to the handler") {
    std::set<std::string> seen;
    for (int i = 0; i < 100; ++i) {
      auto r = perform_request(e, "GET", "/");
      REQUIRE(is_uuid_v4(r.header("X-Request-ID")));
      REQUIRE(r.body() == r.header("X-Request-ID"));
      seen.emplace(r.body());
    }
    REQUIRE(seen.size() == 100);
  }
  SECTION("every random digit takes all 16 values, independently of the others") {
    // 122 random bits: every hex position but the version (14) and the variant (19, 8-b).
    // Over 2,000 ids a digit missing a value by chance has odds under 1e-50, and two random
    // positions equal in every id under 1e-1800: a mapping that drops a nibble, or writes one
    // part of the draw twice, fails one of the two checks.
    std::vector<std::string> ids;
    std::vector<std::set<char>> digits(36);
    for (int i = 0; i < 2000; ++i) {
      ids.emplace_back(perform_request(e, "GET", "/").header("X-Request-ID"));
      REQUIRE(is_uuid_v4(ids.back()));
      for (std::size_t k = 0; k < 36; ++k) digits[k].insert(ids.back()[k]);
    }
    std::vector<std::size_t> random;
    for (std::size_t k = 0; k < 36; ++k) {
      INFO("position " << k);
      if (k == 8 || k == 13 || k == 18 || k == 23) {
        REQUIRE(digits[k] == std::set<char>{'-'});
      } else if (k == 14) {
        REQUIRE(digits[k] == std::set<char>{'4'});
      } else if (k == 19) {
        REQUIRE(digits[k] == std::set<char>{'8', '9', 'a', 'b'});
      } else {
        REQUIRE(digits[k].size() == 16);
        random.push_back(k);
      }
    }
    for (std::size_t a = 0; a < random.size(); ++a) {
      for (std::size_t b = a + 1; b < random.size(); ++b) {
        const auto same = std::count_if(ids.begin(), ids.end(), [&](const std::string& id) {
          return id[random[a]] == id[random[b]];
        });
        INFO("positions " << random[a] << " and " << random[b]);
        REQUIRE(same < 2000);
      }
    }
  }
  SECTION("a valid incoming id is kept") {
    for (const char* id : {"abc", "7f3a-9c1e", "trace:1/2+3=4@x_y.z", "x-request-id-of-128"}) {
      auto r = perform_request(e, "GET", "/", {{"x-request-id", id}});
      REQUIRE(r.header("X-Request-ID") == id);
      REQUIRE(r.body() == id);
    }
    std::string longest(128, 'a');
    REQUIRE(perform_request(e, "GET", "/", {{"X-Request-ID", longest}}).header("X-Request-ID") == longest);
  }
  SECTION("invalid, too long or repeated: replaced by a fresh one") {
    const std::string too_long(129, 'a');
    for (std::string bad : {std::string("has space"), std::string("a,b"), std::string("quote\""), std::string("<script>"),
                            std::string("caf\xc3\xa9"), too_long}) {
      CAPTURE(bad);
      auto r = perform_request(e, "GET", "/", {{"X-Request-ID", bad}});
      REQUIRE(is_uuid_v4(r.header("X-Request-ID")));
    }
    auto twice = perform_request(e, "GET", "/", {{"X-Request-ID", "one"}, {"X-Request-ID", "two"}});
    REQUIRE(is_uuid_v4(twice.header("X-Request-ID")));
  }
}

TEST_CASE("request_id: options") {
  SECTION("another header, no incoming ids, a generator") {
    khz::Engine e;
    int n = 0;
    e.use(khz::middleware::request_id({.header = "X-Trace", .accept_incoming = false,
                                       .generate = [&n] { return std::string("t").append(std::to_string(++n)); }}));
    e.get("/", [](khz::RequestContext& c) { c.string(200, c.response().header("X-Trace")); });
    auto r = perform_request(e, "GET", "/", {{"X-Trace", "client-chosen"}});
    REQUIRE(r.header("X-Trace") == "t1");
    REQUIRE(r.body() == "t1");
    REQUIRE_FALSE(r.headers().contains("X-Request-ID"));
  }
  SECTION("max_length") {
    khz::Engine e;
    e.use(khz::middleware::request_id({.max_length = 4}));
    e.get("/", echo_id);
    REQUIRE(perform_request(e, "GET", "/", {{"X-Request-ID", "abcd"}}).body() == "abcd");
    REQUIRE(perform_request(e, "GET", "/", {{"X-Request-ID", "abcde"}}).body() != "abcde");
  }
  SECTION("bad setup") {
    REQUIRE_THROWS_AS(khz::middleware::request_id({.header = ""}), std::invalid_argument);
    REQUIRE_THROWS_AS(khz::middleware::request_id({.max_length = 0}), std::invalid_argument);
  }
}

TEST_CASE("request_id: on the 500 of a thrown exception, from recovery or the Engine") {
  for (bool with_recovery : {true, false}) {
    CAPTURE(with_recovery);
    khz::Engine e;
    e.use(khz::middleware::request_id());
    if (with_recovery) e.use(khz::middleware::recovery({.stack_trace = false}));
    e.get("/", [](khz::RequestContext&) { throw std::runtime_error("no"); });
    auto r = perform_request(e, "GET", "/", {{"X-Request-ID", "keep-me"}});
    REQUIRE(r.status() == 500);
    REQUIRE(r.header("X-Request-ID") == "keep-me");
  }
}

namespace {

// Awaited by the handler: the ambient fields ride down the chain of awaits.
khz::Task<khz::Result<khz::Response>> fetch_nested(khz::Client& client, std::string url) {
  co_return co_await client.get(std::move(url));
}

}  // namespace

TEST_CASE("request_id: carried to the client calls made in the handler") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("upstream on " << transport) {
      khz::test::TestServer upstream(transport);
      upstream.server.get("/seen", [](khz::RequestContext& c) {
        std::string out(c.header("X-Request-ID"));
        out.append("|").append(std::to_string(c.request().headers().count("X-Request-ID")));
        c.string(200, out);
      });
      upstream.start();
      khz::Client client;
      khz::Engine e;
      e.use(khz::middleware::request_id());
      e.get("/direct", [&](khz::RequestContext& c) -> khz::Task<> {
        auto r = co_await client.get(upstream.url("/seen"));
        c.string(200, r ? std::string(r->body()) : r.error().message());
      });
      e.get("/nested", [&](khz::RequestContext& c) -> khz::Task<> {
        auto r = co_await fetch_nested(client, upstream.url("/seen"));
        c.string(200, r ? std::string(r->body()) : r.error().message());
      });
      e.get("/own", [&](khz::RequestContext& c) -> khz::Task<> {
        khz::ClientRequest req{.url = upstream.url("/seen")};
        req.headers.set("x-request-id", "chosen-by-the-handler");
        auto r = co_await client.send(std::move(req));
        c.string(200, r ? std::string(r->body()) : r.error().message());
      });
      REQUIRE(perform_request(e, "GET", "/direct", {{"X-Request-ID", "abc-1"}}).body() == "abc-1|1");
      REQUIRE(perform_request(e, "GET", "/nested", {{"X-Request-ID", "abc-2"}}).body() == "abc-2|1");
      REQUIRE(perform_request(e, "GET", "/own", {{"X-Request-ID", "abc-3"}}).body() == "chosen-by-the-handler|1");
      // A generated id goes out too; and the next request's call does not carry the last one's.
      auto made = perform_request(e, "GET", "/direct");
      REQUIRE(made.body() == std::string(made.header("X-Request-ID")) + "|1");

      khz::Engine quiet;
      quiet.use(khz::middleware::request_id({.propagate = false}));
      quiet.get("/direct", [&](khz::RequestContext& c) -> khz::Task<> {
        auto r = co_await client.get(upstream.url("/seen"));
        c.string(200, r ? std::string(r->body()) : r.error().message());
      });
      REQUIRE(perform_request(quiet, "GET", "/direct", {{"X-Request-ID", "abc-4"}}).body() == "|0");
    }
  }
}

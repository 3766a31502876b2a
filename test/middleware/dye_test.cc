// SPDX-License-Identifier: Apache-2.0
// khz::middleware::dye: header, cookie and percentage rules set a baggage entry on the request;
// incoming entries for the dye keys are stripped; the entry reaches an upstream through the
// khz client (outbound header) and, after the tracing middleware, through the span's baggage.
#include <khz/app/client.h>
#include <khz/app/engine.h>
#include <khz/app/testing.h>
#include <khz/middleware/dye.h>
#include <khz/middleware/tracing.h>

#include <catch2/catch.hpp>

#include "support/test_server.h"

#include <stdexcept>
#include <string>

using khz::middleware::dye;
using khz::testing::perform_request;

namespace {

// An engine whose handler answers the request's baggage field as it saw it.
void echo_baggage(khz::Engine& e) {
  e.get("/", [](khz::RequestContext& ctx) { ctx.string(200, std::string(ctx.header("baggage"))); });
}

}  // namespace

TEST_CASE("dye: a header value, a cookie, or none") {
  khz::Engine e;
  e.use(dye({.rules = {{.header = "uid", .values = {"100", "101"}, .key = "env", .value = "dev"},
                       {.cookie = "beta", .key = "env", .value = "beta"}}}));
  echo_baggage(e);
  REQUIRE(perform_request(e, "GET", "/", {{"uid", "100"}}).body() == "env=dev");
  REQUIRE(perform_request(e, "GET", "/", {{"uid", "101"}}).body() == "env=dev");
  REQUIRE(perform_request(e, "GET", "/", {{"uid", "7"}}).body() == "");
  REQUIRE(perform_request(e, "GET", "/").body() == "");
  REQUIRE(perform_request(e, "GET", "/", {{"Cookie", "a=1; beta=yes"}}).body() == "env=beta");
  REQUIRE(perform_request(e, "GET", "/", {{"Cookie", "beta="}}).body() == "");
  // The first rule that holds wins; other baggage members are kept.
  REQUIRE(perform_request(e, "GET", "/", {{"uid", "100"}, {"Cookie", "beta=1"}, {"baggage", "tenant=acme"}}).body() ==
          "tenant=acme,env=dev");
}

TEST_CASE("dye: incoming entries for the dye keys are stripped unless trusted") {
  khz::Engine strict;
  strict.use(dye({.rules = {{.header = "uid", .values = {"100"}}}}));
  echo_baggage(strict);
  REQUIRE(perform_request(strict, "GET", "/", {{"baggage", "env=dev"}}).body() == "");
  REQUIRE(perform_request(strict, "GET", "/", {{"baggage", "env=dev,tenant=acme"}}).body() == "tenant=acme");
  REQUIRE(perform_request(strict, "GET", "/", {{"baggage", "env=prod"}, {"uid", "100"}}).body() == "env=dev");
  khz::Engine trusting;
  trusting.use(dye({.rules = {{.header = "uid", .values = {"100"}}}, .strip_incoming = false}));
  echo_baggage(trusting);
  REQUIRE(perform_request(trusting, "GET", "/", {{"baggage", "env=dev"}}).body() == "env=dev");
}

TEST_CASE("dye: a percentage, sticky by a header's value or random") {
  khz::Engine e;
  e.use(dye({.rules = {{.header = "uid", .percent = 10, .key = "lane", .value = "canary"}}}));
  echo_baggage(e);
  int dyed = 0;
  for (int uid = 0; uid < 4000; ++uid) {
    const std::string id = std::to_string(uid);
    const bool in = perform_request(e, "GET", "/", {{"uid", id}}).body() == "lane=canary";
    dyed += in;
    if (uid % 500 == 0) REQUIRE((perform_request(e, "GET", "/", {{"uid", id}}).body() == "lane=canary") == in);
  }
  REQUIRE(dyed > 4000 * 7 / 100);  // 10% within 3 points
  REQUIRE(dyed < 4000 * 13 / 100);
  khz::Engine random;
  random.use(dye({.rules = {{.percent = 50}}}));
  echo_baggage(random);
  int hits = 0;
  for (int i = 0; i < 2000; ++i) hits += perform_request(random, "GET", "/").body() == "env=dev";
  REQUIRE(hits > 850);
  REQUIRE(hits < 1150);
  REQUIRE_THROWS_AS(dye({.rules = {{.percent = 101}}}), std::invalid_argument);
  REQUIRE_THROWS_AS(dye({.rules = {{.header = "uid", .key = ""}}}), std::invalid_argument);
}

TEST_CASE("dye: the entry travels on the handler's client calls, with and without tracing") {
  khz::test::TestServer upstream(khz::test::transports().front());
  upstream.server.get("/next", [](khz::RequestContext& ctx) { ctx.string(200, std::string(ctx.header("baggage"))); });
  upstream.start();
  for (bool traced : {false, true}) {
    DYNAMIC_SECTION("traced " << traced) {
      khz::test::TestServer entry(khz::test::transports().front());
      khz::Client client({.proxy_from_environment = false});
      // Traced: the span's baggage alone carries it (no outbound header), so both paths are seen.
      entry.server.use(dye({.rules = {{.header = "uid", .values = {"100"}}}, .propagate = !traced}));
      if (traced) entry.server.use(khz::middleware::tracing(khz::tracing::TracingOptions{}));
      const std::string next = upstream.url("/next");
      entry.server.get("/", [&client, next](khz::RequestContext& ctx) -> khz::Task<> {
        auto r = co_await client.get(next);
        ctx.string(200, r ? std::string(r->body()) : "error");
      });
      entry.start();
      khz::BlockingClient c({.proxy_from_environment = false});
      khz::ClientRequest dyed;
      dyed.url = entry.url("/");
      dyed.headers.set("uid", "100");
      REQUIRE(c.send(std::move(dyed))->body() == "env=dev");
      REQUIRE(c.get(entry.url("/"))->body() == "");
      entry.server.shutdown();
    }
  }
}

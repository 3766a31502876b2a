// SPDX-License-Identifier: Apache-2.0
// Deadline propagation: the client sends the time it still waits (ClientOptions::deadline_header);
// khz::middleware::deadline turns it into the handler's deadline and carries it on to the calls
// the handler makes; a chain gives up together.
#include <khz/app/client.h>
#include <khz/app/server.h>
#include <khz/common/event_loop.h>
#include <khz/middleware/deadline.h>

#include <catch2/catch.hpp>

#include "support/test_server.h"

#include <chrono>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;

TEST_CASE("deadline: the client sends the time left; none without a deadline") {
  khz::test::TestServer s(khz::test::transports().front());
  s.server.get("/h", [](khz::RequestContext& ctx) { ctx.string(200, std::string(ctx.header("X-Khz-Timeout-Ms"))); });
  s.start();
  khz::BlockingClient timed({.total_timeout = 2s, .proxy_from_environment = false, .deadline_header = "X-Khz-Timeout-Ms"});
  const int ms = std::stoi(std::string(timed.get(s.url("/h"))->body()));
  REQUIRE(ms > 1000);
  REQUIRE(ms <= 2000);
  khz::ClientRequest shorter;  // the request's own timeout wins over the client's
  shorter.url = s.url("/h");
  shorter.timeout = 300ms;
  REQUIRE(std::stoi(std::string(timed.send(std::move(shorter))->body())) <= 300);
  khz::ClientRequest carried;  // a smaller value the request carries already stays
  carried.url = s.url("/h");
  carried.headers.set("X-Khz-Timeout-Ms", "40");
  REQUIRE(timed.send(std::move(carried))->body() == "40");
  khz::BlockingClient untimed({.proxy_from_environment = false, .deadline_header = "X-Khz-Timeout-Ms"});
  REQUIRE(untimed.get(s.url("/h"))->body() == "");
  khz::BlockingClient off({.total_timeout = 2s, .proxy_from_environment = false});
  REQUIRE(off.get(s.url("/h"))->body() == "");
}

TEST_CASE("deadline: the callee runs under the caller's deadline and passes it on") {
  // B: slow, reports the deadline it was given.
  khz::test::TestServer b(khz::test::transports().front());
  std::atomic<int> b_saw{0};
  b.server.get("/slow", [&](khz::RequestContext& ctx) -> khz::Task<> {
    b_saw = std::stoi(std::string(ctx.header("X-Khz-Timeout-Ms")));
    co_await khz::sleep_for(1500ms);
    ctx.string(200, "late");
  });
  b.start();
  // A: the deadline middleware; its handler calls B with a client of no timeout of its own.
  khz::test::TestServer a(khz::test::transports().front());
  khz::Client client({.proxy_from_environment = false, .deadline_header = "X-Khz-Timeout-Ms"});
  a.server.use(khz::middleware::deadline({.max = 5s}));
  const std::string slow = b.url("/slow");
  a.server.get("/call", [&client, slow](khz::RequestContext& ctx) -> khz::Task<> {
    auto r = co_await client.get(slow);
    ctx.string(r ? 200 : 502, r ? std::string(r->body()) : r.error().message());
  });
  a.server.get("/fast", [](khz::RequestContext& ctx) { ctx.string(200, "fast"); });
  a.server.get("/busy", [](khz::RequestContext& ctx) -> khz::Task<> {
    co_await khz::sleep_for(400ms);  // a wait nothing cancels: the server itself is slow
    ctx.string(200, "busy");
  });
  a.start();
  khz::BlockingClient caller({.proxy_from_environment = false});
  auto call = [&](const std::string& path, const char* deadline) {
    khz::ClientRequest req;
    req.url = a.url(path);
    if (deadline != nullptr) req.headers.set("X-Khz-Timeout-Ms", deadline);
    return caller.send(std::move(req));
  };
  const auto start = std::chrono::steady_clock::now();
  auto r = call("/call", "250");
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(r);
  REQUIRE(r->status() == 504);  // A gave up on B at the caller's deadline
  REQUIRE(took < 1200ms);       // not B's 1.5 s
  REQUIRE(b_saw > 0);
  REQUIRE(b_saw <= 250);        // B was told
  REQUIRE(call("/fast", "250")->status() == 200);
  REQUIRE(call("/busy", "100")->status() == 503);  // nothing upstream waited: the server was slow
  REQUIRE(call("/busy", nullptr)->status() == 200);   // no header: no deadline
  REQUIRE(call("/busy", "abc")->status() == 200);     // a bad one is ignored
  REQUIRE(call("/busy", "99999999999999999999")->status() == 200);
  REQUIRE_THROWS_AS(khz::middleware::deadline({.header = ""}), std::invalid_argument);
  a.server.shutdown();
}

// SPDX-License-Identifier: Apache-2.0
// RequestContext::after_response: hooks that run once the response is final.
#include <khz/app/testing.h>
#include <khz/common/event_loop.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using khz::testing::perform_request;

namespace {

struct Seen {
  std::vector<std::string> order;
  khz::CompletedResponse last;
  std::string route;
  std::string request_header;
};

void record(khz::RequestContext& ctx, const khz::CompletedResponse& done, void* data) {
  auto* seen = static_cast<Seen*>(data);
  seen->order.push_back("outer");
  seen->last = done;
  seen->route = std::string(ctx.full_path());
  seen->request_header = std::string(ctx.header("X-Probe"));
}

void record_inner(khz::RequestContext&, const khz::CompletedResponse&, void* data) {
  static_cast<Seen*>(data)->order.push_back("inner");
}

}  // namespace

TEST_CASE("after_response hooks see the final status, bytes and time, innermost first") {
  khz::Engine e;
  Seen seen;
  e.use([&seen](khz::RequestContext& c) { c.after_response(&record, &seen); });
  e.use([&seen](khz::RequestContext& c) { c.after_response(&record_inner, &seen); });
  e.get("/items/:id", [](khz::RequestContext& c) -> khz::Task<> {
    co_await khz::sleep_for(5ms);
    c.string(201, "twelve bytes");
  });
  e.get("/throws", [](khz::RequestContext& c) {
    c.string(200, "never sent");
    throw std::runtime_error("bad");
  });
  e.get("/stream", [](khz::RequestContext& c) -> khz::Task<> {
    bool ok = co_await c.write("abc");
    if (ok) ok = co_await c.write("defg");
    (void)ok;
  });

  const auto before = std::chrono::steady_clock::now();
  auto r = perform_request(e, "GET", "/items/1", {{"X-Probe", "p"}});
  const auto wall = std::chrono::steady_clock::now() - before;
  REQUIRE(r.status() == 201);
  REQUIRE(seen.order == std::vector<std::string>{"inner", "outer"});
  REQUIRE(seen.last.status == 201);
  REQUIRE(seen.last.body_bytes == 12);
  REQUIRE_FALSE(seen.last.streamed);
  REQUIRE_FALSE(seen.last.threw);
  REQUIRE(seen.last.elapsed >= 5ms);
  REQUIRE(seen.last.elapsed <= wall);  // in nanoseconds, not clock ticks
  REQUIRE(seen.route == "/items/:id");
  REQUIRE(seen.request_header == "p");

  seen = {};
  auto t = perform_request(e, "GET", "/throws");
  REQUIRE(t.status() == 500);
  REQUIRE(seen.last.status == 500);  // the Engine's answer, not the handler's 200
  REQUIRE(seen.last.threw);
  REQUIRE(seen.last.body_bytes == t.body().size());

  seen = {};
  auto s = perform_request(e, "GET", "/stream");
  REQUIRE(s.body() == "abcdefg");
  REQUIRE(seen.last.streamed);
  REQUIRE(seen.last.body_bytes == 7);

  seen = {};
  auto missing = perform_request(e, "GET", "/nowhere");
  REQUIRE(missing.status() == 404);
  REQUIRE(seen.last.status == 404);  // the engine's middleware run for NoRoute too
}

TEST_CASE("after_response: a hook that throws is logged and the next still runs; hooks reset per request") {
  khz::Engine e;
  Seen seen;
  int calls = 0;
  e.use([&](khz::RequestContext& c) {
    c.after_response(&record, &seen);
    if (c.query("bad") == "1") {
      c.after_response([](khz::RequestContext&, const khz::CompletedResponse&, void*) { throw std::runtime_error("x"); },
                       nullptr);
    }
    ++calls;
  });
  e.get("/", [](khz::RequestContext& c) { c.string(200, "ok"); });
  REQUIRE(perform_request(e, "GET", "/?bad=1").status() == 200);
  REQUIRE(seen.order.size() == 1);
  REQUIRE(perform_request(e, "GET", "/").status() == 200);
  REQUIRE(seen.order.size() == 2);  // one hook per request: the list does not carry over
  REQUIRE(calls == 2);
}
